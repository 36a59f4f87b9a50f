"""The scheduling decision: one pure function, no boto3, no HTTP, no clock.

`decide` answers "what should happen to this resource now?" from four inputs: its
schedule, the last event handled for it (the `powercycle:state` tag), its power state, and
`now`. Every branch names its reason; logs and tests read the reason back.

The rule that makes the scheduler safe to live with: an event is acted on once. After the
08:00 start has been handled (recorded in the state tag), a person may stop the box at
10:00 and it stays stopped until the next event; a person may start it at 21:00 and it
stays up until the next stop. Only `enforce` re-asserts the latest event on every run.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

from powercycle.core.schedule import Action, Event, Schedule
from powercycle.core.tags import STATE_FORMAT, StateTagError, parse_state, parse_utc

__all__ = [
    "STATE_FORMAT",
    "Decision",
    "Power",
    "StateTagError",
    "decide",
    "decide_manual",
    "parse_state",
    "parse_utc",
]


class Power(enum.Enum):
    RUNNING = "running"
    STOPPED = "stopped"
    TRANSITION = "transition"  # pending, stopping, hibernating, resuming: wait


@dataclass(frozen=True)
class Decision:
    action: Action | None  # None: no API call
    reason: str
    record: Event | None  # what to write to the state tag once the action (if any) is done
    event: Event | None = None  # the latest event considered, for the log


def decide(
    schedule: Schedule,
    state: Event | None,
    power: Power,
    now: datetime,
    *,
    running_since: datetime | None = None,
    skip_until: datetime | None = None,
    retry: bool = False,
    auto_restarted: datetime | None = None,
) -> Decision:
    """Decide what to do with one resource.

    `state` is the last handled event (from the state tag), `running_since` when the
    current run began (EC2 LaunchTime), `skip_until` a snooze from the
    `powercycle:skip-until` tag. `retry`: verification found that the action recorded in
    `state` did not take (`core.verify`): that event is acted on again, reason `retry`.
    `auto_restarted`: when the resource's own service started it by itself after the
    handled stop in `state` (RDS's 7-day rule): it is stopped again, reason
    `auto-restarted`, recorded as a stop at now; a start by a person is respected.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if skip_until is not None and now < skip_until:
        return Decision(None, "snoozed", None)

    event = schedule.latest_event(now)
    if retry and state is not None and state == event:
        decision = _follow_event(schedule, event, None, power)
        if decision.reason == "first-sight":
            decision = Decision(decision.action, "retry", decision.record, decision.event)
    else:
        decision = _follow_event(schedule, event, state, power)
    if _restarted_by_itself(decision, state, power, auto_restarted):
        return Decision("stop", "auto-restarted", _now_event(now, "stop"), event)
    if decision.action is None:
        starts = [running_since]
        for handled in (state, decision.record):
            if handled is not None and handled.action == "start":
                starts.append(handled.time)
        known = [s for s in starts if s is not None]
        since = max(known) if known else None
        over = _max_runtime_exceeded(schedule, event, power, now, since)
        if over is not None:
            return over
    return decision


def decide_manual(
    action: Action,
    power: Power | None,
    *,
    excluded: str | None = None,
    error: str | None = None,
    skip: str | None = None,
) -> Decision:
    """A manual action (`instanceIds`/`clusterNames` payload, `powercycle start|stop`).

    The same guards as a scheduled pass: an excluded resource (production), one whose
    tags could not be read or that the provider cannot schedule is refused; a stop of a
    resource the provider says never to stop (an Auto Scaling group member) is refused.
    """
    if excluded:
        return Decision(None, f"refused: excluded by {excluded}", None)
    if error:
        return Decision(None, f"refused: {error}", None)
    if skip and action == "stop":
        return Decision(None, f"refused: {skip}", None)
    desired = Power.RUNNING if action == "start" else Power.STOPPED
    if power is desired:
        return Decision(None, f"already-{desired.value}", None)
    if power is Power.TRANSITION:
        return Decision(None, "in-transition", None)
    if power is None:
        return Decision(None, "refused: power state unknown", None)
    return Decision(action, "manual", None)


def _follow_event(
    schedule: Schedule, event: Event | None, state: Event | None, power: Power
) -> Decision:
    if event is None:
        return Decision(None, "no-event", None)
    if state is not None and (
        event.time < state.time or (not schedule.enforce and event.time == state.time)
    ):
        # A state newer than the latest event is a max-runtime stop: even `enforce` leaves
        # it until the next event, or the two would cycle the resource on and off.
        return Decision(None, "handled", None, event)

    desired = Power.RUNNING if event.action == "start" else Power.STOPPED
    if power is desired:
        return Decision(None, f"already-{desired.value}", event, event)
    if power is Power.TRANSITION:
        return Decision(None, "in-transition", None, event)
    if schedule.enforce:
        reason = "enforce"
    elif state is None:
        reason = "first-sight"
    else:
        reason = "new-event"
    return Decision(event.action, reason, event, event)


def _max_runtime_exceeded(
    schedule: Schedule,
    event: Event | None,
    power: Power,
    now: datetime,
    running_since: datetime | None,
) -> Decision | None:
    """`maxRuntime`: stop what has been running too long.

    The clock starts at the later of the resource's own start (EC2: `LaunchTime`; EKS:
    the start recorded or observed) and the latest `start` event handled for it, on every
    kind: a scheduled start renews it, so a box started by hand the night before is not
    stopped in office hours.
    """
    if schedule.max_runtime is None or power is not Power.RUNNING or running_since is None:
        return None
    if now - running_since <= schedule.max_runtime:
        return None
    return Decision("stop", "max-runtime", _now_event(now, "stop"), event)


def _restarted_by_itself(
    decision: Decision, state: Event | None, power: Power, auto_restarted: datetime | None
) -> bool:
    """A handled stop undone by the resource's own service (not by a person): the stop
    stands. A new event, `enforce` or a retry decide as always."""
    return (
        auto_restarted is not None
        and decision.action is None
        and decision.reason == "handled"
        and power is Power.RUNNING
        and state is not None
        and state.action == "stop"
        and auto_restarted >= state.time
    )


def _now_event(now: datetime, action: Action) -> Event:
    """An event at now (whole seconds, UTC): a stop the schedule did not name."""
    return Event(now.astimezone(UTC).replace(microsecond=0), action)
