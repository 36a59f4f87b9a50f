"""Faults at the schedule level: hostile documents are refused with a ScheduleError naming
the key and the value (never another exception), the limits hold, and every valid document,
however pathological, is evaluated in milliseconds. Also checks the day calendar of
cron.py against croniter itself, day by day."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from croniter import croniter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from powercycle.core import cron as cron_module
from powercycle.core.cron import compile_cron
from powercycle.core.schedule import (
    KNOWN_KEYS,
    MAX_CRONS,
    MAX_SKIP,
    Schedule,
    ScheduleError,
    parse_schedule,
    parse_schedule_text,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def refused(doc: object) -> str:
    with pytest.raises(ScheduleError) as caught:
        if isinstance(doc, str):
            parse_schedule_text(doc)
        else:
            parse_schedule(doc)
    message = str(caught.value)
    assert len(message) < 400, message  # never a huge value echoed back
    return message


def nested(depth: int) -> object:
    doc: object = "0 8 * * *"
    for _ in range(depth):
        doc = [doc]
    return {"start": doc}


# --- crash inputs ------------------------------------------------------------------------

CRASH_INPUTS = [
    ({"stop": "0 19 * * *", "maxRuntime": "9999999999d"}, ['"maxRuntime"', "9999999999d"]),
    ({"stop": "0 19 * * *", "maxRuntime": "5" * 5000 + "h"}, ['"maxRuntime"', "555"]),
    ({"stop": "0 19 * * *", "maxRuntime": "366d"}, ['"maxRuntime"', "366d", "365 days"]),
    ({"stop": "0 19 * * *", "maxRuntime": "4h\n"}, ['"maxRuntime"']),
    ({"stop": "0 19 * * *", "maxRuntime": "\u0664h"}, ['"maxRuntime"']),  # Arabic-Indic 4
    ({"stop": "0 19 * * *", "maxRuntime": 10**5000}, ['"maxRuntime"', "bits"]),
    ({"stop": "0 19 * * *", "skip": ["0001-01-01..2030-01-01"]}, ['"skip"', "0001-01-01"]),
    ({"stop": "0 19 * * *", "skip": ["9999-12-31"]}, ['"skip"', "9999-12-31", "1970-2200"]),
    ({"stop": "0 19 * * *", "skip": ["2026-W52-5"]}, ['"skip"', "2026-W52-5"]),
    ({"stop": "0 19 * * *", "skip": ["20261225"]}, ['"skip"', "20261225"]),
    ({"stop": "0 19 * * *", "skip": [10**5000]}, ['"skip"', "bits"]),
    ({"stop": "0 19 * * *", "skip": ["x" * 100_000]}, ['"skip"', "xxx"]),
    ({"stop": "0 19 * * *", "tz": "x" * 300}, ['"tz"', "xxx"]),
    ({"stop": "0 19 * * *", "tz": "../../etc/passwd"}, ['"tz"', "../../etc/passwd"]),
    ({"stop": "0 19 * * *", "tz": "/etc/passwd"}, ['"tz"', "/etc/passwd"]),
    ({"stop": "0 19 * * *", "tz": "Europe/London\x00"}, ['"tz"', "London"]),
    ({"stop": "0 19 * * *", "tz": "zone1970.tab"}, ['"tz"', "zone1970.tab"]),
    ({"stop": "0 19 * * *", "tz": "Europe/"}, ['"tz"', "Europe/"]),
    ({"stop": "0 19 * * *", "tz": ""}, ['"tz"']),
    ({"stop": "0 19 * * *", "tz": ["UTC"]}, ['"tz"', "['UTC']"]),
    ({"stop": "0 19 * * *", "tz": 10**5000}, ['"tz"', "bits"]),
    ({"stop": "0 19 * * *", "enforce": 10**5000}, ['"enforce"', "bits"]),
    ({"stop": "0 19 * * *", "hibernate": {"a": [1]}}, ['"hibernate"']),
    ({"stop": 10**5000}, ['"stop"', "bits"]),
    ({"stop": "0 19 * * *" + " " * 300 + "*"}, ['"stop"', "200 characters"]),
    ({"stop": ["0 19 * * *", None]}, ['"stop"', "None"]),
    ({"start": {"0 8 * * *": True}}, ['"start"']),
    ({"stop": "0 19 * * *", "resume": {"instanceType": "m" * 1000}}, ["resume.instanceType"]),
    ({"stop": "0 19 * * *", "resume": {"spot": 10**5000}}, ["resume.spot", "bits"]),
    ({"stop": "0 19 * * *", "x" * 10_000: 1}, ["unknown key", "xxx"]),
    ({"stop": "0 19 * * *", "skip": "2026-12-25" * 10_000}, ['"skip"']),
    ({"stop": "0 19 * * *", "maxRuntime": float("nan")}, ['"maxRuntime"', "nan"]),
    ({"stop": "0 19 * * *", "maxRuntime": float("inf")}, ['"maxRuntime"', "inf"]),
    (nested(600), ["nested more than 10"]),
    (nested(100_000), ["nested more than 10"]),
    ({"stop": ["0 19 * * *"] * 10_000}, ["more than 5000 values"]),
    ({1: "0 8 * * *"}, ["keys must be strings"]),
    ({"stop": {"0 19 * * *"}}, ["not a JSON value", "set"]),
    ({"stop": b"0 19 * * *"}, ["not a JSON value", "bytes"]),
    ({"stop": ("0 19 * * *",)}, ["not a JSON value", "tuple"]),
    ("[" * 100_000 + "]" * 100_000, ["JSON"]),
    ('{"stop": "0 19 * * *", "maxRuntime": ' + "9" * 5000 + "}", ["JSON"]),
    ('{"stop": "0 19 * * *", "tz": "\\ud800"}', ['"tz"']),
]


@pytest.mark.parametrize(("doc", "needles"), CRASH_INPUTS, ids=range(len(CRASH_INPUTS)))
def test_crash_inputs_are_refused_by_name(doc: object, needles: list[str]) -> None:
    """Each input that used to escape as another exception is a ScheduleError saying why."""
    message = refused(doc)
    for needle in needles:
        assert needle in message, (needle, message)


def test_a_zone_directory_is_not_a_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the `tzdata` package (as in the Lambda zip), "Europe" is a directory: refused."""
    package = tmp_path / "tzdata"
    (package / "zoneinfo" / "Europe").mkdir(parents=True)
    for init in (package / "__init__.py", package / "zoneinfo" / "__init__.py"):
        init.write_text("")
    (package / "zoneinfo" / "Europe" / "__init__.py").write_text("")
    shutil.copy(Path(zoneinfo.TZPATH[0]) / "Europe" / "Paris", package / "zoneinfo" / "Europe")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "tzdata" or m.startswith("tzdata.")]:
        monkeypatch.delitem(sys.modules, name)
    zoneinfo.reset_tzpath(to=[])
    try:
        # The zone database now comes from the package, as in the zip.
        assert zoneinfo.ZoneInfo.no_cache("Europe/Paris").key == "Europe/Paris"
        with pytest.raises(Exception) as raw:  # what zoneinfo itself does with it
            zoneinfo.ZoneInfo.no_cache("Europe")
        assert not isinstance(raw.value, zoneinfo.ZoneInfoNotFoundError)
        message = refused({"stop": "0 19 * * *", "tz": "Europe"})
        assert '"tz"' in message and "'Europe'" in message
    finally:
        zoneinfo.reset_tzpath()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**4000, max_value=10**4400)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["0 8 * * *", "R 8 * * *", "0 0 31 2 *", "Europe", "4h", "2026-12-25"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=30,
)
schedule_like = st.dictionaries(st.sampled_from([*KNOWN_KEYS, "via", "x"]), json_values)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, schedule_like))
def test_any_json_value_is_a_schedule_or_a_schedule_error(doc: object) -> None:
    """Property: parse never raises anything but ScheduleError, and a parse evaluates."""
    try:
        schedule = parse_schedule(doc)
    except ScheduleError as exc:
        assert len(str(exc)) < 400
        return
    assert isinstance(schedule, Schedule)
    schedule.latest_event(NOW)
    schedule.next_event(NOW)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_a_schedule_or_a_schedule_error(text: str) -> None:
    with contextlib.suppress(ScheduleError):
        parse_schedule_text(text)


