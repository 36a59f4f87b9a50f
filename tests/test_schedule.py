"""schedule.py: parsing and validation of the tag's JSON, and the events crons produce
(latest event, next events), including skip dates and the DST rules of the module docstring."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from powercycle.core.schedule import (
    Event,
    ResumeOptions,
    Schedule,
    ScheduleError,
    format_utc,
    parse_schedule,
    parse_schedule_text,
    wall_to_instant,
)
from tests.helpers import SEED, at


def utc(text: str) -> datetime:
    return at(text, "UTC").astimezone(UTC)


def ev(action: str, text: str) -> Event:
    return Event(utc(text), action)  # type: ignore[arg-type]


def upcoming(schedule: Schedule, after: datetime, n: int) -> list[Event]:
    return list(itertools.islice(schedule.events_after(after), n))


# --- parsing -----------------------------------------------------------------------------


def test_seed_schedule_parses_with_defaults() -> None:
    """The ec2-powercycle README's tag value parses as is, read in UTC by default."""
    schedule = parse_schedule_text(SEED)
    assert schedule.start == ("0 8 * * 1-5",)
    assert schedule.stop == ("55 17 * * 1-5",)
    assert schedule.tz == ZoneInfo("UTC")
    assert (schedule.enforce, schedule.hibernate) == (False, False)
    assert (schedule.skip, schedule.max_runtime, schedule.resume) == ((), None, None)


def test_default_zone_applies_and_tz_key_overrides_it() -> None:
    """`tz` wins over the configured default zone, which wins over UTC."""
    assert parse_schedule_text(SEED, default_tz="Europe/Paris").tz.key == "Europe/Paris"
    doc = '{"stop": "0 18 * * *", "tz": "Asia/Tokyo"}'
    assert parse_schedule_text(doc, default_tz="Europe/Paris").tz.key == "Asia/Tokyo"


def test_every_option_parses() -> None:
    """Lists of crons, names, options, skip dates, maxRuntime and resume all parse."""
    schedule = parse_schedule(
        {
            "start": ["0 8 * * mon-fri", "0  10 * * sat"],
            "stop": "55 17 * * MON-FRI",
            "tz": "America/New_York",
            "enforce": True,
            "hibernate": True,
            "skip": ["2026-12-28..2027-01-01", "2026-12-25"],
            "maxRuntime": "4h",
            "resume": {"instanceType": "m5.large", "spot": True},
        }
    )
    assert schedule.start == ("0 8 * * mon-fri", "0 10 * * sat")  # whitespace normalised
    assert schedule.stop == ("55 17 * * MON-FRI",)
    assert schedule.enforce and schedule.hibernate
    assert schedule.skip == (
        (date(2026, 12, 25), date(2026, 12, 25)),
        (date(2026, 12, 28), date(2027, 1, 1)),
    )
    assert schedule.max_runtime == timedelta(hours=4)
    assert schedule.resume == ResumeOptions(instance_type="m5.large", spot=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("30m", timedelta(minutes=30)), ("4h", timedelta(hours=4)), ("2d", timedelta(days=2))],
)
def test_max_runtime_units(value: str, expected: timedelta) -> None:
    assert parse_schedule({"stop": "0 18 * * *", "maxRuntime": value}).max_runtime == expected


def test_only_start_or_only_stop_is_valid() -> None:
    """Stop-only (people start by hand) and start-only schedules are valid."""
    assert parse_schedule({"stop": "0 19 * * *"}).start == ()
    assert parse_schedule({"start": "0 7 * * *"}).stop == ()


