"""The uptime form (`Mon-Fri 08:00-17:55 Europe/London`): its JSON twin, the events it
makes (past midnight, 24:00, several ranges, DST days), the shape rule that tells the
forms apart, and its errors, hostile values included."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from powercycle import sources
from powercycle.config import Config
from powercycle.core.schedule import Schedule, ScheduleError, parse_schedule
from powercycle.core.uptime import (
    EXAMPLE,
    MAX_LENGTH,
    MAX_RANGES,
    UptimeError,
    parse_uptime,
    shape,
    uptime_document,
)
from tests.helpers import at

DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def twin(value: str, default_tz: str = "UTC") -> dict[str, object]:
    return uptime_document(value, default_tz=default_tz)


def error(value: str, default_tz: str = "UTC") -> str:
    with pytest.raises(UptimeError) as caught:
        parse_uptime(value, default_tz=default_tz)
    message = str(caught.value)
    assert message.endswith(f"expected a shape like {EXAMPLE}")
    assert "\n" not in message and len(message) < 600
    return message


def events(schedule: Schedule, after: datetime, count: int) -> list[tuple[str, str]]:
    found = []
    for event in schedule.events_after(after):
        local = event.time.astimezone(schedule.tz)
        found.append((event.action, local.strftime("%a %Y-%m-%d %H:%M %Z")))
        if len(found) == count:
            break
    return found


# --- the JSON twin -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "start", "stop", "tz"),
    [
        ("Mon-Fri 08:00-17:55 Europe/London", "0 8 * * mon-fri", "55 17 * * mon-fri",
         "Europe/London"),
        ("mon-FRI 08:00-17:55", "0 8 * * mon-fri", "55 17 * * mon-fri", "UTC"),
        ("Wed 09:30-10:45", "30 9 * * wed", "45 10 * * wed", "UTC"),
        ("Monday-Friday 08:00-18:00", "0 8 * * mon-fri", "0 18 * * mon-fri", "UTC"),
        ("Mon+Wed+Fri 07:00-19:00", "0 7 * * mon,wed,fri", "0 19 * * mon,wed,fri", "UTC"),
        ("MON+wed+Fri 07:00-19:00", "0 7 * * mon,wed,fri", "0 19 * * mon,wed,fri", "UTC"),
        ("Sat-Sun 10:00-16:00", "0 10 * * sun,sat", "0 16 * * sun,sat", "UTC"),
        ("Sun-Fri 06:00-07:00", "0 6 * * sun-fri", "0 7 * * sun-fri", "UTC"),
        ("Fri-Mon 06:00-07:00", "0 6 * * sun-mon,fri-sat", "0 7 * * sun-mon,fri-sat", "UTC"),
        ("Mon-Sun 08:00-20:00", "0 8 * * *", "0 20 * * *", "UTC"),
        ("Mon-Wed+Fri 8:00-9:15", "0 8 * * mon-wed,fri", "15 9 * * mon-wed,fri", "UTC"),
        # Past midnight: the stop is on the next day, whatever the days are.
        ("Mon-Fri 22:00-06:00", "0 22 * * mon-fri", "0 6 * * tue-sat", "UTC"),
        ("Fri 22:00-06:00", "0 22 * * fri", "0 6 * * sat", "UTC"),
        ("Sat 23:30-00:15", "30 23 * * sat", "15 0 * * sun", "UTC"),
        ("Sat-Sun 20:00-02:00", "0 20 * * sun,sat", "0 2 * * sun-mon", "UTC"),
        ("Sun-Fri 22:00-06:00", "0 22 * * sun-fri", "0 6 * * mon-sat", "UTC"),
        # 24:00 ends a day: the next day's 00:00.
        ("Mon-Fri 00:00-24:00", "0 0 * * mon-fri", "0 0 * * tue-sat", "UTC"),
        ("Fri 18:00-24:00", "0 18 * * fri", "0 0 * * sat", "UTC"),
        ("Sat 08:00-24:00", "0 8 * * sat", "0 0 * * sun", "UTC"),
    ],
)  # fmt: skip
def test_the_twin(value: str, start: str, stop: str, tz: str) -> None:
    assert twin(value) == {"start": start, "stop": stop, "tz": tz}
    assert parse_uptime(value) == parse_schedule(twin(value))


def test_the_twin_of_several_ranges_is_lists_in_one_zone() -> None:
    value = "Mon-Fri 08:00-12:00 + Mon-Fri 13:00-18:00 Europe/Paris"
    assert twin(value) == {
        "start": ["0 8 * * mon-fri", "0 13 * * mon-fri"],
        "stop": ["0 12 * * mon-fri", "0 18 * * mon-fri"],
        "tz": "Europe/Paris",
    }
    schedule = parse_uptime(value)
    assert schedule.tz == ZoneInfo("Europe/Paris")
    assert events(schedule, at("2026-11-23 00:00", "Europe/Paris"), 4) == [
        ("start", "Mon 2026-11-23 08:00 CET"),
        ("stop", "Mon 2026-11-23 12:00 CET"),
        ("start", "Mon 2026-11-23 13:00 CET"),
        ("stop", "Mon 2026-11-23 18:00 CET"),
    ]


def test_the_same_cron_from_two_ranges_counts_once() -> None:
    assert twin("Mon 08:00-12:00 + Tue 08:00-12:00 + Mon 08:00-12:00") == {
        "start": ["0 8 * * mon", "0 8 * * tue"],
        "stop": ["0 12 * * mon", "0 12 * * tue"],
        "tz": "UTC",
    }


def test_every_day_all_day_is_always_up() -> None:
    """Its stop would be its start (start wins the tie): no stop in the twin."""
    assert twin("Mon-Sun 00:00-24:00") == {"start": "0 0 * * *", "tz": "UTC"}
    assert parse_uptime("Mon-Sun 00:00-24:00").latest_event(at("2026-11-25 12:00")) is not None


@pytest.mark.parametrize(
    ("value", "default_tz", "tz"),
    [
        ("Mon-Fri 08:00-17:00", "UTC", "UTC"),
        ("Mon-Fri 08:00-17:00", "America/New_York", "America/New_York"),
        ("Mon-Fri 08:00-17:00 Asia/Tokyo", "America/New_York", "Asia/Tokyo"),
        ("Mon-Fri 08:00-17:00 europe/london", "UTC", "Europe/London"),
        ("Mon-Fri 08:00-17:00 utc", "Europe/Paris", "UTC"),
        # A range without a zone takes the zone that ends the value.
        ("Mon 08:00-12:00 + Tue 09:00-10:00 Asia/Tokyo", "UTC", "Asia/Tokyo"),
        # A zone may end any range, and applies to it.
        ("Mon 08:00-12:00 Asia/Tokyo + Tue 09:00-10:00 Asia/Tokyo", "UTC", "Asia/Tokyo"),
        ("Mon 08:00-12:00 Asia/Tokyo + Tue 09:00-10:00", "Asia/Tokyo", "Asia/Tokyo"),
    ],
)
def test_zones(value: str, default_tz: str, tz: str) -> None:
    assert twin(value, default_tz)["tz"] == tz
    assert parse_uptime(value, default_tz=default_tz).tz == ZoneInfo(tz)


def test_ranges_in_different_zones_are_refused() -> None:
    """One schedule reads all its crons in one zone: refused, naming both zones."""
    message = error("Mon 08:00-12:00 Europe/London + Tue 09:00-10:00 Asia/Tokyo")
    assert "different zones (Asia/Tokyo, Europe/London)" in message
    # A range without a zone, when no zone ends the value, takes the default zone.
    message = error("Mon 08:00-12:00 Asia/Tokyo + Tue 09:00-10:00", default_tz="UTC")
    assert "different zones (Asia/Tokyo, UTC)" in message


def test_white_space_is_any_run_of_spaces() -> None:
    assert twin("  Mon-Fri   08:00-17:55\tEurope/London  ") == twin(EXAMPLE)
    spaced = twin("Mon 08:00-09:00   +   Tue 08:00-09:00")
    assert spaced == twin("Mon 08:00-09:00 + Tue 08:00-09:00")


# --- events: past midnight, 24:00, DST days ---------------------------------------------


def test_a_range_past_midnight_stops_on_the_next_day() -> None:
    """Fri 22:00 start -> Sat 06:00 stop; the stop's days shift by one."""
    schedule = parse_uptime("Mon-Fri 22:00-06:00 Europe/London")
    assert events(schedule, at("2026-11-27 12:00", "Europe/London"), 4) == [
        ("start", "Fri 2026-11-27 22:00 GMT"),
        ("stop", "Sat 2026-11-28 06:00 GMT"),
        ("start", "Mon 2026-11-30 22:00 GMT"),
        ("stop", "Tue 2026-12-01 06:00 GMT"),
    ]
    # Sunday 03:00: the last event is Saturday's 06:00 stop, not a Monday stop.
    latest = schedule.latest_event(at("2026-11-29 03:00", "Europe/London"))
    assert latest is not None and latest.action == "stop"
    assert latest.time == at("2026-11-28 06:00", "Europe/London")


