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
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

Action = Literal["start", "stop"]

KNOWN_KEYS = ("start", "stop", "tz", "enforce", "hibernate", "skip", "maxRuntime", "resume")
RESUME_KEYS = ("instanceType", "spot")

_DURATION = re.compile(r"^(\d+)([mhd])$")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_MINUTE = timedelta(minutes=1)
# How far back a cron is searched for its latest firing before we call it "never".
_LOOKBACK = timedelta(days=366 * 5)


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

    def latest_event(self, now: datetime) -> Event | None:
        """The event with the greatest time <= now (start wins a tie), or None."""
        # In UTC before the cache: two local readings of a repeated hour (fold 0 and 1)
        # compare and hash equal, so the cache would answer one with the other's result.
        return _latest_event(self, _check_aware(now).astimezone(UTC))

    def events_after(self, after: datetime) -> Iterator[Event]:
        """Events strictly after `after`, in time order (start before stop on a tie)."""
        _check_aware(after)
        streams = [self._fires(expr, "start", after) for expr in self.start]
        streams += [self._fires(expr, "stop", after) for expr in self.stop]
        heads = [(next(s, None), i) for i, s in enumerate(streams)]
        last: Event | None = None
        while True:
            live = [(ev, i) for ev, i in heads if ev is not None]
            if not live:
                return
            ev, i = min(live, key=lambda h: (h[0].time, h[0].action != "start"))
            heads[i] = (next(streams[i], None), i)
            # The same instant from two crons (or two gap minutes clamped together) once.
            if last is None or ev.time != last.time:
                last = ev
                yield ev

    def _fires(self, expr: str, action: Action, after: datetime) -> Iterator[Event]:
        # Walking forward needs no fold adjustment: wall times of a repeated hour that
        # already fired map to instants <= after and are dropped below.
        local = after.astimezone(self.tz)
        it = croniter(expr, local.replace(tzinfo=None, second=0, microsecond=0))
        previous: datetime | None = None
        horizon = after + _LOOKBACK
        while True:
            try:
                naive: datetime = it.get_next(datetime)
            except CroniterBadDateError:
                return
            skipped = self._skipped_range(naive.date())
            if skipped is not None:
                day_after = datetime.combine(skipped[1] + timedelta(days=1), datetime.min.time())
                it = croniter(expr, day_after - _MINUTE)
                continue
            instant = wall_to_instant(naive, self.tz)
            if instant > horizon:
                return
            if instant > after and instant != previous:
                previous = instant
                yield Event(instant, action)

    def _skipped_range(self, day: date) -> tuple[date, date] | None:
        for first, last in self.skip:
            if first <= day <= last:
                return first, last
        return None


def _check_aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now


def format_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fold_length(local: datetime) -> timedelta:
    first = local.replace(fold=0).utcoffset()
    second = local.replace(fold=1).utcoffset()
    assert first is not None and second is not None
    return first - second


def wall_to_instant(naive: datetime, tz: ZoneInfo) -> datetime:
    """Map a local wall time to its instant (UTC): gaps go forward, folds take the first."""
    moment = naive
    # A wall time in a gap does not survive the round trip; step to the gap's end.
    for _ in range(60 * 24 + 1):
        aware = moment.replace(tzinfo=tz, fold=0)
        instant = aware.astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == moment:
            return instant
        moment += _MINUTE
    raise ValueError(f"no valid wall time near {naive} in {tz.key}")


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
            fired = _latest_fire(schedule, expr, now)
            # `>=` with start looked at last: start wins a tie.
            if fired is not None and (best is None or fired >= best.time):
                best = Event(fired, action)
    return best


def _latest_fire(schedule: Schedule, expr: str, now: datetime) -> datetime | None:
    local = now.astimezone(schedule.tz)
    # croniter's get_prev is strictly before its start: start one minute later so that a
    # firing at exactly the current minute counts.
    start = local.replace(tzinfo=None, second=0, microsecond=0) + _MINUTE
    if local.fold:
        # Second pass of a repeated hour: all of its wall times already fired.
        start += _fold_length(local)
    horizon = now - _LOOKBACK
    it = croniter(expr, start)
    while True:
        try:
            naive: datetime = it.get_prev(datetime)
        except CroniterBadDateError:
            return None
        skipped = schedule._skipped_range(naive.date())
        if skipped is not None:
            it = croniter(expr, datetime.combine(skipped[0], datetime.min.time()))
            continue
        instant = wall_to_instant(naive, schedule.tz)
        if instant < horizon:
            return None
        if instant <= now:
            return instant


# --- parsing -------------------------------------------------------------------------


