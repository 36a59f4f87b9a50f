"""What the next pass will do to a resource an operator just tagged, snoozed or unsnoozed.

The answer is the pass's own: a dry-run pass (`engine.run_pass` with `only=` those
resources) at `now`, through the provider that found each one: its tags read back after
the write, the same schedule resolution, the same screens and the same pure decision
(`core.decide`), in the words of `plan` (what it would do, why, the latest event and the
next transition). A pass runs every 15 minutes, so this is what the next one does unless a
schedule event falls before it; the next transition is named for that reason. A snoozed
resource gets a second answer: the decision at the end of the snooze, with the same inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from powercycle import engine
from powercycle.cli.check import transitions
from powercycle.cli.output import when
from powercycle.config import Config
from powercycle.core.decide import Decision, decide
from powercycle.core.schedule import Event, format_utc
from powercycle.engine import Outcome
from powercycle.providers import Provider
from powercycle.runtime.budget import Budget

_VERB = {"start": "starts", "stop": "stops"}
# Events looked through for the next start (a stop every minute for a week is fewer).
MAX_EVENTS = 20_000


@dataclass(frozen=True)
class NextPass:
    """The next pass's decision for one resource, and its sentence."""

    action: str | None
    reason: str
    sentence: str
    next: Event | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reason": self.reason,
            "next": {"action": self.next.action, "utc": format_utc(self.next.time)}
            if self.next
            else None,
            "says": self.sentence,
        }


def next_passes(
    config: Config, found: Mapping[Provider, Sequence[str]], now: datetime
) -> dict[tuple[Provider, str], Outcome | NextPass]:
    """A dry-run pass at `now` over these resources (ids by the provider that found them):
    each one's outcome by (provider, id), or why it has none when its provider could not
    read it; a resource without the schedule tag has no entry."""
    dry = config.with_overrides(dry_run=True)
    outcomes: dict[tuple[Provider, str], Outcome | NextPass] = {}
    for provider, ids in found.items():
        summary = engine.run_pass(
            dry, now, providers=[provider], budget=Budget(config.budget_seconds), only=ids
        )
        for error in summary.errors:
            unread = f"the next pass could not be foreseen: {error.get('error')}"
            for id_ in ids:
                outcomes[(provider, id_)] = NextPass(None, "error", unread)
        for outcome in summary.outcomes:
            outcomes[(provider, outcome.resource.id)] = outcome
    return outcomes


def next_start(outcome: Outcome, now: datetime) -> datetime | str:
    """The resource's next scheduled start after `now`, or why there is none."""
    schedule = outcome.schedule
    if schedule is None:
        return describe(outcome, now).sentence
    if not schedule.start:
        return "its schedule has no start"
    for event in islice(schedule.events_after(now), MAX_EVENTS):
        if event.action == "start":
            return event.time
    return f"its schedule has no start in the next {MAX_EVENTS} events"


def untagged(config: Config) -> NextPass:
    return NextPass(None, "no-schedule", f"the scheduler leaves it alone: no {config.tag} tag")


def describe(outcome: Outcome, now: datetime) -> NextPass:
    """The sentence for one outcome of a dry-run pass at `now`."""
    decision, schedule, power = outcome.decision, outcome.schedule, outcome.resource.power
    if outcome.result == "skipped":
        return NextPass(None, outcome.reason, f"the next pass leaves it alone: {outcome.reason}")
    if outcome.error or decision is None or schedule is None or power is None:
        why = f"{outcome.reason}: {outcome.error}" if outcome.error else outcome.reason
        return NextPass(None, outcome.reason, f"the next pass cannot schedule it: {why}")
    tz = schedule.tz
    upcoming = transitions(schedule, now, 1)
    nxt = upcoming[0] if upcoming else None
    marks = outcome.marks
    until = marks.skip_until if marks is not None else None
    if decision.reason == "snoozed" and until is not None:
        after = decide(
            schedule,
            marks.state if marks is not None else None,
            power,
            until,
            running_since=outcome.resource.running_since,
        )
        sentence = f"the next pass leaves it alone: snoozed until {when(until, tz)}; " + (
            _words(after, tz, "the first pass after that")
        )
        return NextPass(None, "snoozed", sentence, nxt)
    sentence = _words(decision, tz, "the next pass")
    if decision.action is None and nxt is not None:
        sentence += f"; next transition: {nxt.action} {when(nxt.time, tz)}"
    return NextPass(decision.action, decision.reason, sentence, nxt)


def _words(decision: Decision, tz: Any, who: str) -> str:
    event = decision.event
    latest = (
        f": latest event {event.action} at {when(event.time, tz)}"
        if event is not None and decision.reason != "max-runtime"
        else ""
    )
    if decision.action is not None:
        return f"{who} {_VERB[decision.action]} it ({decision.reason}){latest}"
    return f"{who} leaves it as it is ({decision.reason}){latest}"