def test_mon_fri_all_day_is_up_all_weekday() -> None:
    schedule = parse_uptime("Mon-Fri 00:00-24:00")
    for moment in ("2026-11-23 00:00", "2026-11-24 00:00", "2026-11-25 13:00", "2026-11-27 23:59"):
        latest = schedule.latest_event(at(moment))
        assert latest is not None and latest.action == "start", moment
    for moment in ("2026-11-28 00:00", "2026-11-29 23:59"):
        latest = schedule.latest_event(at(moment))
        assert latest is not None and latest.action == "stop", moment
    assert events(schedule, at("2026-11-27 12:00"), 2) == [
        ("stop", "Sat 2026-11-28 00:00 UTC"),
        ("start", "Mon 2026-11-30 00:00 UTC"),
    ]


def test_spring_forward_day_in_london() -> None:
    """2026-03-29, 01:00 GMT -> 02:00 BST: a stop at 01:30 (a wall time that does not
    exist) fires at the first minute after the gap, as its JSON twin's cron does."""
    schedule = parse_uptime("Sat-Sun 22:00-01:30 Europe/London")
    assert events(schedule, at("2026-03-28 12:00", "Europe/London"), 4) == [
        ("start", "Sat 2026-03-28 22:00 GMT"),
        ("stop", "Sun 2026-03-29 02:00 BST"),
        ("start", "Sun 2026-03-29 22:00 BST"),
        ("stop", "Mon 2026-03-30 01:30 BST"),
    ]
    latest = schedule.latest_event(datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    assert latest is not None and latest.action == "stop"
    assert latest.time == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_fall_back_day_in_new_york() -> None:
    """2026-11-01, 02:00 EDT -> 01:00 EST: a range over the repeated hour lasts one hour
    more, and the office hours keep their wall times on both sides of the change."""
    schedule = parse_uptime("Sat 23:00-03:00 + Mon-Fri 09:00-17:00 America/New_York")
    upcoming = list(schedule.events_after(at("2026-10-31 12:00", "America/New_York")))[:4]
    start, stop = upcoming[0], upcoming[1]
    assert (start.action, stop.action) == ("start", "stop")
    assert start.time == datetime(2026, 11, 1, 3, 0, tzinfo=UTC)  # Sat 23:00 EDT
    assert stop.time == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)  # Sun 03:00 EST
    assert stop.time - start.time == timedelta(hours=5)
    assert events(schedule, at("2026-11-01 12:00", "America/New_York"), 2) == [
        ("start", "Mon 2026-11-02 09:00 EST"),
        ("stop", "Mon 2026-11-02 17:00 EST"),
    ]