def test_max_runtime_alone_is_valid_and_has_no_events() -> None:
    """`{"maxRuntime": "8h"}`: a box that cleans up after itself (the design)."""
    schedule = parse_schedule({"maxRuntime": "8h"})
    assert (schedule.start, schedule.stop, schedule.max_runtime) == ((), (), timedelta(hours=8))
    assert schedule.latest_event(utc("2026-11-23 12:00")) is None
    assert schedule.next_event(utc("2026-11-23 12:00")) is None


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ('{"start": "0 8 * * 1-5", ', ["not valid JSON", '{"start": "0 8 * * 1-5", ']),
        ("ec2Powercycle", ["not valid JSON", "ec2Powercycle"]),
        ('["0 8 * * 1-5"]', ["JSON object", "a list"]),
        ('"0 8 * * 1-5"', ["JSON object", "a string"]),
        ("42", ["JSON object", "a number"]),
        ("null", ["JSON object", "null"]),
        ("{}", ['"start", "stop" or both']),
        ('{"tz": "Europe/London"}', ['"start", "stop" or both']),
        ('{"start": [], "stop": []}', ["both empty"]),
        ('{"start": "0 8 * * 1-5", "stop": "55 25 * * 1-5"}', ['"stop"', "55 25 * * 1-5"]),
        ('{"start": "0 8 * * 1-5 2026"}', ['"start"', "0 8 * * 1-5 2026", "6 fields"]),
        ('{"start": "0 8 * *"}', ['"start"', "0 8 * *", "4 fields"]),
        ('{"start": "0 8 * * funday"}', ['"start"', "0 8 * * funday"]),
        ('{"stop": "0 0 30 2 *"}', ['"stop"', "0 0 30 2 *", "never fires"]),
        ('{"stop": "R 18 * * *"}', ['"stop"', "R 18 * * *", "R (random)"]),
        ('{"stop": "0 18 * * *", "tz": "Europe"}', ['"tz"', "Europe"]),
        ('{"stop": "0 18 * * *", "maxRuntime": "9999999999d"}', ['"maxRuntime"', "9999999999d"]),
        ('{"stop": "0 18 * * *", "skip": ["0001-01-01..2030-01-01"]}', ['"skip"', "0001"]),
        ('{"start": 8}', ['"start"', "8", "cron string"]),
        ('{"start": ["0 8 * * *", 9]}', ['"start"', "9"]),
        ('{"start": null}', ['"start"', "null"]),
        ('{"stop": "0 18 * * *", "tz": "Europe/Londn"}', ['"tz"', "Europe/Londn"]),
        ('{"stop": "0 18 * * *", "tz": "../../etc/passwd"}', ['"tz"', "../../etc/passwd"]),
        ('{"stop": "0 18 * * *", "tz": 1}', ['"tz"', "1"]),
        ('{"stop": "0 18 * * *", "enforce": "yes"}', ['"enforce"', "'yes'"]),
        ('{"stop": "0 18 * * *", "hibernate": 1}', ['"hibernate"', "1"]),
        ('{"stop": "0 18 * * *", "stat": "0 8 * * *"}', ["unknown key", "'stat'", "0 8 * * *"]),
        ('{"stop": "0 18 * * *", "skip": "2026-12-25"}', ['"skip"', "2026-12-25"]),
        ('{"stop": "0 18 * * *", "skip": ["25/12/2026"]}', ['"skip"', "25/12/2026"]),
        ('{"stop": "0 18 * * *", "skip": ["2027-01-02..2027-01-01"]}', ['"skip"', "ends before"]),
        ('{"stop": "0 18 * * *", "maxRuntime": "4 hours"}', ['"maxRuntime"', "4 hours"]),
        ('{"stop": "0 18 * * *", "maxRuntime": "0h"}', ['"maxRuntime"', "0h"]),
        ('{"stop": "0 18 * * *", "maxRuntime": 4}', ['"maxRuntime"', "4"]),
        ('{"stop": "0 18 * * *", "resume": "m5.large"}', ['"resume"', "m5.large"]),
        ('{"stop": "0 18 * * *", "resume": {"size": 3}}', ['"resume"', "'size'"]),
        ('{"stop": "0 18 * * *", "resume": {"spot": "yes"}}', ["resume.spot", "'yes'"]),
    ],
)
def test_invalid_schedules_name_the_key_and_the_value(text: str, needles: list[str]) -> None:
    """Every rejection says what is wrong, quoting the key and the offending value."""
    with pytest.raises(ScheduleError) as caught:
        parse_schedule_text(text)
    message = str(caught.value)
    for needle in needles:
        assert needle in message, (needle, message)