# --- limits ------------------------------------------------------------------------------


def distinct_crons(n: int) -> list[str]:
    return [f"{n % 60} {n // 60} * * *" for n in range(n)]


def test_fifty_crons_but_not_fifty_one() -> None:
    """The limit counts start and stop together."""
    crons = distinct_crons(MAX_CRONS + 1)
    assert parse_schedule({"start": crons[:25], "stop": crons[25:50]})
    message = refused({"start": crons[:25], "stop": crons[25:]})
    assert "51 different crons" in message and "at most 50" in message
    assert "at most 50" in refused({"stop": crons * 2})


def test_duplicate_crons_count_once() -> None:
    """Identical crons (also spelled differently) are one cron."""
    schedule = parse_schedule(
        {"start": ["0 8 * * 1-5", "0  8 * * mon-fri", "0 8 * * MON-FRI", *distinct_crons(40)]}
    )
    assert schedule.start[0] == "0 8 * * 1-5"
    assert len(schedule.start) == 41
    assert parse_schedule({"stop": ["0 19 * * *"] * 50}).stop == ("0 19 * * *",)


def test_five_hundred_skip_entries_but_not_501() -> None:
    days = [(date(2026, 1, 1) + timedelta(days=i)).isoformat() for i in range(MAX_SKIP + 1)]
    assert len(parse_schedule({"stop": "0 19 * * *", "skip": days[:500]}).skip) == 500
    assert "501 entries" in refused({"stop": "0 19 * * *", "skip": days})