def test_uptime_and_its_twin_through_sources_agree() -> None:
    value = "Mon-Fri 22:00-06:00 + Sat 10:00-12:00 Europe/Berlin"
    resolved = sources.resolve_all([value, json.dumps(twin(value))], Config())
    assert resolved[value] == resolved[json.dumps(twin(value))] == parse_uptime(value)
    assert sources.describe_source(value) == "inline"


# --- property: an independent model of "is it up now" -------------------------------------


@st.composite
def ranges(draw: st.DrawFn) -> tuple[str, frozenset[int], int, int]:
    """(value, days, start minute, length in minutes) of a one-range uptime in UTC."""
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    items = [DAYS[d] for d in sorted(days)]
    start = draw(st.integers(0, 24 * 60 - 1))
    end = draw(st.integers(1, 24 * 60).filter(lambda m: m != start))
    length = (end - start) % (24 * 60) or 24 * 60
    text = f"{'+'.join(items)} {start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    return text, days, start, length


def up_by_model(days: frozenset[int], start: int, length: int, moment: datetime) -> bool:
    """Up when some window [day + start, + length) of the days holds the moment."""
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    for back in range(3):
        day = midnight - timedelta(days=back)
        opened = day + timedelta(minutes=start)
        if (day.isoweekday() % 7) in days and opened <= moment < opened + timedelta(minutes=length):
            return True
    return False


