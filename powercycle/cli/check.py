"""`powercycle check SCHEDULE`: is this tag value valid, what will it do, what does it save.

A value is refused (exit 1) when a run would refuse it, and also when it cannot be a tag
value at all (over 256 characters) or holds a duplicate key (JSON parsers keep the last
one silently). Valid values that will surprise someone get warnings: a stop identical to a
start (start wins the tie: the stop never stops anything), `enforce` with only one kind of
cron, and cron's rule that a day-of-month and a day-of-week field both restricted means
either day (`0 8 1-7 * mon` is every Monday and every 1st-7th).

Hours off per week are counted over a typical week in the schedule's own zone, on
wall-clock time (a week with a clock change counts 168 hours like any other), ignoring
`skip` dates, and assuming nobody starts or stops anything by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from croniter import croniter

from powercycle.cli.output import Output
from powercycle.config import Config
from powercycle.core.calendars import format_skipped, skipped_days
from powercycle.core.schedule import (
    Action,
    Event,
    Schedule,
    ScheduleError,
    format_utc,
    parse_schedule,
)

TAG_VALUE_MAX = 256  # AWS: at most 256 characters in a tag value (EC2 and EKS alike)
COUNT_MAX = 100
WEEK_HOURS = 168
_MINUTE = timedelta(minutes=1)


@dataclass
class Checked:
    """A valid schedule and what a person should know about it."""

    schedule: Schedule
    warnings: list[str] = field(default_factory=list)
    # An uptime value's JSON twin: the schedule it stands for.
    twin: dict[str, object] | None = None
    # An inline JSON schedule's uptime twin: the tag-safe value with its transitions.
    uptime: str | None = None


def add_parser(sub: Any) -> None:
    check = sub.add_parser(
        "check",
        help="validate a schedule; next transitions; hours off a week",
        description="Validate a tag value as a run would; show the next transitions in "
        "the schedule's zone and in UTC, and the hours off in a typical week.",
    )
    check.add_argument(
        "schedule",
        help="the tag value: inline JSON, an uptime (Mon-Fri 08:00-17:55 Europe/London), "
        "a schedule name of the library POWERCYCLE_SCHEDULES, an https:// URL or an "
        "s3://bucket/key location (#name picks one entry of a document of named schedules)",
    )
    check.add_argument(
        "--count", type=_count, default=5, help=f"transitions to show, 1-{COUNT_MAX} (default 5)"
    )
    check.add_argument("--json", action="store_true", help="print JSON")


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= COUNT_MAX:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and {COUNT_MAX}")
    return value


def run(args: argparse.Namespace, now: datetime) -> int:
    config = Config.from_env(need_region=False)
    try:
        checked = validate(args.schedule, config, now=now)
    except ScheduleError as exc:
        if args.json:
            Output(json=True).document({"valid": False, "error": str(exc)})
        else:
            print(f"invalid schedule: {exc}", file=sys.stderr)
        return 1
    schedule = checked.schedule
    latest = schedule.latest_event(now)
    upcoming = transitions(schedule, now, args.count)
    off = hours_off_per_week(schedule)
    note = off_note(schedule)
    skipped = next_skipped(schedule, now, args.count)
    if args.json:
        Output(json=True).document(
            {
                "valid": True,
                "zone": schedule.tz.key,
                **({"twin": checked.twin} if checked.twin is not None else {}),
                **({"uptimeTwin": checked.uptime} if checked.uptime is not None else {}),
                "warnings": checked.warnings,
                "latestEvent": _event_dict(latest, schedule),
                "transitions": [_event_dict(e, schedule) for e in upcoming],
                "skipped": [{"date": d.isoformat(), "names": n} for d, n in skipped],
                "hoursOffPerWeek": round(off, 2),
                "percentOff": round(100 * off / WEEK_HOURS, 1),
                **({"note": note.strip(" ()")} if note else {}),
                **(
                    {"fallbackTypes": list(schedule.fallback_types)}
                    if schedule.fallback_types
                    else {}
                ),
            }
        )
        return 0
    for warning in checked.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"valid schedule, zone {schedule.tz.key}")
    if checked.twin is not None:
        print(f"JSON twin: {json.dumps(checked.twin)}")
    if checked.uptime is not None:
        print(f"uptime twin (tag-safe): {checked.uptime}")
    if latest:
        print(f"latest event: {fmt_event(latest, schedule)}")
    if upcoming:
        print(f"next {len(upcoming)} transitions:")
    else:
        print(
            "no transitions: only maxRuntime applies" if schedule.max_runtime else "no transitions"
        )
    for event in upcoming:
        print(f"  {fmt_event(event, schedule)}")
    if skipped:
        print(f"next {len(skipped)} skipped dates:")
        for day, names in skipped:
            print(f"  {format_skipped(day, names)}")
    print(f"off {off:.1f} h per week ({off / WEEK_HOURS:.0%} of the week){note}")
    if schedule.fallback_types:
        print(
            "on a capacity refusal, starts on: "
            f"{', '.join(schedule.fallback_types)} (its own type comes back at the next stop)"
        )
    return 0


# --- validation ----------------------------------------------------------------------


def validate(text: str, config: Config, *, now: datetime | None = None) -> Checked:
    """The schedule a tag value means, with warnings; ScheduleError when a run would
    refuse it or it cannot be a tag value. Its holiday calendars are read around `now`."""
    from powercycle import sources
    from powercycle.core import uptime

    if len(text) > TAG_VALUE_MAX:
        raise ScheduleError(
            f"the value has {len(text)} characters and a tag value holds at most "
            f"{TAG_VALUE_MAX}: put the schedule in a document and tag its https:// or "
            "s3:// location instead"
        )
    form = uptime.shape(text)
    if form == "uptime":
        twin = uptime.uptime_document(text, default_tz=config.default_tz)
        schedule = parse_schedule(twin, default_tz=config.default_tz)
        return Checked(schedule, warnings(schedule), twin)
    if sources.locate(text) is None and form == "json":
        doc = parse_strict(text)
        schedule = parse_schedule(doc, default_tz=config.default_tz)
        if not schedule.calendars:
            return Checked(schedule, warnings(schedule), uptime=uptime.to_uptime(schedule))
        from powercycle.sources import calendars

        schedule = calendars.with_calendars(schedule, config, now=now or datetime.now(UTC))
    else:
        schedule = sources.resolve(text, config, now=now or datetime.now(UTC))
    return Checked(schedule, warnings(schedule))


def next_skipped(schedule: Schedule, now: datetime, count: int) -> list[tuple[date, list[str]]]:
    """The next skipped local dates from today (`skip` and calendars), with their names."""
    if not schedule.skip and schedule.holidays is None:
        return []
    return skipped_days(schedule, now.astimezone(schedule.tz).date(), count)


def parse_strict(text: str) -> Any:
    """JSON with duplicate keys refused (json.loads keeps the last one, silently)."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise ScheduleError(f"duplicate key {key!r}: only one of them would count")
            seen[key] = value
        return seen

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise ScheduleError(f"not valid JSON ({exc.msg} at position {exc.pos}): {text!r}") from exc


