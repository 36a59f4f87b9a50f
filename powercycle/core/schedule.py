"""Schedule documents: parse, validate, and turn crons into events.

A schedule is the JSON object of the `ec2Powercycle` tag (or of the document it points
at): `start`/`stop` crons read in the schedule's zone `tz`, plus options. An *event* is one
firing of one of those crons, as an instant in UTC.

Time zones and DST. Crons are evaluated on local wall-clock time with croniter working on
naive datetimes (pure calendar arithmetic, no DST surprises), and every firing is then
mapped to an instant with zoneinfo:

* a wall time that does not exist (the hour skipped when clocks go forward) fires at the
  first minute after the gap: `30 1 * * *` in Europe/London fires at 02:00 BST that day;
* a wall time that happens twice (the hour repeated when clocks go back) fires once, at
  its first occurrence.

That mapping never goes backwards in time, so the latest event is found by walking a cron
backwards from `now` until the first firing at or before `now`.

Skip dates never make that walk long: a firing on a skipped day sends croniter straight to
the next day that both fires and is not skipped (found on the calendar of `cron.py`), so
evaluating any valid schedule at one instant costs milliseconds. Every loop is bounded.

Limits (each a clear error): 50 crons (start and stop together, after removing duplicates),
500 `skip` entries, dates in years 1970-2200, `maxRuntime` up to 365 days, `tz` a zone name
of at most 64 characters, a document nested at most 10 deep with at most 5,000 values.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from powercycle.core.cron import (
    CronError,
    SkipCalendar,
    compile_cron,
    fires_after,
    latest_fire,
    wall_to_instant,  # noqa: F401 (re-exported: callers and tests use it here)
)
from powercycle.core.document import ShapeError, check_shape, freeze, show, thaw

if TYPE_CHECKING:
    from powercycle.core.calendars import Holidays

Action = Literal["start", "stop"]

KNOWN_KEYS = (
    "start",
    "stop",
    "tz",
    "enforce",
    "hibernate",
    "skip",
    "maxRuntime",
    "resume",
    "via",
    "fallbackTypes",
    "calendars",
)
RESUME_KEYS = ("instanceType", "spot")
# EKS backends (`via`): CAST AI's hibernate/resume, or the managed node groups to zero.
VIA = ("castai", "nodegroups")

MAX_CRONS = 50
MAX_SKIP = 500
SKIP_YEARS = (1970, 2200)
MAX_RUNTIME = timedelta(days=365)
MAX_TZ_LENGTH = 64
MAX_FALLBACK_TYPES = 5
MAX_TYPE_LENGTH = 32

_DURATION = re.compile(r"([0-9]{1,7})([mhd])", re.ASCII)
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_INSTANCE_TYPE = re.compile(r"[a-z][a-z0-9-]*\.[a-z0-9]+", re.ASCII)
_ZONE = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*", re.ASCII)


class ScheduleError(ValueError):
    """A schedule document is invalid; the message names the key and the value."""


@dataclass(frozen=True, order=True)
class Event:
    """One firing of a cron: the instant (UTC) and what it asks for."""

    time: datetime
    action: Action

    def tag_value(self) -> str:
        """The `powercycle:state` value that records this event as handled."""
        return f"{self.action}@{format_utc(self.time)}"


@dataclass(frozen=True)
class ResumeOptions:
    """CAST AI resume options (`resume` key)."""

    instance_type: str | None = None
    spot: bool | None = None


@dataclass(frozen=True)
class Schedule:
    start: tuple[str, ...]
    stop: tuple[str, ...]
    tz: ZoneInfo
    enforce: bool = False
    hibernate: bool = False
    skip: tuple[tuple[date, date], ...] = ()
    max_runtime: timedelta | None = None
    resume: ResumeOptions | None = None
    # EKS: "castai" or "nodegroups"; None lets the EKS provider choose.
    via: str | None = None
    # EC2: types to start on, in order, when the instance's own has no capacity.
    fallback_types: tuple[str, ...] = ()
    # `calendars`: locations, and their dates once read (never evaluated without them).
    calendars: tuple[str, ...] = ()
    holidays: Holidays | None = None

    @cached_property
    def _skip_calendar(self) -> SkipCalendar:
        if self.calendars and self.holidays is None:
            raise ScheduleError('"calendars": the calendars were not read')
        return SkipCalendar(self.skip + (self.holidays.ranges if self.holidays else ()))

    def latest_event(self, now: datetime) -> Event | None:
        """The event with the greatest time <= now (start wins a tie), or None.

        None also for a schedule without crons (`maxRuntime` alone).
        """
        # In UTC before the cache: two local readings of a repeated hour (fold 0 and 1)
        # compare and hash equal, so the cache would answer one with the other's result.
        return _latest_event(self, _check_aware(now).astimezone(UTC))

    def next_event(self, after: datetime) -> Event | None:
        """The first event strictly after `after` (within five years), or None."""
        return next(self.events_after(after), None)

    def events_after(self, after: datetime) -> Iterator[Event]:
        """Events strictly after `after`, in time order (start before stop on a tie).

        The stream ends five years after `after`; each event costs a bounded amount of work.
        """
        _check_aware(after)
        streams = [_events(self, expr, "start", after) for expr in self.start]
        streams += [_events(self, expr, "stop", after) for expr in self.stop]
        heads = [(_next(s), i) for i, s in enumerate(streams)]
        last: Event | None = None
        while True:
            live = [(ev, i) for ev, i in heads if ev is not None]
            if not live:
                return
            ev, i = min(live, key=lambda h: (h[0].time, h[0].action != "start"))
            heads[i] = (_next(streams[i]), i)
            # The same instant from two crons (or two gap minutes clamped together) once.
            if last is None or ev.time != last.time:
                last = ev
                yield ev


def _events(schedule: Schedule, expr: str, action: Action, after: datetime) -> Iterator[Event]:
    for instant in fires_after(expr, schedule.tz, schedule._skip_calendar, after):
        yield Event(instant, action)


def _next(stream: Iterator[Event]) -> Event | None:
    try:
        return next(stream, None)
    except CronError as exc:
        raise ScheduleError(f"cron {exc}") from None


def _check_aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not 1900 <= now.year <= 9000:
        raise ValueError(f"now is out of range: {now.isoformat()}")
    return now


def format_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=8192)
def _latest_event(schedule: Schedule, now: datetime) -> Event | None:
    # Cached: every resource sharing a schedule gets the same answer in a pass, and the
    # crons are walked once per distinct schedule, not once per resource.
    best: Event | None = None
    candidates: list[tuple[Action, tuple[str, ...]]] = [
        ("stop", schedule.stop),
        ("start", schedule.start),
    ]
    for action, exprs in candidates:
        for expr in exprs:
            try:
                fired = latest_fire(expr, schedule.tz, schedule._skip_calendar, now)
            except CronError as exc:
                raise ScheduleError(f"cron {exc}") from None
            # `>=` with start looked at last: start wins a tie.
            if fired is not None and (best is None or fired >= best.time):
                best = Event(fired, action)
    return best


# --- parsing -------------------------------------------------------------------------


def parse_schedule_text(text: str, *, default_tz: str = "UTC") -> Schedule:
    """Parse a tag value or document body holding one schedule object."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScheduleError(
            f"not valid JSON ({exc.msg} at position {exc.pos}): {show(text)}"
        ) from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number, 100,000 brackets
        raise ScheduleError(f"not acceptable JSON ({show(str(exc))}): {show(text)}") from None
    return parse_schedule(doc, default_tz=default_tz)