@settings(max_examples=150, deadline=None)
@given(
    ranges(),
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)).map(
        lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC)
    ),
)
def test_property_uptime_means_up_inside_its_windows(
    drawn: tuple[str, frozenset[int], int, int], moment: datetime
) -> None:
    value, days, start, length = drawn
    schedule = parse_uptime(value)
    assert schedule == parse_schedule(twin(value))
    latest = schedule.latest_event(moment)
    assert latest is not None
    assert (latest.action == "start") == up_by_model(days, start, length, moment), value


@settings(max_examples=60, deadline=None)
@given(ranges(), st.sampled_from(["Europe/London", "America/New_York", "Australia/Sydney"]))
def test_property_uptime_and_twin_make_the_same_transitions(
    drawn: tuple[str, frozenset[int], int, int], zone: str
) -> None:
    value = f"{drawn[0]} {zone}"
    schedule = parse_uptime(value)
    json_twin = parse_schedule(twin(value))
    after = datetime(2026, 3, 20, tzinfo=UTC)  # two weeks over the spring changes
    assert list(_take(schedule, after, 12)) == list(_take(json_twin, after, 12))


def _take(schedule: Schedule, after: datetime, count: int) -> list[object]:
    found = []
    for event in schedule.events_after(after):
        found.append(event)
        if len(found) == count:
            break
    return found


# --- which form a value is -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "form"),
    [
        ('{"start": "0 8 * * 1-5"}', "json"),
        ("  [1, 2]", "json"),
        ("https://h.example/s.json", "location"),
        ("HTTP://h.example/s.json", "location"),
        ("s3://b/k.json", "location"),
        (EXAMPLE, "uptime"),
        ("Mon-Fri", "uptime"),
        ("sat+sun", "uptime"),
        ("office hours", "uptime"),
        ("Mon-Fri\u00a008:00-17:00", "uptime"),
        ("office-hours", "name"),
        ("nightly", "name"),
        ("team_a.v2", "name"),
        ("sat-night", "name"),
        ("monday-batch", "name"),
        ("sunset", "name"),
        ("42", "name"),
        ("a/b", "unknown"),
        ("Mon-Fri08:00-17:00", "unknown"),
        ("office-hours#x", "unknown"),
        ("caf\u00e9", "unknown"),
    ],
)
def test_the_form_is_decided_by_shape(value: str, form: str) -> None:
    assert shape(value) == form


