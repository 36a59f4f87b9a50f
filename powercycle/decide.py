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

from .schedule import Action, Event, Schedule

STATE_FORMAT = "<start|stop>@<UTC time, e.g. 2026-11-23T18:00:00Z>"


class Power(enum.Enum):
    RUNNING = "running"
    STOPPED = "stopped"
    TRANSITION = "transition"  # pending, stopping, hibernating, resuming: wait


class StateTagError(ValueError):
    """A `powercycle:state` or `powercycle:skip-until` tag value cannot be read."""


@dataclass(frozen=True)
class Decision:
    action: Action | None  # None: no API call
    reason: str
    record: Event | None  # what to write to the state tag once the action (if any) is done
    event: Event | None = None  # the latest event considered, for the log


def parse_state(value: str | None) -> Event | None:
    """Read a `powercycle:state` value (`start@2026-11-23T08:00:00Z`)."""
    if value is None or not value.strip():
        return None
    action, sep, when = value.strip().partition("@")
    if not sep or action not in ("start", "stop"):
        raise StateTagError(f"state tag {value!r} is not {STATE_FORMAT}")
    return Event(parse_utc(when, what="state tag", value=value), action)  # type: ignore[arg-type]


def parse_utc(text: str, *, what: str, value: str) -> datetime:
    """An ISO-8601 time with a zone (`Z` or an offset), as an aware datetime."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise StateTagError(f"{what} {value!r} is not an ISO-8601 time") from exc
    if moment.tzinfo is None:
        raise StateTagError(f"{what} {value!r} has no time zone (end it with Z)")
    return moment.astimezone(UTC)


def decide(
    schedule: Schedule,
    state: Event | None,
    power: Power,
    now: datetime,
    *,
    running_since: datetime | None = None,
    skip_until: datetime | None = None,
) -> Decision:
    """Decide what to do with one resource.

    `state` is the last handled event (from the state tag), `running_since` when the
    current run began (EC2 LaunchTime), `skip_until` a snooze from the
    `powercycle:skip-until` tag.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if skip_until is not None and now < skip_until:
        return Decision(None, "snoozed", None)

    event = schedule.latest_event(now)
    decision = _follow_event(schedule, event, state, power)
    if decision.action is None:
        over = _max_runtime_exceeded(schedule, event, power, now, running_since)
        if over is not None:
            return over
    return decision


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

    The clock is the current run's own start (EC2: `LaunchTime`), as the design says: a
    scheduled start that finds the box already up (started by hand the night before) does
    not restart it.
    """
    if schedule.max_runtime is None or power is not Power.RUNNING or running_since is None:
        return None
    if now - running_since <= schedule.max_runtime:
        return None
    return Decision(
        "stop", "max-runtime", Event(now.astimezone(UTC).replace(microsecond=0), "stop"), event
    )