def parse_schedule(doc: object, *, default_tz: str = "UTC") -> Schedule:
    """Validate a schedule object; every problem names the key and the value.

    Never raises anything but ScheduleError, whatever `doc` is.
    """
    try:
        check_shape(doc, what="the schedule")
    except ShapeError as exc:
        raise ScheduleError(str(exc)) from None
    return _parse_cached(freeze(doc), default_tz)


@functools.lru_cache(maxsize=4096)
def _parse_cached(frozen: object, default_tz: str) -> Schedule:
    doc = thaw(frozen)
    if not isinstance(doc, dict):
        raise ScheduleError(
            f"a schedule must be a JSON object like "
            f'{{"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5"}}, got {_kind(doc)}'
        )
    unknown = [k for k in doc if k not in KNOWN_KEYS]
    if unknown:
        key = unknown[0]
        raise ScheduleError(
            f"unknown key {show(key)} (value {show(doc[key])}); known keys: {', '.join(KNOWN_KEYS)}"
        )
    if not any(k in doc for k in ("start", "stop", "maxRuntime")):
        raise ScheduleError('a schedule needs "start", "stop" or both (or "maxRuntime")')
    start, stop = _crons(doc, "start"), _crons(doc, "stop")
    if len(start) + len(stop) > MAX_CRONS:
        raise ScheduleError(
            f'"start" and "stop" hold {len(start) + len(stop)} different crons; '
            f"at most {MAX_CRONS} are allowed"
        )
    schedule = Schedule(
        start=start,
        stop=stop,
        tz=_zone(doc.get("tz", default_tz)),
        enforce=_bool(doc, "enforce"),
        hibernate=_bool(doc, "hibernate"),
        skip=_skip(doc.get("skip")),
        max_runtime=_duration(doc.get("maxRuntime")),
        resume=_resume(doc.get("resume")),
        via=_via(doc.get("via")),
        fallback_types=_fallback_types(doc.get("fallbackTypes")),
        calendars=_calendars(doc.get("calendars")),
    )
    if not start and not stop and schedule.max_runtime is None:
        raise ScheduleError('"start" and "stop" are both empty lists')
    return schedule


