"""`powercycle plan`: what the scheduler is about to do to the fleet, changing nothing.

A plan is a dry-run pass (no action, no tag written) at `--at` (default now): every
tagged resource of every kind, its schedule's source, its power state, the last event
handled for it, what a pass would do at that moment and why, and the next transition
of its schedule, in the schedule's zone and in UTC. Errors are shown on the resource's
own line.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime
from typing import Any

from powercycle.cli.check import next_skipped, transitions
from powercycle.cli.output import Output, Progress, parse_time, warn
from powercycle.cli.run import (
    EXIT_OK,
    accounts,
    exit_code,
    name_of,
    scan,
    scope,
    settings,
    target_errors,
)
from powercycle.core.calendars import format_skipped
from powercycle.core.schedule import format_utc
from powercycle.engine import Outcome

SKIPPED_SHOWN = 3
HEADERS = (
    "kind",
    "resource",
    "Name",
    "source",
    "power",
    "last handled",
    "would",
    "why",
    "next transition / error",
)


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    plan = sub.add_parser(
        "plan",
        parents=[common],
        help="what a pass would do to every tagged resource (changes nothing)",
        description="A dry-run pass over every tagged resource: its state, what a pass "
        "would do and why, and its next transition.",
    )
    plan.add_argument(
        "--at",
        default="now",
        metavar="TIME",
        help="plan this moment instead of now: ISO-8601 (2026-11-30T08:00Z; without a zone, "
        "this machine's local time) or +3h",
    )


def run(args: argparse.Namespace, now: datetime) -> int:
    at = parse_time(args.at, now)
    config = settings(args, dry_run=True)
    account_ids = accounts(config)
    where = scope(config, account_ids)
    with Progress(f"planning {where}"):
        summary = scan(config, at)
    ordered = sorted(summary.outcomes, key=_order)
    rows = [resource_dict(o, at) for o in ordered]
    out = Output.choose(args.json)
    if out.json:
        out.document(
            {
                "at": format_utc(at),
                "accounts": account_ids,
                "regions": list(config.regions),
                "tag": config.tag,
                "resources": rows,
                "errors": target_errors(summary),
            }
        )
    else:
        print(f"plan at {format_utc(at)}: {where}")
        out.table(HEADERS, [_cells(r, o) for r, o in zip(rows, ordered, strict=True)])
        for error in target_errors(summary):
            print(f"error: {error['id']}: {error['error']}")
        _print_skipped(rows)
    if not rows and not summary.errors:
        warn(f"found nothing tagged {config.tag} in {where}; check the region and the tag")
    code = exit_code(summary)
    return EXIT_OK if code == 3 else code


def resource_dict(outcome: Outcome, at: datetime) -> dict[str, Any]:
    resource = outcome.resource
    decision = outcome.decision
    entry: dict[str, Any] = {
        "kind": resource.kind,
        "id": resource.id,
        "name": name_of(outcome) or None,
        "region": resource.region,
        "source": outcome.source or None,
        "power": resource.power.value if resource.power is not None else None,
        "state": outcome.state,
        "action": decision.action if decision is not None else None,
        "reason": outcome.reason or None,
        "next": None,
        "error": outcome.error,
    }
    schedule = outcome.schedule
    if schedule is not None and (schedule.skip or schedule.holidays is not None):
        today = at.astimezone(schedule.tz).date()
        entry["skipped"] = [
            {"date": day.isoformat(), "names": names, "today": day == today}
            for day, names in next_skipped(schedule, at, SKIPPED_SHOWN)
        ]
    if schedule is not None:
        upcoming = transitions(schedule, at, 1)
        if upcoming:
            event = upcoming[0]
            entry["next"] = {
                "action": event.action,
                "local": event.time.astimezone(schedule.tz).isoformat(),
                "utc": format_utc(event.time),
            }
    return entry


def _print_skipped(rows: list[dict[str, Any]]) -> None:
    """The next skipped dates of each schedule source (holidays, `skip`), once per source."""
    shown: set[str] = set()
    for row in rows:
        source, skipped = row["source"] or "-", row.get("skipped")
        if not skipped or source in shown:
            continue
        if not shown:
            print("next skipped dates:")
        shown.add(source)
        days = "; ".join(
            format_skipped(date.fromisoformat(s["date"]), s["names"]) for s in skipped
        )
        print(f"  {source}: {days}")


def _cells(row: dict[str, Any], outcome: Outcome) -> list[str]:
    nxt = row["next"]
    if row["error"]:
        last = f"error: {row['error']}"
    elif nxt and outcome.schedule is not None:
        local = datetime.fromisoformat(nxt["utc"]).astimezone(outcome.schedule.tz)
        last = f"{nxt['action']} {local.strftime('%a %d %b %H:%M %Z')} ({nxt['utc']})"
    else:
        last = "-"
    return [
        row["kind"],
        row["id"],
        row["name"] or "-",
        row["source"] or "-",
        row["power"] or "?",
        row["state"] or "-",
        row["action"] or "-",
        _why(row),
        last,
    ]


def _why(row: dict[str, Any]) -> str:
    """The reason, and the holiday when the resource's own today is a skipped date."""
    why = row["reason"] or "-"
    skipped = row.get("skipped")
    if skipped and skipped[0]["today"]:
        why += f" (today skipped: {', '.join(skipped[0]['names'])})"
    return why


def _order(outcome: Outcome) -> tuple[str, str, str]:
    return (outcome.resource.kind, name_of(outcome), outcome.resource.id)