def warnings(schedule: Schedule) -> list[str]:
    found = []
    for expr in sorted(set(schedule.start) & set(schedule.stop)):
        found.append(
            f'"{expr}" is both a start and a stop: at the same minute start wins, '
            "so this stop never stops anything"
        )
    if schedule.enforce and not schedule.start:
        found.append(
            "enforce with only stop crons: from the first stop on, every pass (every 15 "
            "minutes) stops it again, so nobody can keep it running; drop enforce to let "
            "people start it by hand until the next stop"
        )
    if schedule.enforce and not schedule.stop:
        found.append(
            "enforce with only start crons: every pass starts it again, so it is never "
            "stopped for long; drop enforce to let people stop it by hand"
        )
    for key, exprs in (("start", schedule.start), ("stop", schedule.stop)):
        for expr in exprs:
            day_of_month, day_of_week = expr.split()[2], expr.split()[4]
            if day_of_month not in ("*", "?") and day_of_week not in ("*", "?"):
                found.append(
                    f'"{key}": "{expr}" fires on days {day_of_month} of the month OR on '
                    f"weekdays {day_of_week} (cron's rule when both day fields are set), not "
                    "only when both match"
                )
    return found


# --- what it will do -------------------------------------------------------------------


def fmt_event(event: Event, schedule: Schedule) -> str:
    local = event.time.astimezone(schedule.tz)
    return f"{event.action:<5} {local.strftime('%a %Y-%m-%d %H:%M %Z')}  ({format_utc(event.time)})"