# --- errors quote the culprit and the shape --------------------------------------------------


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("Mon-Fri", "'Mon-Fri' needs a time range after it"),
        ("08:00-17:00 Europe/London", "'08:00-17:00' is not a day"),
        ("Mon-Fry 08:00-17:00", "'Mon-Fry' is not a day"),
        ("Mon--Fri 08:00-17:00", "'Mon--Fri' is not a day"),
        ("Mon++Fri 08:00-17:00", "'Mon++Fri' is not a day"),
        ("Mon-Fri 8-17", "'8-17' is not a time range HH:MM-HH:MM"),
        ("Mon-Fri 08:00", "'08:00' is not a time range"),
        ("Mon-Fri 08:00-17:60", "17:60 is not a time of day"),
        ("Mon-Fri 25:00-17:00", "25:00 is not a time of day"),
        ("Mon-Fri 08:00-24:01", "24:01 is not a time of day"),
        ("Mon-Fri 24:00-08:00", "24:00 may only end a range"),
        ("Mon-Fri 08:00-08:00", "'08:00-08:00' starts and stops at the same time"),
        ("Mon-Fri 00:00-00:00", "starts and stops at the same time"),
        ("Mon-Fri 08:00-17:00 Mars/Olympus", "'Mars/Olympus' is not a known IANA time zone"),
        ("Mon-Fri 08:00-17:00 ../etc/passwd", "'../etc/passwd' is not a known IANA time zone"),
        ("Mon-Fri 08:00-17:00 Europe", "'Europe' is not a known IANA time zone"),
        ("Mon-Fri 08:00-17:00 12:00-13:00", "'12:00-13:00' is a second time range"),
        ("Mon-Fri 08:00-17:00 UTC extra", "unexpected 'extra' after a range"),
        ("Mon-Fri 08:00-12:00+Mon-Fri 13:00-17:00", "join ranges with ' + '"),
        ("Mon-Fri 08:00-12:00 +", "an empty range beside ' + '"),
        ("+ Mon-Fri 08:00-12:00", "an empty range beside ' + '"),
        ("Mon-Fri 08:00-12:00 + + Sat 10:00-11:00", "an empty range beside ' + '"),
        ("office hours", "'office' is not a day"),
    ],
)
def test_errors_quote_the_culprit_and_the_shape(value: str, needle: str) -> None:
    assert needle in error(value)


@pytest.mark.parametrize(
    "value",
    [
        "Mon-Fri 08:00-12:00, Mon-Fri 13:00-18:00",
        "Mon-Fri 08:00-12:00 , Mon-Fri 13:00-18:00",
        "Mon,Wed 08:00-12:00",
    ],
)
def test_a_comma_is_refused_naming_the_plus(value: str) -> None:
    assert "',' is not allowed: join ranges with ' + '" in error(value)


def test_errors_are_schedule_errors() -> None:
    """Every caller that handles a bad schedule handles a bad uptime."""
    assert issubclass(UptimeError, ScheduleError)


# --- hostile values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("Mon-Fri 08:00-17:00 " + "x" * 100_000, f"an uptime has at most {MAX_LENGTH}"),
        (" + ".join(["Mon 08:00-09:00"] * 5000), f"an uptime has at most {MAX_LENGTH}"),
        (" + ".join(["Mon 08:00-09:00"] * 40), f"at most {MAX_RANGES} are allowed"),
        ("+ " * 400, f"at most {MAX_RANGES} are allowed"),
        ("Mon-Fri " + "1" * 900 + ":00-17:00", "is not a time range"),
        ("Mon-Fri \u0660\u0668:00-17:00", "write the digits 0-9"),  # Arabic-Indic 08
        ("Mon-Fri \uff10\uff18:00-17:00", "write the digits 0-9"),  # fullwidth 08
        ("Mon-Fri 08:00-17:\u0665\u0665", "write the digits 0-9"),
        ("M\u043en-Fri 08:00-17:00", "is not days like Mon-Fri"),  # Cyrillic o
        ("Mon-Fr\u0131 08:00-17:00", "is not days like Mon-Fri"),  # dotless i
        ("Mon-Fri 08:00-17:00 Europe/Lond\u043en", "is not a known IANA time zone"),
        ("Mon-Fri 08:00-17:00 " + "A/" * 40 + "B", "is not a known IANA time zone"),
        ("Mon-Fri 08:00\u201317:00", "is not a time range"),  # en dash
        ("Mon-Fri 08:00-17:00 \x00", "is not a known IANA time zone"),
    ],
)
def test_hostile_values_get_a_clear_bounded_error_quickly(value: str, needle: str) -> None:
    started = time.perf_counter()
    message = error(value)
    assert time.perf_counter() - started < 0.5
    assert needle in message
    assert len(message) < 600


def test_a_thousand_parses_take_milliseconds() -> None:
    """Evaluation speed: parsing (uncached) plus one latest event per value."""
    values = [f"Mon-Fri {h:02d}:{m:02d}-{(h + 9) % 24:02d}:30 Europe/London"
              for h in range(24) for m in range(0, 60, 3)][:1000]  # fmt: skip
    started = time.perf_counter()
    for value in values:
        parse_uptime(value).latest_event(at("2026-11-25 12:00"))
    assert time.perf_counter() - started < 5.0