def test_equal_documents_share_one_parse() -> None:
    """A thousand instances with one tag value cost one parse (cached on the document)."""
    first = parse_schedule({"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5"})
    again = parse_schedule_text(SEED)
    assert first is again
    assert parse_schedule({"start": "0 8 * * 1-5"}) is not first


@pytest.mark.parametrize(
    ("valid", "invalid"),
    [({"enforce": True}, {"enforce": 1}), ({"hibernate": False}, {"hibernate": 0})],
)
def test_a_cached_parse_never_answers_for_a_different_type(
    valid: dict[str, object], invalid: dict[str, object]
) -> None:
    """true == 1 in Python: the parse cache must still tell them apart."""
    assert parse_schedule({"stop": "0 18 * * *", **valid})
    with pytest.raises(ScheduleError, match="must be true or false"):
        parse_schedule({"stop": "0 18 * * *", **invalid})


# --- the latest event --------------------------------------------------------------------


SEED_SCHEDULE = parse_schedule_text(SEED)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Monday 2026-11-23.
        ("2026-11-23 07:59:59", ev("stop", "2026-11-20 17:55")),  # Friday's stop
        ("2026-11-23 08:00:00", ev("start", "2026-11-23 08:00")),  # the current minute counts
        ("2026-11-23 08:00:59", ev("start", "2026-11-23 08:00")),
        ("2026-11-23 11:00:00", ev("start", "2026-11-23 08:00")),
        ("2026-11-23 17:54:59", ev("start", "2026-11-23 08:00")),
        ("2026-11-23 17:55:00", ev("stop", "2026-11-23 17:55")),
        ("2026-11-24 03:00:00", ev("stop", "2026-11-23 17:55")),
        ("2026-11-28 12:00:00", ev("stop", "2026-11-27 17:55")),  # Saturday
        ("2026-11-29 23:59:00", ev("stop", "2026-11-27 17:55")),  # Sunday night
    ],
)
def test_latest_event_of_the_seed(now: str, expected: Event) -> None:
    assert SEED_SCHEDULE.latest_event(utc(now)) == expected


def test_latest_event_is_the_same_whatever_zone_now_is_given_in() -> None:
    now = utc("2026-11-23 11:00")
    assert SEED_SCHEDULE.latest_event(now.astimezone(ZoneInfo("Asia/Kolkata"))) == ev(
        "start", "2026-11-23 08:00"
    )