def _kind(value: object) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}  # fmt: skip
    return f"{kinds.get(type(value), type(value).__name__)} ({show(value, 60)})"


def _crons(doc: dict[str, object], key: str) -> tuple[str, ...]:
    value = doc.get(key)
    if value is None:
        if key in doc:
            raise ScheduleError(f'"{key}" is null; give a cron string or a list of them')
        return ()
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_CRONS:
        raise ScheduleError(f'"{key}" holds {len(items)} crons; at most {MAX_CRONS} are allowed')
    crons: dict[object, str] = {}
    for item in items:
        if not isinstance(item, str):
            raise ScheduleError(
                f'"{key}": {show(item)} is not a cron string like "0 8 * * mon-fri"'
            )
        try:
            cron = compile_cron(item)
        except CronError as exc:
            raise ScheduleError(f'"{key}": {show(item)} {exc}') from None
        crons.setdefault(cron.key, cron.expr)  # two spellings of one cron count once
    return tuple(crons.values())


def validate_cron(key: str, expr: str) -> str:
    """The cron, whitespace normalised; ScheduleError naming `key` when it is refused."""
    try:
        return compile_cron(expr).expr
    except CronError as exc:
        raise ScheduleError(f'"{key}": {show(expr)} {exc}') from None


def _zone(name: object) -> ZoneInfo:
    if not isinstance(name, str):
        raise ScheduleError(f'"tz" must be an IANA zone name string, got {show(name)}')
    if len(name) > MAX_TZ_LENGTH or not _ZONE.fullmatch(name):
        raise ScheduleError(f'"tz": {show(name)} is not an IANA time zone name')
    try:
        zone = ZoneInfo(name)
        datetime(2000, 1, 1, tzinfo=zone).utcoffset()
    except Exception:  # not found, a directory of the zone database, not a zone file
        raise ScheduleError(f'"tz": {show(name)} is not a known IANA time zone') from None
    return zone


def _bool(doc: dict[str, object], key: str) -> bool:
    value = doc.get(key, False)
    if not isinstance(value, bool):
        raise ScheduleError(f'"{key}" must be true or false, got {show(value)}')
    return value


