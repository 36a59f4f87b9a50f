"""Property tests (hypothesis) of the pure decision and of the events it reads.

For random schedules (a few crons from a small vocabulary, zones with and without DST)
and random time windows, a resource whose power follows the decisions:
- ends in the same state whether it saw a pass every 15 minutes or a single pass at the
  end of the window: the state of the latest event (missed runs collapse, nothing is lost);
- is left alone by a second pass at the same `now`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from powercycle.core.decide import Power, decide
from powercycle.core.schedule import Event, Schedule, parse_schedule

R, S, T = Power.RUNNING, Power.STOPPED, Power.TRANSITION
TICK = timedelta(minutes=15)

ZONES = ["UTC", "Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]
# Days on which the zones above change their clocks, and ordinary days.
INTERESTING = [
    datetime(2026, 3, 8, tzinfo=UTC),
    datetime(2026, 3, 29, tzinfo=UTC),
    datetime(2026, 4, 5, tzinfo=UTC),
    datetime(2026, 10, 4, tzinfo=UTC),
    datetime(2026, 10, 25, tzinfo=UTC),
    datetime(2026, 11, 1, tzinfo=UTC),
    datetime(2026, 11, 23, tzinfo=UTC),
    datetime(2027, 2, 26, tzinfo=UTC),
]

crons = st.builds(
    "{} {} * * {}".format,
    st.sampled_from(["0", "15", "30", "55", "7", "*/20"]),
    st.sampled_from(["0", "1", "2", "3", "7", "8", "12", "17", "23", "*/6", "8-18"]),
    st.sampled_from(["*", "1-5", "mon-fri", "0,6", "sat", "3"]),
)


@st.composite
def schedules(draw: Any) -> Schedule:
    start = draw(st.lists(crons, max_size=2))
    stop = draw(st.lists(crons, min_size=0 if start else 1, max_size=2))
    doc: dict[str, Any] = {"tz": draw(st.sampled_from(ZONES))}
    if start:
        doc["start"] = start if len(start) > 1 or draw(st.booleans()) else start[0]
    if stop:
        doc["stop"] = stop
    if draw(st.booleans()):
        doc["enforce"] = True
    if draw(st.integers(0, 3)) == 0:
        day = draw(st.sampled_from(INTERESTING)).date() + timedelta(days=draw(st.integers(-2, 2)))
        doc["skip"] = [day.isoformat()]
    return parse_schedule(doc)


# The instants the clocks change (UTC), for moments inside skipped and repeated hours.
CHANGES = [
    datetime(2026, 3, 8, 7, tzinfo=UTC),  # New York, spring forward
    datetime(2026, 11, 1, 6, tzinfo=UTC),  # New York, fall back
    datetime(2026, 3, 29, 1, tzinfo=UTC),  # London, spring forward
    datetime(2026, 10, 25, 1, tzinfo=UTC),  # London, fall back
    datetime(2026, 4, 4, 16, tzinfo=UTC),  # Sydney, fall back
    datetime(2026, 10, 3, 16, tzinfo=UTC),  # Sydney, spring forward
]

moments = st.one_of(
    st.builds(
        lambda day, minutes, seconds: day + timedelta(minutes=minutes, seconds=seconds),
        st.sampled_from(INTERESTING),
        st.integers(-3 * 24 * 60, 3 * 24 * 60),
        st.integers(0, 59),
    ),
    st.builds(
        lambda change, minutes: change + timedelta(minutes=minutes),
        st.sampled_from(CHANGES),
        st.integers(-150, 150),
    ),
)


def desired(event: Event) -> Power:
    return R if event.action == "start" else S


def apply(
    power: Power, state: Event | None, schedule: Schedule, now: datetime
) -> tuple[Power, Event | None]:
    decision = decide(schedule, state, power, now)
    if decision.action is not None:
        power = R if decision.action == "start" else S
    return power, decision.record or state


@st.composite
def initial(draw: Any, schedule: Schedule, first: datetime) -> tuple[Power, Event | None]:
    """Never seen before (any power), or the latest event handled and nobody interfered."""
    latest = schedule.latest_event(first)
    if latest is not None and draw(st.booleans()):
        return desired(latest), latest
    return draw(st.sampled_from([R, S])), None


SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(schedule=schedules(), first=moments, quarters=st.integers(0, 4 * 24 * 4), data=st.data())
def test_ticks_and_a_single_pass_end_in_the_latest_events_state(
    schedule: Schedule, first: datetime, quarters: int, data: st.DataObject
) -> None:
    power0, state0 = data.draw(initial(schedule, first))
    last = first + quarters * TICK

    power, state = power0, state0
    for k in range(quarters + 1):
        power, state = apply(power, state, schedule, first + k * TICK)

    single, _ = apply(power0, state0, schedule, last)
    assert power == single
    latest = schedule.latest_event(last)
    if latest is not None:
        assert power == desired(latest)
        assert state == latest
    else:
        assert power == power0


@SETTINGS
@given(
    schedule=schedules(),
    now=moments,
    power=st.sampled_from([R, S, T]),
    handled=st.sampled_from(["none", "latest", "earlier", "later"]),
)
def test_a_second_pass_at_the_same_now_changes_nothing(
    schedule: Schedule, now: datetime, power: Power, handled: str
) -> None:
    latest = schedule.latest_event(now)
    state = {
        "none": None,
        "latest": latest,
        "earlier": Event(now - timedelta(days=9), "stop"),
        "later": Event(now + timedelta(hours=1), "start"),
    }[handled]
    power, state = apply(power, state, schedule, now)
    again = decide(schedule, state, power, now)
    assert again.action is None
    assert again.record in (None, state)


@SETTINGS
@given(schedule=schedules(), now=moments)
def test_latest_event_agrees_with_walking_forward(schedule: Schedule, now: datetime) -> None:
    """Walking the crons forward from 8 days back finds the same latest event as walking
    backward from now (two code paths through the DST and skip rules)."""
    forward = None
    for event in schedule.events_after(now - timedelta(days=8)):
        if event.time > now:
            break
        forward = event
    backward = schedule.latest_event(now)
    if forward is not None:
        assert backward == forward
    else:
        assert backward is None or backward.time <= now - timedelta(days=8)