def test_skip_years_bounds() -> None:
    assert parse_schedule({"stop": "0 19 * * *", "skip": ["1970-01-01..2200-12-31"]})
    assert "1970-2200" in refused({"stop": "0 19 * * *", "skip": ["1969-12-31"]})
    assert "1970-2200" in refused({"stop": "0 19 * * *", "skip": ["2026-01-01..2201-01-01"]})


# --- cron syntax -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cron", ["R 18 * * *", "0 R * * *", "H 18 * * *", "H(0-29) 18 * * *", "0 H/2 * * *"]
)
def test_random_and_hashed_crons_are_refused(cron: str) -> None:
    """An event must be the same instant on every pass."""
    message = refused({"stop": cron})
    assert '"stop"' in message and cron in message and "R (random) or H (hashed)" in message


@pytest.mark.parametrize(
    "cron",
    ["0 8 * * 1-5 2026", "0 0 8 * * 1-5", "@daily", "0 8 * *", "", "0 8 * * * *", "@reboot"],
)
def test_only_five_fields(cron: str) -> None:
    assert "fields" in refused({"stop": cron})


@pytest.mark.parametrize(
    ("cron", "first_days"),
    [
        ("0 8 L * *", ["2026-11-30", "2026-12-31", "2027-01-31"]),
        ("0 8 1,L * *", ["2026-11-30", "2026-12-01", "2026-12-31"]),
        ("0 8 * * 1#2", ["2026-12-14", "2027-01-11", "2027-02-08"]),
        ("0 8 * * fri#1", ["2026-12-04", "2027-01-01", "2027-02-05"]),
        ("0 8 * * L5", ["2026-11-27", "2026-12-25", "2027-01-29"]),
        ("0 8 15W * *", ["2026-12-15", "2027-01-15", "2027-02-15"]),
        ("0 8 1W * *", ["2026-12-01", "2027-01-01", "2027-02-01"]),
        ("0 8 * jan,jul mon-fri", ["2027-01-01", "2027-01-04", "2027-01-05"]),
        ("0 8 */10 * sun", ["2026-11-29", "2026-12-01", "2026-12-06"]),  # either field
        ("0 8 1-7 * mon", ["2026-11-30", "2026-12-01", "2026-12-02"]),
        ("0 8 ? * sat", ["2026-11-28", "2026-12-05", "2026-12-12"]),
    ],
)
def test_croniter_extensions_are_accepted(cron: str, first_days: list[str]) -> None:
    """L, #, W, names, `?` and the day-of-month OR day-of-week rule, as documented."""
    schedule = parse_schedule({"stop": cron})
    after = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    events = schedule.events_after(after)
    assert [next(events).time.date().isoformat() for _ in range(3)] == first_days