def test_next_event_is_the_first_of_events_after() -> None:
    assert SEED_SCHEDULE.next_event(utc("2026-11-23 08:00")) == ev("stop", "2026-11-23 17:55")
    assert SEED_SCHEDULE.next_event(utc("2026-11-27 18:00")) == ev("start", "2026-11-30 08:00")


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SEED_SCHEDULE.latest_event(datetime(2026, 11, 23, 8, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        next(SEED_SCHEDULE.events_after(datetime(2026, 11, 23, 8, 0)))


def test_start_wins_a_tie() -> None:
    """A start and a stop at the same minute: never disrupt on ambiguity."""
    both = parse_schedule({"start": "0 8 * * *", "stop": "0 8 * * *"})
    assert both.latest_event(utc("2026-11-23 09:00")) == ev("start", "2026-11-23 08:00")
    # Also when the stop is listed among several crons and the start is not first.
    lists = parse_schedule(
        {"stop": ["0 18 * * *", "0 8 * * *"], "start": ["0 7 * * 6", "0 8 * * *"]}
    )
    assert lists.latest_event(utc("2026-11-23 08:00")) == ev("start", "2026-11-23 08:00")
    assert upcoming(both, utc("2026-11-23 09:00"), 2) == [
        ev("start", "2026-11-24 08:00"),
        ev("start", "2026-11-25 08:00"),
    ]


def test_a_list_of_crons_takes_the_latest_firing_of_any() -> None:
    """Weekdays 08:00-18:00 and Saturdays 10:00-12:00."""
    schedule = parse_schedule(
        {"start": ["0 8 * * 1-5", "0 10 * * 6"], "stop": ["0 18 * * 1-5", "0 12 * * 6"]}
    )
    saturday = "2026-11-28"
    assert schedule.latest_event(utc(f"{saturday} 09:59")) == ev("stop", "2026-11-27 18:00")
    assert schedule.latest_event(utc(f"{saturday} 10:00")) == ev("start", f"{saturday} 10:00")
    assert schedule.latest_event(utc(f"{saturday} 13:00")) == ev("stop", f"{saturday} 12:00")
    assert schedule.latest_event(utc("2026-11-30 08:30")) == ev("start", "2026-11-30 08:00")
    assert upcoming(schedule, utc("2026-11-27 12:00"), 4) == [
        ev("stop", "2026-11-27 18:00"),
        ev("start", "2026-11-28 10:00"),
        ev("stop", "2026-11-28 12:00"),
        ev("start", "2026-11-30 08:00"),
    ]


def test_start_only_and_stop_only() -> None:
    start_only = parse_schedule({"start": "0 8 * * 1-5"})
    stop_only = parse_schedule({"stop": "0 19 * * *"})
    assert start_only.latest_event(utc("2026-11-28 20:00")) == ev("start", "2026-11-27 08:00")
    assert stop_only.latest_event(utc("2026-11-23 18:59")) == ev("stop", "2026-11-22 19:00")


def test_cron_in_the_schedules_zone() -> None:
    """08:00 in Tokyo is 23:00 UTC the day before."""
    tokyo = parse_schedule({"start": "0 8 * * 1-5", "stop": "0 18 * * 1-5", "tz": "Asia/Tokyo"})
    assert tokyo.latest_event(utc("2026-11-22 23:00")) == ev("start", "2026-11-22 23:00")
    assert tokyo.latest_event(utc("2026-11-22 22:59")) == ev("stop", "2026-11-20 09:00")


def test_day_of_month_and_day_of_week_follow_cron() -> None:
    """Vixie cron: when both are restricted, either one matching fires."""
    schedule = parse_schedule({"stop": "0 18 1 * mon"})
    assert [e.time.date() for e in upcoming(schedule, utc("2026-11-25 00:00"), 3)] == [
        date(2026, 11, 30),  # a Monday
        date(2026, 12, 1),  # the first
        date(2026, 12, 7),
    ]


def test_rare_cron_is_found_years_back() -> None:
    """29 February: the latest firing is almost three years before."""
    leap = parse_schedule({"stop": "0 12 29 2 *"})
    assert leap.latest_event(utc("2026-11-23 00:00")) == ev("stop", "2024-02-29 12:00")


# --- skip dates --------------------------------------------------------------------------


def test_skip_dates_fire_no_event() -> None:
    """On Christmas (a Friday) the office schedule does not start the box."""
    schedule = parse_schedule(
        {"start": "0 8 * * 1-5", "stop": "0 18 * * 1-5", "skip": ["2026-12-25"]}
    )
    assert schedule.latest_event(utc("2026-12-25 12:00")) == ev("stop", "2026-12-24 18:00")
    assert schedule.latest_event(utc("2026-12-28 08:00")) == ev("start", "2026-12-28 08:00")
    assert upcoming(schedule, utc("2026-12-24 12:00"), 2) == [
        ev("stop", "2026-12-24 18:00"),
        ev("start", "2026-12-28 08:00"),
    ]


def test_skip_range_and_local_dates() -> None:
    """A range skips every day in it, by the schedule's local date (Sydney is UTC+11)."""
    schedule = parse_schedule(
        {
            "start": "0 8 * * *",
            "stop": "0 18 * * *",
            "tz": "Australia/Sydney",
            "skip": ["2026-12-24..2026-12-26"],
        }
    )
    # 2026-12-27 08:00 in Sydney is 2026-12-26 21:00 UTC: not skipped (local date counts).
    assert schedule.latest_event(utc("2026-12-26 21:00")) == ev("start", "2026-12-26 21:00")
    assert schedule.latest_event(utc("2026-12-26 20:59")) == ev("stop", "2026-12-23 07:00")
    assert upcoming(schedule, utc("2026-12-23 00:00"), 2) == [
        ev("stop", "2026-12-23 07:00"),
        ev("start", "2026-12-26 21:00"),
    ]


def test_everything_skipped_means_no_event() -> None:
    schedule = parse_schedule({"stop": "0 18 * * *", "skip": ["2015-01-01..2035-12-31"]})
    assert schedule.latest_event(utc("2026-11-23 12:00")) is None
    assert upcoming(schedule, utc("2026-11-23 12:00"), 1) == []


# --- next events -------------------------------------------------------------------------


def test_events_after_is_strictly_after_and_ordered() -> None:
    assert upcoming(SEED_SCHEDULE, utc("2026-11-23 08:00"), 3) == [
        ev("stop", "2026-11-23 17:55"),
        ev("start", "2026-11-24 08:00"),
        ev("stop", "2026-11-24 17:55"),
    ]
    assert upcoming(SEED_SCHEDULE, utc("2026-11-27 18:00"), 1) == [ev("start", "2026-11-30 08:00")]


def test_event_tag_value_is_utc_iso() -> None:
    event = Event(at("2026-11-23 18:00", "Europe/Paris"), "stop")
    assert event.tag_value() == "stop@2026-11-23T17:00:00Z"
    assert format_utc(at("2026-07-01 09:30:15", "America/New_York")) == "2026-07-01T13:30:15Z"


# --- DST: the rules of the module docstring ----------------------------------------------
#
# Europe/London:    2026-03-29 01:00 GMT -> 02:00 BST (01:00-01:59 does not exist)
#                   2026-10-25 02:00 BST -> 01:00 GMT (01:00-01:59 happens twice)
# America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT (02:00-02:59 does not exist)
#                   2026-11-01 02:00 EDT -> 01:00 EST (01:00-01:59 happens twice)


def test_office_hours_follow_local_time_across_dst() -> None:
    """08:00 London is 08:00 UTC in winter and 07:00 UTC in summer."""
    london = parse_schedule({"start": "0 8 * * *", "stop": "0 18 * * *", "tz": "Europe/London"})
    assert upcoming(london, utc("2026-03-28 12:00"), 4) == [
        ev("stop", "2026-03-28 18:00"),
        ev("start", "2026-03-29 07:00"),
        ev("stop", "2026-03-29 17:00"),
        ev("start", "2026-03-30 07:00"),
    ]
    assert upcoming(london, utc("2026-10-24 12:00"), 3) == [
        ev("stop", "2026-10-24 17:00"),
        ev("start", "2026-10-25 08:00"),
        ev("stop", "2026-10-25 18:00"),
    ]
    new_york = parse_schedule({"start": "0 8 * * *", "tz": "America/New_York"})
    assert new_york.latest_event(utc("2026-03-08 12:30")) == ev("start", "2026-03-08 12:00")
    assert new_york.latest_event(utc("2026-11-01 12:59")) == ev("start", "2026-10-31 12:00")
    assert new_york.latest_event(utc("2026-11-01 13:00")) == ev("start", "2026-11-01 13:00")


@pytest.mark.parametrize(
    ("tz", "cron", "day", "expected_utc"),
    [
        # A wall time in the skipped hour fires at the first minute after the gap.
        ("Europe/London", "30 1 * * *", "2026-03-29", "2026-03-29 01:00"),  # 02:00 BST
        ("Europe/London", "0 1 * * *", "2026-03-29", "2026-03-29 01:00"),
        ("America/New_York", "30 2 * * *", "2026-03-08", "2026-03-08 07:00"),  # 03:00 EDT
        ("America/New_York", "59 2 * * *", "2026-03-08", "2026-03-08 07:00"),
        # A wall time of the repeated hour fires once, at its first occurrence.
        ("Europe/London", "30 1 * * *", "2026-10-25", "2026-10-25 00:30"),  # 01:30 BST
        ("America/New_York", "30 1 * * *", "2026-11-01", "2026-11-01 05:30"),  # 01:30 EDT
        # Just outside the changes nothing moves.
        ("Europe/London", "0 2 * * *", "2026-03-29", "2026-03-29 01:00"),  # 02:00 BST
        ("Europe/London", "0 2 * * *", "2026-10-25", "2026-10-25 02:00"),  # 02:00 GMT
        ("America/New_York", "0 3 * * *", "2026-03-08", "2026-03-08 07:00"),
        ("America/New_York", "0 2 * * *", "2026-11-01", "2026-11-01 07:00"),
    ],
)
def test_crons_inside_the_changed_hours(tz: str, cron: str, day: str, expected_utc: str) -> None:
    schedule = parse_schedule({"stop": cron, "tz": tz})
    day_start = at(f"{day} 00:00", tz)
    # Forward: exactly one firing that day, at the expected instant.
    fired = upcoming(schedule, day_start - timedelta(minutes=1), 3)
    on_the_day = [e for e in fired if e.time.astimezone(ZoneInfo(tz)).date() == day_start.date()]
    assert on_the_day == [ev("stop", expected_utc)]
    # Backward: the latest event flips at exactly that instant.
    instant = utc(expected_utc)
    assert schedule.latest_event(instant) == Event(instant, "stop")
    before = schedule.latest_event(instant - timedelta(seconds=1))
    assert before is not None and before.time < instant
    # And it is not fired again later that day (the second pass of a repeated hour).
    assert schedule.latest_event(at(f"{day} 23:59", tz)) == Event(instant, "stop")


def test_two_crons_in_the_gap_collapse_and_start_wins() -> None:
    """01:15 start and 01:45 stop on the spring-forward night both land on 02:00 BST."""
    schedule = parse_schedule({"start": "15 1 * * *", "stop": "45 1 * * *", "tz": "Europe/London"})
    gap_end = utc("2026-03-29 01:00")
    assert schedule.latest_event(gap_end) == Event(gap_end, "start")
    assert [e for e in upcoming(schedule, utc("2026-03-28 12:00"), 3) if e.time == gap_end] == [
        Event(gap_end, "start")
    ]


def test_hourly_cron_over_fall_back_fires_each_wall_time_once() -> None:
    """The repeated 01:00 (GMT) does not fire again after 01:00 (BST) did."""
    schedule = parse_schedule({"stop": "0 * * * *", "tz": "Europe/London"})
    fired = upcoming(schedule, utc("2026-10-24 22:30"), 4)
    assert [e.time for e in fired] == [
        utc("2026-10-24 23:00"),  # 00:00 BST
        utc("2026-10-25 00:00"),  # 01:00 BST
        utc("2026-10-25 02:00"),  # 02:00 GMT; 01:00 GMT is the same wall time again
        utc("2026-10-25 03:00"),
    ]


@pytest.mark.parametrize("fold", [0, 1])
def test_now_in_the_repeated_hour(fold: int) -> None:
    """`now` given as a local time of the repeated hour: both passes read correctly."""
    schedule = parse_schedule({"stop": "45 1 * * *", "start": "0 9 * * *", "tz": "Europe/London"})
    now = at("2026-10-25 01:30", "Europe/London", fold=fold)
    expected = (
        Event(utc("2026-10-24 08:00"), "start")  # 01:30 BST: 01:45 BST has not come yet
        if fold == 0
        else Event(utc("2026-10-25 00:45"), "stop")  # 01:30 GMT: 01:45 BST fired an hour ago
    )
    assert schedule.latest_event(now) == expected


def test_both_readings_of_the_repeated_hour_in_one_process() -> None:
    """The two readings of 01:30 are different instants; neither may answer for the other."""
    schedule = parse_schedule({"stop": "45 1 * * *", "start": "0 9 * * *", "tz": "Europe/London"})
    first = at("2026-10-25 01:30", "Europe/London", fold=0)
    second = at("2026-10-25 01:30", "Europe/London", fold=1)
    assert schedule.latest_event(first) == Event(utc("2026-10-24 08:00"), "start")
    assert schedule.latest_event(second) == Event(utc("2026-10-25 00:45"), "stop")


def test_wall_to_instant() -> None:
    london = ZoneInfo("Europe/London")
    assert wall_to_instant(datetime(2026, 3, 29, 1, 30), london) == utc("2026-03-29 01:00")
    assert wall_to_instant(datetime(2026, 10, 25, 1, 30), london) == utc("2026-10-25 00:30")
    assert wall_to_instant(datetime(2026, 7, 1, 12, 0), london) == utc("2026-07-01 11:00")