def parse_schedule_text(text: str, *, default_tz: str = "UTC") -> Schedule:
    """Parse a tag value or document body holding one schedule object."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScheduleError(f"not valid JSON ({exc.msg} at position {exc.pos}): {text!r}") from exc
    return parse_schedule(doc, default_tz=default_tz)


def parse_schedule(doc: object, *, default_tz: str = "UTC") -> Schedule:
    """Validate a schedule object; every problem names the key and the value."""
    return _parse_cached(_freeze(doc), default_tz)


def _freeze(doc: object) -> object:
    """A hashable copy of a JSON value, so equal documents share one parse."""
    if isinstance(doc, Mapping):
        return _FrozenObject(tuple((str(k), _freeze(v)) for k, v in doc.items()))
    if isinstance(doc, list):
        return tuple(_freeze(v) for v in doc)
    if isinstance(doc, bool | int | float):
        # True == 1 == 1.0 and they hash alike: without the type, a cached parse of
        # {"enforce": true} would answer for {"enforce": 1}, which must be rejected.
        return _Scalar(type(doc), doc)
    return doc


@dataclass(frozen=True)
class _Scalar:
    kind: type
    value: object


@dataclass(frozen=True)
class _FrozenObject:
    items: tuple[tuple[str, object], ...]


def _thaw(value: object) -> object:
    if isinstance(value, _Scalar):
        return value.value
    if isinstance(value, _FrozenObject):
        return {k: _thaw(v) for k, v in value.items}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@functools.lru_cache(maxsize=4096)
def _parse_cached(frozen: object, default_tz: str) -> Schedule:
    doc = _thaw(frozen)
    if not isinstance(doc, dict):
        raise ScheduleError(
            f"a schedule must be a JSON object like "
            f'{{"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5"}}, got {_kind(doc)}'
        )
    unknown = [k for k in doc if k not in KNOWN_KEYS]
    if unknown:
        key = unknown[0]
        raise ScheduleError(
            f"unknown key {key!r} (value {doc[key]!r}); known keys: {', '.join(KNOWN_KEYS)}"
        )
    if "start" not in doc and "stop" not in doc:
        raise ScheduleError('a schedule needs "start", "stop" or both')

    tz_name = doc.get("tz", default_tz)
    if not isinstance(tz_name, str):
        raise ScheduleError(f'"tz" must be an IANA zone name string, got {tz_name!r}')
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f'"tz": {tz_name!r} is not a known IANA time zone') from exc

    schedule = Schedule(
        start=_crons(doc, "start"),
        stop=_crons(doc, "stop"),
        tz=tz,
        enforce=_bool(doc, "enforce"),
        hibernate=_bool(doc, "hibernate"),
        skip=_skip(doc.get("skip")),
        max_runtime=_duration(doc.get("maxRuntime")),
        resume=_resume(doc.get("resume")),
    )
    if not schedule.start and not schedule.stop:
        raise ScheduleError('"start" and "stop" are both empty lists')
    return schedule


def _kind(value: object) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__) + f" ({json.dumps(value)[:60]})"


def _crons(doc: dict[str, object], key: str) -> tuple[str, ...]:
    value = doc.get(key)
    if value is None:
        if key in doc:
            raise ScheduleError(f'"{key}" is null; give a cron string or a list of them')
        return ()
    items = value if isinstance(value, list) else [value]
    crons = []
    for item in items:
        if not isinstance(item, str):
            raise ScheduleError(f'"{key}": {item!r} is not a cron string like "0 8 * * mon-fri"')
        crons.append(validate_cron(key, item))
    return tuple(crons)


def validate_cron(key: str, expr: str) -> str:
    fields = expr.split()
    if len(fields) != 5:
        raise ScheduleError(
            f'"{key}": {expr!r} has {len(fields)} fields; a cron here has 5: '
            'minute hour day-of-month month day-of-week (e.g. "0 8 * * mon-fri")'
        )
    normalised = " ".join(fields)
    try:
        it = croniter(normalised, datetime(2000, 1, 1, tzinfo=UTC))
        it.get_next(datetime)
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        raise ScheduleError(f'"{key}": {expr!r} is not a valid cron expression ({exc})') from exc
    except CroniterBadDateError as exc:
        raise ScheduleError(f'"{key}": {expr!r} never fires') from exc
    return normalised


def _bool(doc: dict[str, object], key: str) -> bool:
    value = doc.get(key, False)
    if not isinstance(value, bool):
        raise ScheduleError(f'"{key}" must be true or false, got {value!r}')
    return value


def _skip(value: object) -> tuple[tuple[date, date], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ScheduleError(
            f'"skip" must be a list of dates like ["2026-12-25", "2026-12-28..2027-01-01"], '
            f"got {value!r}"
        )
    ranges = []
    for item in value:
        if not isinstance(item, str):
            raise ScheduleError(f'"skip": {item!r} is not a YYYY-MM-DD date string')
        first_s, sep, last_s = item.partition("..")
        try:
            first = date.fromisoformat(first_s.strip())
            last = date.fromisoformat(last_s.strip()) if sep else first
        except ValueError as exc:
            raise ScheduleError(
                f'"skip": {item!r} is not YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD'
            ) from exc
        if last < first:
            raise ScheduleError(f'"skip": {item!r} ends before it starts')
        ranges.append((first, last))
    return tuple(sorted(ranges))


def _duration(value: object) -> timedelta | None:
    if value is None:
        return None
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) == 0:
        raise ScheduleError(f'"maxRuntime": {value!r} is not a duration like "30m", "4h" or "2d"')
    return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


def _resume(value: object) -> ResumeOptions | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ScheduleError(
            f'"resume" must be an object like {{"instanceType": "m5.large", "spot": true}}, '
            f"got {value!r}"
        )
    unknown = [k for k in value if k not in RESUME_KEYS]
    if unknown:
        raise ScheduleError(
            f'"resume": unknown key {unknown[0]!r}; known keys: {", ".join(RESUME_KEYS)}'
        )
    instance_type = value.get("instanceType")
    if instance_type is not None and (not isinstance(instance_type, str) or not instance_type):
        raise ScheduleError(f'"resume.instanceType" must be a string, got {instance_type!r}')
    spot = value.get("spot")
    if spot is not None and not isinstance(spot, bool):
        raise ScheduleError(f'"resume.spot" must be true or false, got {spot!r}')
    return ResumeOptions(instance_type=instance_type, spot=spot)
