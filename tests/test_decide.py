"""decide.py: the pure decision, branch by branch, and whole weeks of 15-minute passes
simulated without AWS (the power follows the decisions, as EC2 would)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from powercycle.core.decide import (
    Decision,
    Power,
    StateTagError,
    decide,
    parse_state,
    parse_utc,
)
from powercycle.core.schedule import Event, Schedule, parse_schedule, parse_schedule_text
from tests.helpers import SEED, at, ticks

R, S, T = Power.RUNNING, Power.STOPPED, Power.TRANSITION
OFFICE = parse_schedule_text(SEED)  # Mon-Fri 08:00-17:55 UTC
MONDAY_START = Event(at("2026-11-23 08:00").astimezone(UTC), "start")
MONDAY_STOP = Event(at("2026-11-23 17:55").astimezone(UTC), "stop")
FRIDAY_STOP = Event(at("2026-11-20 17:55").astimezone(UTC), "stop")


def d(action: str | None, reason: str, record: Event | None, event: Event | None) -> Decision:
    return Decision(action, reason, record, event)  # type: ignore[arg-type]


# --- the state tag -----------------------------------------------------------------------


def test_state_tag_round_trip() -> None:
    assert parse_state(MONDAY_STOP.tag_value()) == MONDAY_STOP
    assert parse_state("start@2026-11-23T08:00:00Z") == MONDAY_START
    assert parse_state(" start@2026-11-23T09:00:00+01:00 ") == MONDAY_START
    assert parse_state(None) is None
    assert parse_state("") is None


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "start",
        "pause@2026-11-23T08:00:00Z",
        "start@yesterday",
        "start@2026-11-23T08:00:00",  # no zone
        "@2026-11-23T08:00:00Z",
    ],
)
def test_malformed_state_tag_is_an_error_quoting_it(value: str) -> None:
    with pytest.raises(StateTagError) as caught:
        parse_state(value)
    assert repr(value.strip()) in str(caught.value) or value in str(caught.value)


def test_parse_utc_needs_a_zone() -> None:
    assert parse_utc("2026-11-24T00:00:00Z", what="x", value="v") == datetime(
        2026, 11, 24, tzinfo=UTC
    )
    with pytest.raises(StateTagError, match="no time zone"):
        parse_utc("2026-11-24T00:00:00", what="powercycle:skip-until", value="2026-11-24T00:00:00")


# --- every branch ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "state", "power", "now", "expected"),
    [
        pytest.param(
            OFFICE,
            None,
            S,
            "2026-11-23 08:00",
            d("start", "first-sight", MONDAY_START, MONDAY_START),
            id="first-sight-acts",
        ),
        pytest.param(
            OFFICE,
            None,
            R,
            "2026-11-23 08:00",
            d(None, "already-running", MONDAY_START, MONDAY_START),
            id="first-sight-already-in-state-records",
        ),
        pytest.param(
            OFFICE,
            FRIDAY_STOP,
            S,
            "2026-11-23 08:14",
            d("start", "new-event", MONDAY_START, MONDAY_START),
            id="new-event",
        ),
        pytest.param(
            OFFICE,
            FRIDAY_STOP,
            S,
            "2026-11-23 11:00",
            d("start", "new-event", MONDAY_START, MONDAY_START),
            id="late-run-still-starts",
        ),
        pytest.param(
            OFFICE,
            MONDAY_START,
            S,
            "2026-11-23 11:00",
            d(None, "handled", None, MONDAY_START),
            id="handled-person-stopped-it",
        ),
        pytest.param(
            OFFICE,
            MONDAY_STOP,
            R,
            "2026-11-23 21:00",
            d(None, "handled", None, MONDAY_STOP),
            id="handled-person-started-it",
        ),
        pytest.param(
            OFFICE,
            MONDAY_START,
            T,
            "2026-11-23 17:55",
            d(None, "in-transition", None, MONDAY_STOP),
            id="transition-waits-records-nothing",
        ),
        pytest.param(
            OFFICE,
            FRIDAY_STOP,
            S,
            "2026-11-23 07:59",
            d(None, "handled", None, FRIDAY_STOP),
            id="weekend-nothing-new",
        ),
        pytest.param(
            OFFICE,
            FRIDAY_STOP,
            R,
            "2026-11-24 03:00",
            d("stop", "new-event", MONDAY_STOP, MONDAY_STOP),
            id="missed-runs-collapse-to-latest",
        ),
        pytest.param(
            parse_schedule({"stop": "0 19 * * *", "start": "0 7 * * *", "enforce": True}),
            Event(at("2026-11-23 07:00").astimezone(UTC), "start"),
            S,
            "2026-11-23 10:00",
            d(
                "start",
                "enforce",
                Event(at("2026-11-23 07:00").astimezone(UTC), "start"),
                Event(at("2026-11-23 07:00").astimezone(UTC), "start"),
            ),
            id="enforce-reasserts-a-handled-event",
        ),
        pytest.param(
            parse_schedule({"stop": "0 19 * * *", "enforce": True}),
            Event(at("2026-11-22 19:00").astimezone(UTC), "stop"),
            S,
            "2026-11-23 10:00",
            d(
                None,
                "already-stopped",
                Event(at("2026-11-22 19:00").astimezone(UTC), "stop"),
                Event(at("2026-11-22 19:00").astimezone(UTC), "stop"),
            ),
            id="enforce-already-in-state",
        ),
        pytest.param(
            OFFICE,
            Event(at("2026-11-23 09:00").astimezone(UTC), "stop"),
            R,
            "2026-11-23 10:00",
            d(None, "handled", None, MONDAY_START),
            id="state-newer-than-event",
        ),
        pytest.param(
            parse_schedule({"stop": "0 18 * * *", "skip": ["2010-01-01..2035-12-31"]}),
            None,
            R,
            "2026-11-23 10:00",
            d(None, "no-event", None, None),
            id="no-event",
        ),
    ],
)
def test_decision(
    schedule: Schedule, state: Event | None, power: Power, now: str, expected: Decision
) -> None:
    assert decide(schedule, state, power, at(now)) == expected


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(OFFICE, None, R, datetime(2026, 11, 23, 9, 0))


def test_start_wins_a_tie() -> None:
    tie = parse_schedule({"start": "0 8 * * *", "stop": "0 8 * * *"})
    decision = decide(tie, None, S, at("2026-11-23 08:00"))
    assert (decision.action, decision.reason) == ("start", "first-sight")


def test_now_in_another_zone_decides_the_same() -> None:
    now = at("2026-11-23 08:14")
    assert decide(OFFICE, FRIDAY_STOP, S, now) == decide(
        OFFICE, FRIDAY_STOP, S, now.astimezone(ZoneInfo("America/Los_Angeles"))
    )


# --- snooze ------------------------------------------------------------------------------


def test_snooze_leaves_it_alone_until_then() -> None:
    until = at("2026-11-23 12:00")
    assert decide(OFFICE, FRIDAY_STOP, S, at("2026-11-23 09:00"), skip_until=until) == d(
        None, "snoozed", None, None
    )
    after = decide(OFFICE, FRIDAY_STOP, S, at("2026-11-23 12:00"), skip_until=until)
    assert (after.action, after.reason, after.record) == ("start", "new-event", MONDAY_START)


# --- a resource its own service started by itself (RDS's 7-day rule) ---------------------


def test_auto_restarted_after_a_handled_stop_is_stopped_again() -> None:
    now = at("2026-11-23 21:15")
    restarted = at("2026-11-23 21:00")
    again = decide(OFFICE, MONDAY_STOP, R, now, auto_restarted=restarted)
    assert again == d("stop", "auto-restarted", Event(now, "stop"), MONDAY_STOP)
    # Recorded as a stop at now: handled on the next pass, and the morning's start acts.
    assert again.record is not None
    assert decide(OFFICE, again.record, S, at("2026-11-23 21:30")).action is None
    morning = decide(OFFICE, again.record, S, at("2026-11-24 08:00"))
    assert (morning.action, morning.reason) == ("start", "new-event")


def test_auto_restarted_only_undoes_a_handled_stop() -> None:
    restarted = at("2026-11-23 21:00")
    # A person's start (no automatic start seen): respected.
    assert decide(OFFICE, MONDAY_STOP, R, at("2026-11-23 21:15")).action is None
    # An automatic start before the handled stop says nothing about this run.
    before = decide(
        OFFICE, MONDAY_STOP, R, at("2026-11-23 21:15"), auto_restarted=at("2026-11-23 17:00")
    )
    assert before.action is None
    # After a handled start, or while snoozed, or already stopped: nothing.
    assert (
        decide(OFFICE, MONDAY_START, R, at("2026-11-23 12:00"), auto_restarted=restarted).action
        is None
    )
    snoozed = decide(
        OFFICE,
        MONDAY_STOP,
        R,
        at("2026-11-23 21:15"),
        auto_restarted=restarted,
        skip_until=at("2026-11-24 00:00"),
    )
    assert snoozed.reason == "snoozed"
    assert (
        decide(OFFICE, MONDAY_STOP, S, at("2026-11-23 21:15"), auto_restarted=restarted).action
        is None
    )


# --- maxRuntime --------------------------------------------------------------------------

CAPPED = parse_schedule({"stop": "0 19 * * *", "maxRuntime": "4h"})
EVENING = Event(at("2026-11-23 19:00").astimezone(UTC), "stop")


def test_max_runtime_stops_a_box_started_by_hand() -> None:
    """Started by hand at 21:00 after the 19:00 stop: stopped once it has run 4 hours."""
    started = at("2026-11-23 21:00")
    within = decide(CAPPED, EVENING, R, at("2026-11-24 01:00"), running_since=started)
    assert within == d(None, "handled", None, EVENING)
    over = decide(CAPPED, EVENING, R, at("2026-11-24 01:15:30"), running_since=started)
    assert over == d("stop", "max-runtime", Event(at("2026-11-24 01:15:30"), "stop"), EVENING)
    # Recorded as a stop at now: the next pass finds it handled.
    assert over.record is not None
    assert decide(CAPPED, over.record, S, at("2026-11-24 01:30")).action is None


def test_max_runtime_ignores_stopped_and_unknown_launch() -> None:
    now = at("2026-11-24 03:00")
    assert decide(CAPPED, EVENING, S, now, running_since=at("2026-11-23 21:00")).action is None
    assert decide(CAPPED, EVENING, R, now, running_since=None).action is None


def test_max_runtime_counts_from_the_later_of_launch_and_the_handled_start() -> None:
    """Design: maxRuntime counts from the later of the resource's own start (EC2:
    LaunchTime) and the latest start event handled for it: a scheduled start renews the
    clock, so a box started by hand the night before is not stopped in office hours."""
    schedule = parse_schedule({"start": "0 8 * * *", "stop": "0 18 * * *", "maxRuntime": "12h"})
    morning = Event(at("2026-11-24 08:00").astimezone(UTC), "start")
    evening = Event(at("2026-11-23 18:00").astimezone(UTC), "stop")
    night = at("2026-11-23 21:00")
    # Started by hand at 21:00; the 08:00 start was handled (found it running): at 09:30
    # it has run 12.5 hours, but the clock restarted at 08:00.
    kept = decide(schedule, morning, R, at("2026-11-24 09:30"), running_since=night)
    assert kept.action is None
    # The pass that handles the 08:00 start itself (state still the evening's stop).
    handling = decide(schedule, evening, R, at("2026-11-24 08:10"), running_since=night)
    assert (handling.action, handling.reason) == (None, "already-running")
    # Without a handled start (a maxRuntime-only box), LaunchTime is the clock.
    alone = parse_schedule({"stop": "0 18 * * *", "maxRuntime": "12h"})
    over = decide(alone, evening, R, at("2026-11-24 09:30"), running_since=night)
    assert (over.action, over.reason) == ("stop", "max-runtime")
    # Started by the 08:00 event itself: untouched until 20:00 (the 18:00 stop comes first).
    fresh = decide(schedule, morning, R, at("2026-11-24 17:59"), running_since=morning.time)
    assert fresh.action is None


def test_enforce_does_not_undo_a_max_runtime_stop() -> None:
    """enforce + maxRuntime: the max-runtime stop (recorded at now, newer than the latest
    event) holds until the next event; enforce does not start the box again."""
    schedule = parse_schedule(
        {"start": "0 8 * * *", "stop": "0 18 * * *", "maxRuntime": "4h", "enforce": True}
    )
    morning = Event(at("2026-11-24 08:00").astimezone(UTC), "start")
    capped = decide(schedule, morning, R, at("2026-11-24 12:15"), running_since=morning.time)
    assert (capped.action, capped.reason) == ("stop", "max-runtime")
    assert capped.record is not None
    later = decide(schedule, capped.record, S, at("2026-11-24 12:30"))
    assert later == d(None, "handled", None, morning)
    # The next event is acted on as usual (and enforced from then on).
    evening = decide(schedule, capped.record, R, at("2026-11-24 18:00"))
    assert (evening.action, evening.reason) == ("stop", "enforce")


# --- whole weeks, without AWS ------------------------------------------------------------


def simulate(
    schedule: Schedule, moments: list[datetime], power: Power = S
) -> list[tuple[datetime, Power, Decision]]:
    """Passes at `moments`; the power follows each action and the state tag each record."""
    state: Event | None = None
    seen = []
    for now in moments:
        decision = decide(schedule, state, power, now)
        if decision.action is not None:
            power = R if decision.action == "start" else S
        if decision.record is not None:
            state = decision.record
        seen.append((now, power, decision))
    return seen


def office_hours(local: datetime) -> bool:
    """Monday to Friday, 08:00 up to (not including) the 18:00 tick after the 17:55 stop."""
    return local.weekday() < 5 and 8 <= local.hour < 18


@pytest.mark.parametrize("seconds_late", [0, 7, 59])
def test_seed_week_at_15_minute_ticks(seconds_late: int) -> None:
    """Running exactly during working hours, to within one tick, every day of the week."""
    first = at("2026-11-22 00:00") + timedelta(seconds=seconds_late)  # a Sunday
    moments = ticks(first, first + timedelta(days=8))
    for now, power, _ in simulate(OFFICE, moments):
        assert (power is R) == office_hours(now), now
    acted = [(now, dec.action) for now, _, dec in simulate(OFFICE, moments) if dec.action]
    # One start and one stop per working day; nothing twice.
    assert len(acted) == 10


@pytest.mark.parametrize(
    ("tz", "first"),
    [
        ("Europe/London", "2026-03-26 00:00"),  # over the spring-forward Sunday
        ("Europe/London", "2026-10-22 00:00"),  # over the fall-back Sunday
        ("America/New_York", "2026-03-05 00:00"),
        ("America/New_York", "2026-10-29 00:00"),
    ],
)
def test_seed_weeks_over_dst_changes_follow_local_time(tz: str, first: str) -> None:
    """The box follows the local office clock on both sides of a DST change."""
    schedule = parse_schedule({"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "tz": tz})
    start = at(first, tz)
    # Ticks are every 15 minutes of real time, on the UTC quarter hours.
    moments = ticks(start.astimezone(UTC), start.astimezone(UTC) + timedelta(days=7))
    history = simulate(schedule, moments)
    for now, power, _ in history:
        assert (power is R) == office_hours(now.astimezone(ZoneInfo(tz))), now
    assert sum(1 for _, _, dec in history if dec.action) == 10


def test_weekend_cron_inside_the_gap_still_acts_once() -> None:
    """A 01:30 London stop on the spring-forward night acts once, at 02:00 BST."""
    schedule = parse_schedule({"start": "0 9 * * *", "stop": "30 1 * * *", "tz": "Europe/London"})
    moments = ticks(at("2026-03-28 12:00"), at("2026-03-29 12:00"))
    history = simulate(schedule, moments, power=R)
    stops = [now for now, _, dec in history if dec.action == "stop"]
    assert stops == [at("2026-03-29 01:00")]  # 02:00 BST, the first tick after the gap


def test_person_starting_after_hours_keeps_it_until_the_next_stop() -> None:
    """Stopped at 18:00, started by hand at 21:00: untouched overnight and all next day,
    stopped again by the next 17:55 stop."""
    state: Event | None = MONDAY_STOP
    power = R  # started by hand at 21:00
    for now in ticks(at("2026-11-23 21:00"), at("2026-11-24 18:00")):
        decision = decide(OFFICE, state, power, now)
        if now < at("2026-11-24 08:00"):
            assert decision == d(None, "handled", None, MONDAY_STOP), now
        if decision.action:
            power = R if decision.action == "start" else S
        state = decision.record or state
        if now < at("2026-11-24 17:55"):
            assert power is R, now
    assert power is S


def test_retry_acts_again_on_the_recorded_event_with_its_own_reason() -> None:
    """Verification found the recorded start did not take: the same event, acted on again."""
    schedule = parse_schedule({"start": "0 8 * * *", "stop": "0 18 * * *", "tz": "UTC"})
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    state = Event(datetime(2026, 11, 23, 8, 0, tzinfo=UTC), "start")
    assert decide(schedule, state, Power.STOPPED, now).reason == "handled"
    retried = decide(schedule, state, Power.STOPPED, now, retry=True)
    assert (retried.action, retried.reason, retried.record) == ("start", "retry", state)
    # Already running after all, or an older event than the latest: no retry of it.
    assert decide(schedule, state, Power.RUNNING, now, retry=True).action is None
    later = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
    assert decide(schedule, state, Power.RUNNING, later, retry=True).reason == "new-event"
