"""Command line: the same engine as the Lambda, for operators.

powercycle run [--dry-run] [--region R ...]   one scheduling pass, summary as JSON
powercycle check SCHEDULE                     validate; next transitions; hours off a week
powercycle demo                               a real pass against a local moto server
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from . import engine
from .config import Config, ConfigError
from .handler import setup_logging
from .schedule import Event, Schedule, ScheduleError, format_utc, parse_schedule_text

WEEK = timedelta(days=7)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="powercycle", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="one scheduling pass over the tagged resources")
    run.add_argument("--dry-run", action="store_true", help="plan only: no action, no tag")
    run.add_argument("--region", action="append", default=None, help="region (repeatable)")

    check = sub.add_parser("check", help="validate a schedule and show its next transitions")
    check.add_argument(
        "schedule",
        help="the tag value: inline JSON, an https:// URL or an s3://bucket/key location "
        "(#name picks one entry of a document of named schedules)",
    )
    check.add_argument("--count", type=int, default=5, help="transitions to show (default 5)")

    demo = sub.add_parser("demo", help="a real pass against an embedded moto server")
    demo.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    setup_logging()
    try:
        if args.command == "run":
            return _run(args.dry_run, args.region)
        if args.command == "check":
            return _check(args.schedule, args.count)
        from .local.demo import run_demo

        return run_demo()
    except ConfigError as exc:
        print(f"powercycle: configuration error: {exc}", file=sys.stderr)
        return 2


def _run(dry_run: bool, regions: list[str] | None) -> int:
    config = Config.from_env().with_overrides(
        dry_run=True if dry_run else None, regions=tuple(regions) if regions else None
    )
    summary = engine.run_pass(config, datetime.now(UTC)).to_dict()
    print(json.dumps(summary, indent=2))
    return 1 if summary["errors"] else 0


def _check(text: str, count: int) -> int:
    config = Config.from_env(need_region=False)
    try:
        schedule = resolve_for_check(text, config)
    except ScheduleError as exc:
        print(f"invalid schedule: {exc}", file=sys.stderr)
        return 1
    now = datetime.now(UTC)
    print(f"valid schedule, zone {schedule.tz.key}")
    latest = schedule.latest_event(now)
    if latest:
        print(f"latest event: {_fmt(latest, schedule)}")
    print(f"next {count} transitions:")
    for event in _transitions(schedule, now, count):
        print(f"  {_fmt(event, schedule)}")
    off, note = hours_off_per_week(schedule, now)
    print(f"off {off:.1f} h per week ({off / 168:.0%} of the week){note}")
    return 0


def resolve_for_check(text: str, config: Config) -> Schedule:
    """The schedule a tag value means; a URL or S3 location is fetched as a run would."""
    from . import sources

    if sources.locate(text) is None:
        return parse_schedule_text(text, default_tz=config.default_tz)
    return sources.resolve(text, config)


def _fmt(event: Event, schedule: Schedule) -> str:
    local = event.time.astimezone(schedule.tz)
    return f"{event.action:<5} {local.strftime('%a %Y-%m-%d %H:%M %Z')}  ({format_utc(event.time)})"


def _transitions(schedule: Schedule, now: datetime, count: int) -> list[Event]:
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


def hours_off_per_week(schedule: Schedule, now: datetime) -> tuple[float, str]:
    """Hours stopped over the coming week, if nobody intervenes by hand."""
    latest = schedule.latest_event(now)
    stopped_since: datetime | None = now if latest and latest.action == "stop" else None
    off = timedelta()
    for event in schedule.events_after(now):
        if event.time > now + WEEK:
            break
        if event.action == "stop" and stopped_since is None:
            stopped_since = event.time
        elif event.action == "start" and stopped_since is not None:
            off += event.time - stopped_since
            stopped_since = None
    if stopped_since is not None:
        off += now + WEEK - stopped_since
    note = ""
    if not schedule.start:
        note = " (stop-only: counts until someone starts it by hand)"
    elif not schedule.stop:
        note = " (start-only: counts only time stopped by hand before a start)"
    return off.total_seconds() / 3600, note


if __name__ == "__main__":
    raise SystemExit(main())
