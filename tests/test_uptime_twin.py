"""A JSON schedule's uptime twin (`core.uptime.to_uptime`): the uptime value with exactly
its transitions, or None when the uptime form cannot say it. Checked here independently
of the twin's own read-back: each twin is parsed and its events compared with the JSON
schedule's over whole years, clock changes included."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from hypothesis import given, settings
from hypothesis import strategies as st

from powercycle.cli import main
from powercycle.core.schedule import Event, Schedule, parse_schedule
from powercycle.core.tags import tag_safe
from powercycle.core.uptime import parse_uptime, to_uptime

ZONES = ("UTC", "Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata")
DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def events(schedule: Schedule, begin: datetime, days: int) -> list[Event]:
    end = begin + timedelta(days=days)
    return list(itertools.takewhile(lambda e: e.time <= end, schedule.events_after(begin)))


def same_year(a: Schedule, b: Schedule) -> bool:
    """The same events through 2027, both clock changes of every zone above included."""
    begin = datetime(2027, 1, 1, tzinfo=UTC)
    return events(a, begin, 365) == events(b, begin, 365)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "tz": "Europe/London"},
            "Mon-Fri 08:00-17:55 Europe/London",
        ),
        (  # different stops on Friday: two ranges
            {"start": "0 8 * * mon-fri", "stop": ["55 17 * * 1-4", "0 16 * * 5"]},
            "Mon-Thu 08:00-17:55 + Fri 08:00-16:00 UTC",
        ),
        (  # lunch off: two ranges a day
            {
                "start": ["0 8 * * 1-5", "0 13 * * 1-5"],
                "stop": ["0 12 * * 1-5", "0 18 * * 1-5"],
                "tz": "Europe/Paris",
            },
            "Mon-Fri 08:00-12:00 + Mon-Fri 13:00-18:00 Europe/Paris",
        ),
        ({"start": "0 22 * * fri", "stop": "0 6 * * sat"}, "Fri 22:00-06:00 UTC"),
        ({"start": "0 0 * * 1-5", "stop": "0 0 * * 2-6"}, "Mon-Fri 00:00-24:00 UTC"),
        ({"start": "0 8 * * 6,0,1", "stop": "0 20 * * 6,0,1"}, "Sat-Mon 08:00-20:00 UTC"),
        ({"start": "30 9 * * 1,3,5", "stop": "0 12 * * 1,3,5"}, "Mon+Wed+Fri 09:30-12:00 UTC"),
        ({"start": "0 8 * * 7", "stop": "0 9 * * 0"}, "Sun 08:00-09:00 UTC"),
        (  # the repeated and the missing hour: the same crons, so the same events
            {"start": "30 1 * * *", "stop": "30 2 * * *", "tz": "America/New_York"},
            "Mon-Sun 01:30-02:30 America/New_York",
        ),
    ],
)
def test_the_twin_of_a_json_schedule(doc: dict[str, object], expected: str) -> None:
    schedule = parse_schedule(doc)
    assert to_uptime(schedule) == expected
    assert tag_safe(expected)
    assert same_year(parse_uptime(expected), schedule)


@pytest.mark.parametrize(
    "doc",
    [
        {"start": "0 8 * * 1-5"},  # start only
        {"stop": "0 19 * * *"},  # stop only
        {"start": "0 8 * * 1-5", "stop": "0 18 * * *"},  # two stops in a row at the weekend
        {"start": "0 8 * * 1-5", "stop": "0 8 * * 2-6"},  # 24 hours from 08:00
        {"start": "0 8 * * 1", "stop": "0 18 * * 3"},  # longer than a day
        {"start": "0 8 1 * *", "stop": "0 18 1 * *"},  # a day of the month
        {"start": "0 8 * 1-6 1-5", "stop": "0 18 * 1-6 1-5"},  # some months
        {"start": "0 8 L * *", "stop": "0 18 L * *"},  # the last day of the month
        {"start": "0 8 * * 1#2", "stop": "0 18 * * 1#2"},  # the second Monday
        {"start": "0 8,9 * * 1-5", "stop": "0 18 * * 1-5"},  # two hours
        {"start": "*/30 8 * * 1-5", "stop": "0 18 * * 1-5"},  # a step
        {"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "enforce": True},
        {"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "skip": ["2026-12-25"]},
        {"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "maxRuntime": "4h"},
        {"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "hibernate": True},
        {"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "fallbackTypes": ["t3.large"]},
        {"maxRuntime": "4h"},
    ],
)
def test_no_twin_when_the_uptime_form_cannot_say_it(doc: dict[str, object]) -> None:
    assert to_uptime(parse_schedule(doc)) is None


def test_a_twin_that_would_differ_is_not_given() -> None:
    """A start at 00:00 every day with stops identical to it (start wins every tie) is up
    all the time: its twin is the uptime that says so, and reads back the same."""
    schedule = parse_schedule({"start": "0 0 * * *", "stop": "0 0 * * *"})
    value = to_uptime(schedule)
    assert value == "Mon-Sun 00:00-24:00 UTC"
    assert same_year(parse_uptime(value), schedule)


RANGE = st.tuples(
    st.sets(st.integers(0, 6), min_size=1),
    st.integers(0, 23 * 60 + 59),
    st.integers(1, 24 * 60 - 1),  # length: less than a day
)


def uptime_value(ranges: list[tuple[set[int], int, int]], zone: str) -> str:
    def clock(minutes: int) -> str:
        return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"

    parts = [
        f"{'+'.join(DAYS[d] for d in sorted(days))} {clock(first)}-{clock(first + length)}"
        for days, first, length in ranges
    ]
    return f"{' + '.join(parts)} {zone}"


@settings(max_examples=60, deadline=None)
@given(st.lists(RANGE, min_size=1, max_size=3), st.sampled_from(ZONES))
def test_round_trip_uptime_json_uptime(ranges: list[tuple[set[int], int, int]], zone: str) -> None:
    """Any uptime's schedule (its JSON twin) gets back an uptime with the same events, when
    its ranges do not overlap; overlapping ones may have none, never a wrong one."""
    schedule = parse_uptime(uptime_value(ranges, zone))
    again = to_uptime(schedule)
    if again is not None:
        assert tag_safe(again)
        assert same_year(parse_uptime(again), schedule)
    elif len(ranges) == 1:
        pytest.fail(f"one range, no twin: {uptime_value(ranges, zone)}")


CRON = st.builds(
    lambda m, h, days: f"{m} {h} * * {','.join(str(d) for d in sorted(days))}",
    st.sampled_from([0, 30, 55]),
    st.sampled_from([0, 1, 2, 8, 17, 23]),
    st.sets(st.integers(0, 7), min_size=1, max_size=7),
)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(CRON, min_size=1, max_size=3),
    st.lists(CRON, min_size=1, max_size=3),
    st.sampled_from(ZONES),
)
def test_any_twin_given_has_the_same_events(starts: list[str], stops: list[str], zone: str) -> None:
    schedule = parse_schedule({"start": starts, "stop": stops, "tz": zone})
    value = to_uptime(schedule)
    if value is not None:
        assert same_year(parse_uptime(value), schedule)


# --- `check` shows the uptime twin of inline JSON ------------------------------------------


def test_check_shows_the_uptime_twin_of_inline_json(capsys: pytest.CaptureFixture[str]) -> None:
    value = '{"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "tz": "Europe/London"}'
    with freeze_time("2026-11-27 12:00:00"):
        code = main(["check", value, "--count", "1"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert out.splitlines()[:2] == [
        "valid schedule, zone Europe/London",
        "uptime twin (tag-safe): Mon-Fri 08:00-17:55 Europe/London",
    ]
    with freeze_time("2026-11-27 12:00:00"):
        assert main(["check", "--json", value]) == 0
    assert json.loads(capsys.readouterr().out)["uptimeTwin"] == "Mon-Fri 08:00-17:55 Europe/London"


def test_check_shows_no_uptime_twin_when_there_is_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    value = '{"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "skip": ["2026-12-25"]}'
    with freeze_time("2026-11-27 12:00:00"):
        assert main(["check", "--json", value]) == 0
    assert "uptimeTwin" not in json.loads(capsys.readouterr().out)
