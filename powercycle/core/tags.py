"""What powercycle writes on a resource: every `powercycle:*` tag, in one place.

A resource's memory lives in its own tags (the process keeps none, so a cold Lambda knows
what a warm one knew). This module is the only one that spells those tags or reads and
writes their values; the rest of the house asks it:

| tag                           | value                                   | written by        |
|-------------------------------|-----------------------------------------|-------------------|
| `powercycle:state`            | `start@2026-11-23T08:00:00Z`, last event | every kind        |
| `powercycle:skip-until`       | `2026-11-30T08:00:00Z`, a snooze         | `powercycle snooze` |
| `powercycle:attempts`         | `start@<event>/<n>`, an accepted action  | every kind        |
| `powercycle:notice`           | the stop a warning was published for     | notices           |
| `powercycle:type`             | an instance's own type, on a fallback    | ec2               |
| `powercycle:capacity`         | `min/desired/max` of a stopped group     | asg, ecs          |
| `powercycle:nodegroups[:n]`   | `ng=min/desired/max ...` in parts        | eks (node groups) |
| `powercycle:operation`        | `hibernate@<accepted>/<operation id>`    | eks (CAST AI)     |
| `powercycle:seal:<memory>`    | `<parts>:<mac>`, the seal of a memory    | asg, ec2, eks     |

Memories (`capacity`, `nodegroups` with its parts, `type`: what powercycle gives back
later) are sealed: the companion tag `powercycle:seal:capacity` (`:type`, `:nodegroups`,
named by `seal_tag`) holds an HMAC over the resource's ARN, the memory's key, its part
count and every part's value (`core.seal`: `sealed` writes a memory with its seal,
`unsealed` gives its values back only when every part is there and the seal checks): a
tag anyone can write is a request, never a grant.

Every value written here is tag-safe (`tag_safe`): letters, digits, spaces and `_ . : / =
+ - @` only, the set RDS documents (`^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$`) and ECS and
tagging policies impose: no JSON, no `,`. Older forms (node-group sizes as JSON) are still
read, never written; a seal covers the value as written, so an old memory still checks.
The node-group sizes (`Sizes`, `encode_sizes`, `remembered_sizes`) are coded in
`core.tags_sizes`, which takes the part keys from here.

`read_marks` turns the tags of one resource into `Marks`, once per pass, at discovery: the
decision, verification and notices read the record, never the raw tags. A value that cannot
be read is the resource's `problem` (its bad-tag error), never silently ignored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from powercycle.core.schedule import Event

PREFIX = "powercycle:"
STATE = "powercycle:state"
SKIP_UNTIL = "powercycle:skip-until"
ATTEMPTS = "powercycle:attempts"
NOTICE = "powercycle:notice"
TYPE = "powercycle:type"
CAPACITY = "powercycle:capacity"
NODEGROUPS = "powercycle:nodegroups"
OPERATION = "powercycle:operation"
SEAL_PREFIX = "powercycle:seal:"
# The largest size a memory may hold: anything above is refused before any call.
MAX_SIZE = 10_000

STATE_FORMAT = "<start|stop>@<UTC time, e.g. 2026-11-23T18:00:00Z>"
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# Besides letters (L), separators (Z) and numbers (N): what RDS and ECS take in a tag value.
TAG_SAFE_MARKS = frozenset("_.:/=+-@")


def tag_safe(value: str) -> bool:
    """Whether every AWS service takes `value` in a tag (RDS's pattern: letters, separators,
    numbers and `_ . : / = + - @`)."""
    return all(c in TAG_SAFE_MARKS or unicodedata.category(c)[0] in "LZN" for c in value)


class TagError(ValueError):
    """A `powercycle:*` value that cannot be read; the message names the tag and value."""


# Kept for the name callers know: a state or skip-until value that cannot be read.
StateTagError = TagError


def quote(value: str, limit: int = 80) -> str:
    """A tag value for an error message: quoted, and cut short when it is long."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def parse_utc(text: str, *, what: str, value: str) -> datetime:
    """An ISO-8601 time with a zone (`Z` or an offset), as an aware datetime in UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            raise TagError(f"{what} {quote(value)} has no time zone (end it with Z)")
        # 9999-12-31T23:59:59-23:59 is a valid ISO time that no datetime can hold in UTC.
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, TagError):
            raise
        raise TagError(f"{what} {quote(value)} is not an ISO-8601 time") from exc


# --- powercycle:state ------------------------------------------------------------------


def parse_state(value: str | None, *, now: datetime | None = None) -> Event | None:
    """Read a `powercycle:state` value (`start@2026-11-23T08:00:00Z`).

    With `now`, a state in the future is refused: it would silently disable the schedule
    until then (nothing the scheduler writes is ever ahead of the pass that writes it).
    """
    if value is None or not value.strip():
        return None
    action, sep, when = value.strip().partition("@")
    if not sep or action not in ("start", "stop"):
        raise TagError(f"state tag {quote(value)} is not {STATE_FORMAT}")
    moment = parse_utc(when, what="state tag", value=value)
    if now is not None and moment > now:
        raise TagError(f"state tag {quote(value)} is in the future")
    return Event(moment, action)  # type: ignore[arg-type]


# --- powercycle:attempts ---------------------------------------------------------------

_ATTEMPTS = re.compile(r"(start|stop)@(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)/([1-9]\d{0,3})", re.ASCII)


@dataclass(frozen=True)
class Attempts:
    """A `powercycle:attempts` value: the event (a state tag value) and the attempts so far."""

    event: str
    count: int

    @property
    def action(self) -> str:
        return self.event.partition("@")[0]

    @property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.event.partition("@")[2])

    def value(self) -> str:
        return f"{self.event}/{self.count}"

    @classmethod
    def parse(cls, raw: str | None) -> Attempts | None:
        """None for a value powercycle did not write (it is then ignored)."""
        match = _ATTEMPTS.fullmatch((raw or "").strip())
        if match is None:
            return None
        try:
            datetime.fromisoformat(match.group(2))
        except ValueError:  # 2026-13-45T...
            return None
        return cls(f"{match.group(1)}@{match.group(2)}", int(match.group(3)))

    @classmethod
    def after(cls, tags: Mapping[str, str], event: str) -> Attempts:
        """The attempt an accepted action for `event` is: one more than the tag says."""
        previous = cls.parse(tags.get(ATTEMPTS))
        count = previous.count + 1 if previous is not None and previous.event == event else 1
        return cls(event, count)


# --- powercycle:capacity ---------------------------------------------------------------


_SIZE = re.compile(r"[0-9]{1,6}", re.ASCII)
_ABSENT = "-"


@dataclass(frozen=True)
class Capacity:
    """The sizes to give back: what `powercycle:capacity` remembers, `min/desired/max`.

    Tag-safe (ECS and RDS tags take no comma): `/` between the sizes, `-` for a minimum or
    maximum the resource has none of (an ECS service without a scaling target: `-/2/-`).
    The older `min,desired,max` is still read: a sealed value is verified as written.
    """

    min: int | None
    desired: int
    max: int | None

    def tag_value(self) -> str:
        return "/".join(
            _ABSENT if v is None else str(v) for v in (self.min, self.desired, self.max)
        )

    def sizes(self) -> tuple[int, int, int]:
        """(min, desired, max) of a resource that has all three (an Auto Scaling group)."""
        if self.min is None or self.max is None:
            raise TagError(
                f"{CAPACITY} {self.tag_value()!r} has no min or max: min/desired/max needed"
            )
        return self.min, self.desired, self.max

    @classmethod
    def parse(cls, value: str) -> Capacity:
        text = value.strip()
        parts = [p.strip() for p in text.split("/" if "/" in text else ",")]
        shape = len(parts) == 3 and _SIZE.fullmatch(parts[1]) is not None
        if not shape or not all(p == _ABSENT or _SIZE.fullmatch(p) for p in parts[::2]):
            raise TagError(
                f"{CAPACITY} {value[:40]!r} is not min/desired/max (whole numbers 0-{MAX_SIZE}, "
                "- for no min or max)"
            )
        low, high = (None if p == _ABSENT else int(p) for p in parts[::2])
        desired = int(parts[1])
        if max(v for v in (low, desired, high) if v is not None) > MAX_SIZE:
            raise TagError(f"{CAPACITY} {value[:40]!r}: sizes above {MAX_SIZE} are refused")
        ordered = [v for v in (low, desired, high) if v is not None]
        if ordered != sorted(ordered):
            raise TagError(f"{CAPACITY} {value[:40]!r} does not hold min <= desired <= max")
        return cls(low, desired, high)


# --- powercycle:nodegroups, split over parts ---------------------------------------------

# The keys of the parts: `powercycle:nodegroups`, then `:2`, `:3`...; their values (the
# sizes of each node group) are read and written by `core.tags_sizes`.
_PART = re.compile(re.escape(NODEGROUPS) + r"(?::([2-9]|[1-9][0-9]+))?")


def nodegroups_part(number: int) -> str:
    return NODEGROUPS if number == 1 else f"{NODEGROUPS}:{number}"


def is_nodegroups_part(key: str) -> bool:
    return _PART.fullmatch(key) is not None


def part_number(key: str) -> int:
    """`powercycle:nodegroups:3` -> 3 (the first part has no number: 1)."""
    match = _PART.fullmatch(key)
    return int(match.group(1)) if match and match.group(1) else 1


# --- powercycle:operation --------------------------------------------------------------


# A CAST AI operation id as it may reach a URL path (it is escaped there too).
_OPERATION_ID = re.compile(r"[A-Za-z0-9-]{1,64}", re.ASCII)


@dataclass(frozen=True)
class OperationTag:
    """The value of `powercycle:operation`: which call, when it was accepted, its id."""

    action: str  # hibernate | resume ("" when the tag holds a bare id)
    accepted: datetime | None
    operation_id: str

    def value(self) -> str:
        when = self.accepted.strftime(UTC_FORMAT) if self.accepted else ""
        return f"{self.action}@{when}/{self.operation_id}"

    @classmethod
    def new(cls, action: str, operation_id: str, *, now: datetime) -> OperationTag:
        accepted = now.astimezone(UTC).replace(microsecond=0)
        return cls(action, accepted, operation_id)

    @classmethod
    def parse(cls, value: str) -> OperationTag | None:
        """None for a value that names no operation (the tag is then dropped)."""
        value = value.strip()
        if "@" not in value:
            return cls("", None, value) if _OPERATION_ID.fullmatch(value) else None
        action, _, rest = value.partition("@")
        when, _, operation_id = rest.partition("/")
        if not _OPERATION_ID.fullmatch(operation_id):
            return None  # it goes into a URL: nothing but an id
        try:
            accepted = datetime.strptime(when, UTC_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            accepted = None
        return cls(action, accepted, operation_id)


# --- seals ------------------------------------------------------------------------------

MEMORIES = (CAPACITY, NODEGROUPS, TYPE)


_INSTANCE_TYPE = re.compile(r"[a-z][a-z0-9-]*\.[a-z0-9]+", re.ASCII)


def is_instance_type(value: str) -> bool:
    """A `powercycle:type` value that names an instance type (`m5.large`)."""
    return _INSTANCE_TYPE.fullmatch(value) is not None


def seal_tag(memory: str) -> str:
    """`powercycle:capacity` -> `powercycle:seal:capacity`."""
    return SEAL_PREFIX + memory.removeprefix(PREFIX)


def is_memory(key: str) -> bool:
    """A tag holding (or sealing) something powercycle gives back later."""
    return key in (CAPACITY, TYPE) or is_nodegroups_part(key) or key.startswith(SEAL_PREFIX)


def memory_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The memories (and seals) among a resource's tags."""
    return {k: v for k, v in tags.items() if is_memory(k)}


# --- one resource's marks ----------------------------------------------------------------


@dataclass(frozen=True)
class Marks:
    """Every `powercycle:*` mark of one resource that the decision and notices read, read
    once at discovery. `problem` is set when one of them cannot be read: the resource then
    gets a bad-tag error and nothing is done to it."""

    state: Event | None = None
    skip_until: datetime | None = None
    attempts: Attempts | None = None
    notice: str | None = None
    problem: str | None = None


def read_marks(
    tags: Mapping[str, str],
    *,
    now: datetime | None,
    state_tag: str = STATE,
    skip_until_tag: str = SKIP_UNTIL,
) -> Marks:
    """The marks of one resource's tags; a value that cannot be read is the `problem`."""
    attempts = Attempts.parse(tags.get(ATTEMPTS))
    notice = tags.get(NOTICE)
    try:
        state = parse_state(tags.get(state_tag), now=now)
        raw_skip = tags.get(skip_until_tag)
        skip = parse_utc(raw_skip, what=skip_until_tag, value=raw_skip) if raw_skip else None
    except TagError as exc:
        return Marks(attempts=attempts, notice=notice, problem=str(exc))
    return Marks(state=state, skip_until=skip, attempts=attempts, notice=notice)