def _event_dict(event: Event | None, schedule: Schedule) -> dict[str, str] | None:
    if event is None:
        return None
    local = event.time.astimezone(schedule.tz)
    return {"action": event.action, "local": local.isoformat(), "utc": format_utc(event.time)}


def transitions(schedule: Schedule, now: datetime, count: int) -> list[Event]:
    """Events that change the desired state (a stop after a stop changes nothing).

    With only one kind of cron every event counts: between two stops a person may have
    started the box, and each stop stops it again.
    """
    latest = schedule.latest_event(now)
    current = latest.action if latest else None
    one_kind = not schedule.start or not schedule.stop
    found: list[Event] = []
    for event in schedule.events_after(now):
        if one_kind or event.action != current:
            found.append(event)
            current = event.action
            if len(found) == count:
                break
        if event.time > now + 366 * timedelta(days=1):
            break
    return found


def hours_off_per_week(schedule: Schedule, week_start: datetime | None = None) -> float:
    """Hours stopped in a typical week (Monday 00:00 to Monday 00:00, wall-clock time in
    the schedule's zone), if nobody starts or stops anything by hand.

    Wall-clock arithmetic on naive local times makes the answer DST-neutral; `skip` dates
    are ignored (a typical week has no holiday). `enforce` with one kind of cron is always
    in that state.
    """
    if schedule.enforce and not schedule.start:
        return float(WEEK_HOURS)
    if schedule.enforce and not schedule.stop:
        return 0.0
    start = week_start or _reference_monday()
    end = start + timedelta(days=7)
    events: list[tuple[datetime, int, Action]] = []
    state: tuple[datetime, int, Action] | None = None
    for action, exprs in (("start", schedule.start), ("stop", schedule.stop)):
        rank = 0 if action == "start" else 1  # start wins a tie
        for expr in exprs:
            before = _latest_naive(expr, start)
            if before is not None and (state is None or (before, -rank) > (state[0], -state[1])):
                state = (before, rank, action)  # type: ignore[assignment]
            it = croniter(expr, start)
            while True:
                fired: datetime = it.get_next(datetime)
                if fired >= end:
                    break
                events.append((fired, rank, action))  # type: ignore[arg-type]
    events.sort()
    stopped_since = start if state is not None and state[2] == "stop" else None
    off = timedelta()
    last: datetime | None = None
    for fired, _, action in events:
        if fired == last:
            continue  # the same minute from two crons: the first (start) wins
        last = fired
        if action == "stop" and stopped_since is None:
            stopped_since = fired
        elif action == "start" and stopped_since is not None:
            off += fired - stopped_since
            stopped_since = None
    if stopped_since is not None:
        off += end - stopped_since
    return off.total_seconds() / 3600


def _reference_monday() -> datetime:
    """A fixed Monday 00:00 (naive): the typical week is the same whenever you ask."""
    return datetime(2025, 1, 6)  # noqa: DTZ001 - wall-clock time, zone-free on purpose


def _latest_naive(expr: str, moment: datetime) -> datetime | None:
    """The latest firing at or before `moment` (naive wall time), within about 5 years."""
    it = croniter(expr, moment + _MINUTE)
    try:
        fired: datetime = it.get_prev(datetime)
    except Exception:  # croniter: never fired in its search window
        return None
    return fired if moment - fired < timedelta(days=366 * 5) else None


def off_note(schedule: Schedule) -> str:
    if schedule.enforce and not schedule.start:
        return " (stop-only with enforce: stopped again on every pass, always off)"
    if schedule.enforce and not schedule.stop:
        return " (start-only with enforce: started again on every pass, always on)"
    note = ""
    if not schedule.start and not schedule.stop:
        return f" (maxRuntime only: each run is stopped after {schedule.max_runtime})"
    if not schedule.start:
        note = " (stop-only: counts until someone starts it by hand)"
    elif not schedule.stop:
        note = " (start-only: counts only time stopped by hand before a start)"
    if schedule.skip:
        note += " (skip dates not counted)"
    return note