def _skip(value: object) -> tuple[tuple[date, date], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ScheduleError(
            f'"skip" must be a list of dates like ["2026-12-25", "2026-12-28..2027-01-01"], '
            f"got {show(value)}"
        )
    if len(value) > MAX_SKIP:
        raise ScheduleError(f'"skip" holds {len(value)} entries; at most {MAX_SKIP} are allowed')
    return tuple(sorted(_skip_entry(item) for item in value))


def _skip_entry(item: object) -> tuple[date, date]:
    if not isinstance(item, str):
        raise ScheduleError(f'"skip": {show(item)} is not a YYYY-MM-DD date string')
    first_s, sep, last_s = (part.strip() for part in item.partition(".."))
    try:
        if not _DATE.fullmatch(first_s) or (sep and not _DATE.fullmatch(last_s)):
            raise ValueError
        first = date.fromisoformat(first_s)
        last = date.fromisoformat(last_s) if sep else first
    except ValueError:
        raise ScheduleError(
            f'"skip": {show(item)} is not YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD'
        ) from None
    if last < first:
        raise ScheduleError(f'"skip": {show(item)} ends before it starts')
    low, high = SKIP_YEARS
    if first.year < low or last.year > high:
        raise ScheduleError(f'"skip": {show(item)} is outside the years {low}-{high}')
    return first, last


def _duration(value: object) -> timedelta | None:
    if value is None:
        return None
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) == 0:
        raise ScheduleError(
            f'"maxRuntime": {show(value)} is not a duration like "30m", "4h" or "2d"'
        )
    duration = timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})
    if duration > MAX_RUNTIME:
        raise ScheduleError(f'"maxRuntime": {show(value)} is longer than 365 days')
    return duration


def _via(value: object) -> str | None:
    if value is None:
        return None
    if value not in VIA:
        raise ScheduleError(f'"via" must be one of {", ".join(map(repr, VIA))}, got {show(value)}')
    return str(value)


def _resume(value: object) -> ResumeOptions | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ScheduleError(
            f'"resume" must be an object like {{"instanceType": "m5.large", "spot": true}}, '
            f"got {show(value)}"
        )
    unknown = [k for k in value if k not in RESUME_KEYS]
    if unknown:
        raise ScheduleError(
            f'"resume": unknown key {show(unknown[0])}; known keys: {", ".join(RESUME_KEYS)}'
        )
    instance_type = value.get("instanceType")
    if instance_type is not None and (
        not isinstance(instance_type, str) or not 0 < len(instance_type) <= 64
    ):
        raise ScheduleError(
            f'"resume.instanceType" must be a string of 1-64 characters, got {show(instance_type)}'
        )
    spot = value.get("spot")
    if spot is not None and not isinstance(spot, bool):
        raise ScheduleError(f'"resume.spot" must be true or false, got {show(spot)}')
    return ResumeOptions(instance_type=instance_type, spot=spot)


def _calendars(value: object) -> tuple[str, ...]:
    from powercycle.core.calendars import CalendarError, parse_key

    try:
        return parse_key(value)
    except CalendarError as exc:
        raise ScheduleError(str(exc)) from None


def _fallback_types(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    example = '["m5.large", "m6i.large"]'
    if not isinstance(value, list):
        raise ScheduleError(f'"fallbackTypes" must be a list like {example}, got {show(value)}')
    if len(value) > MAX_FALLBACK_TYPES:
        raise ScheduleError(
            f'"fallbackTypes" holds {len(value)} types; at most {MAX_FALLBACK_TYPES} are allowed'
        )
    for item in value:
        if (
            not isinstance(item, str)
            or len(item) > MAX_TYPE_LENGTH
            or not _INSTANCE_TYPE.fullmatch(item)
        ):
            raise ScheduleError(
                f'"fallbackTypes": {show(item)} is not an EC2 instance type like "m5.large"'
            )
    return tuple(dict.fromkeys(value))