@pytest.mark.parametrize("cron", ["0 8 1 * 1#2", "0 8 15W * mon", "0 8 1 * L5"])
def test_hash_and_w_beside_a_restricted_day_field_are_refused(cron: str) -> None:
    assert "keep the other day field '*'" in refused({"start": cron})


@pytest.mark.parametrize("cron", ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *"])
def test_a_cron_that_never_fires_says_so(cron: str) -> None:
    message = refused({"stop": cron})
    assert "never fires" in message and cron in message
    assert "failed to find" not in message


# --- maxRuntime alone, next_event --------------------------------------------------------


def test_max_runtime_alone_is_a_schedule_without_events() -> None:
    schedule = parse_schedule_text('{"maxRuntime": "8h"}')
    assert (schedule.start, schedule.stop) == ((), ())
    assert schedule.max_runtime == timedelta(hours=8)
    assert schedule.latest_event(NOW) is None
    assert schedule.next_event(NOW) is None
    assert list(schedule.events_after(NOW)) == []
    assert parse_schedule({"start": [], "stop": [], "maxRuntime": "30m"}).start == ()
    assert '"start", "stop" or both' in refused({"tz": "UTC", "enforce": True})


def test_next_event_is_bounded_when_nothing_ever_fires() -> None:
    """Everything skipped for 230 years: next_event answers None quickly."""
    schedule = parse_schedule({"stop": "* * * * *", "skip": ["1970-01-01..2200-12-31"]})
    started = time.perf_counter()
    assert schedule.next_event(NOW) is None
    assert schedule.latest_event(NOW) is None
    assert time.perf_counter() - started < 1


def test_next_event_skips_to_the_first_unskipped_firing() -> None:
    schedule = parse_schedule(
        {"start": "0 8 * * *", "stop": "0 18 * * *", "skip": ["2026-11-24..2026-12-31"]}
    )
    first = schedule.next_event(NOW)
    assert first is not None and first.time == datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    second = schedule.next_event(first.time)
    assert second is not None and second.time == datetime(2027, 1, 1, 8, 0, tzinfo=UTC)


def test_a_croniter_failure_while_evaluating_is_a_schedule_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schedule = parse_schedule({"start": "1 8 * * *", "stop": "1 18 * * *"})

    def broken(self: croniter, *args: object, **kwargs: object) -> object:
        raise KeyError("boom")

    monkeypatch.setattr(cron_module.croniter, "get_prev", broken)
    monkeypatch.setattr(cron_module.croniter, "get_next", broken)
    with pytest.raises(ScheduleError, match="could not be evaluated"):
        schedule.latest_event(NOW + timedelta(seconds=7))
    with pytest.raises(ScheduleError, match="could not be evaluated"):
        schedule.next_event(NOW)


# --- the pathological documents ----------------------------------------------------------


def worst_documents() -> dict[str, dict[str, object]]:
    """The brief's worst case and two nastier ones, all valid and at the limits."""
    adjacent = [(date(2025, 7, 12) + timedelta(days=i)).isoformat() for i in range(500)]
    crons = [f"{m} {h} * * *" for m in (0, 30) for h in range(24)][:49]
    crons.append("0 12 1 * *")  # fires on the 1st: skipped for 500 days
    every_third: list[str] = []
    day = NOW.date()
    while len(every_third) < 500:  # exactly the days `*/3` fires on: 500 separate ranges
        if day.day % 3 == 1:
            every_third.append(day.isoformat())
        day -= timedelta(days=1)
    monday = NOW.date() - timedelta(days=NOW.weekday())
    weeks = [
        f"{monday - timedelta(weeks=i)}..{monday - timedelta(weeks=i) + timedelta(days=5)}"
        for i in range(500)
    ]
    dows = [f"{a},{b}" for a in range(1, 7) for b in range(a + 1, 7)]
    dows += [str(a) for a in range(1, 7)]  # never Sunday
    return {
        "adjacent days": {"start": crons[:25], "stop": crons[25:], "skip": adjacent},
        "separate days": {
            "start": [f"{m} 8 */3 * *" for m in range(25)],
            "stop": [f"{m} 18 */3 * *" for m in range(25)],
            "skip": every_third,
            "tz": "Europe/London",
        },
        "Mon-Sat skipped": {
            "start": [f"0 8 * * {d}" for d in dows[:21]],
            "stop": [f"{m} 18 * * {d}" for m in range(2) for d in dows[:14]],
            "skip": weeks,
        },
    }


@pytest.mark.parametrize("name", list(worst_documents()))
def test_worst_valid_documents_evaluate_fast(name: str) -> None:
    """Measured on a 2-core shared machine: 20-60 ms per evaluation. Asserted: < 2 s."""
    doc = worst_documents()[name]
    assert len(json.dumps(doc)) < 64 * 1024
    started = time.perf_counter()
    schedule = parse_schedule(doc)
    latest = schedule.latest_event(NOW)
    upcoming = schedule.next_event(NOW)
    elapsed = time.perf_counter() - started
    assert len(schedule.start) + len(schedule.stop) >= 49
    assert elapsed < 2, elapsed
    assert upcoming is not None and upcoming.time > NOW
    if name == "Mon-Sat skipped":
        assert latest is None  # nothing fires on Sundays, every other day skipped for years
    else:
        assert latest is not None and latest.time < datetime(2025, 7, 12, tzinfo=UTC)


# --- the day calendar agrees with croniter -----------------------------------------------

dom_field = st.one_of(
    st.just("*"),
    st.integers(1, 31).map(str),
    st.tuples(st.integers(1, 31), st.integers(1, 31)).map(lambda t: f"{min(t)}-{max(t)}"),
    st.integers(2, 15).map(lambda s: f"*/{s}"),
    st.lists(st.integers(1, 31), min_size=1, max_size=4, unique=True).map(
        lambda v: ",".join(map(str, v))
    ),
    st.sampled_from(["L", "1,L", "15,L", "15W", "1W", "31W", "?"]),
)
dow_field = st.one_of(
    st.just("*"),
    st.integers(0, 7).map(str),
    st.sampled_from(["mon-fri", "sat,sun", "1-5/2", "*/2", "fri-mon", "?"]),
    st.tuples(st.integers(0, 6), st.integers(1, 5)).map(lambda t: f"{t[0]}#{t[1]}"),
    st.integers(0, 6).map(lambda d: f"L{d}"),
)
month_field = st.sampled_from(["*", "2", "1,7", "feb-apr", "*/3", "nov-feb"])


@settings(max_examples=80, deadline=None)
@given(dom_field, month_field, dow_field, st.dates(date(2020, 1, 1), date(2030, 1, 1)))
def test_day_calendar_matches_croniter(dom: str, month: str, dow: str, start: date) -> None:
    """The masks that steer the walk over skip dates name exactly croniter's firing days."""
    expr = f"0 0 {dom} {month} {dow}"
    try:
        days = compile_cron(expr).days
    except cron_module.CronError:
        return
    end = start + timedelta(days=400)
    it = croniter(expr, datetime.combine(start, datetime.min.time()) - timedelta(minutes=1))
    expected: list[date] = []
    while len(expected) < 12 and (found := it.get_next(datetime).date()) < end:
        expected.append(found)
    ours: list[date] = []
    day = start
    while len(ours) < len(expected) or (len(ours) < 12 and day < end):
        if days.mask(day.year, day.month) >> day.day & 1:
            ours.append(day)
        day += timedelta(days=1)
    assert ours == expected, expr
