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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from powercycle.core import schedule_keys as keys
from powercycle.core.cron import CronError, SkipCalendar, fires_after, latest_fire, wall_to_instant
from powercycle.core.document import ShapeError, check_shape, freeze, show, thaw

# Each key's reader, its limits and the error live in `schedule_keys`; callers import
# them from here, with the `Schedule` they make up.
from powercycle.core.schedule_keys import (
    KNOWN_KEYS,
    MAX_CRONS,
    MAX_SKIP,
    RESUME_KEYS,
    VIA,
    ResumeOptions,
    ScheduleError,
    validate_cron,
)

if TYPE_CHECKING:
    from powercycle.core.calendars import Holidays

__all__ = [
    "KNOWN_KEYS",
    "MAX_CRONS",
    "MAX_SKIP",
    "RESUME_KEYS",
    "VIA",
    "Action",
    "Event",
    "ResumeOptions",
    "Schedule",
    "ScheduleError",
    "format_utc",
    "parse_schedule",
    "parse_schedule_text",
    "validate_cron",
    "wall_to_instant",
]

Action = Literal["start", "stop"]


@dataclass(frozen=True, order=True)
class Event:
    """One firing of a cron: the instant (UTC) and what it asks for."""

    time: datetime
    action: Action

    def tag_value(self) -> str:
        """The `powercycle:state` value that records this event as handled."""
        return f"{self.action}@{format_utc(self.time)}"


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
    start, stop = keys.crons(doc, "start"), keys.crons(doc, "stop")
    if len(start) + len(stop) > MAX_CRONS:
        raise ScheduleError(
            f'"start" and "stop" hold {len(start) + len(stop)} different crons; '
            f"at most {MAX_CRONS} are allowed"
        )
    schedule = Schedule(
        start=start,
        stop=stop,
        tz=keys.zone(doc.get("tz", default_tz)),
        enforce=keys.flag(doc, "enforce"),
        hibernate=keys.flag(doc, "hibernate"),
        skip=keys.skip(doc.get("skip")),
        max_runtime=keys.duration(doc.get("maxRuntime")),
        resume=keys.resume(doc.get("resume")),
        via=keys.via(doc.get("via")),
        fallback_types=keys.fallback_types(doc.get("fallbackTypes")),
        calendars=keys.calendars(doc.get("calendars")),
    )
    if not start and not stop and schedule.max_runtime is None:
        raise ScheduleError('"start" and "stop" are both empty lists')
    return schedule


def _kind(value: object) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}  # fmt: skip
    return f"{kinds.get(type(value), type(value).__name__)} ({show(value, 60)})"
