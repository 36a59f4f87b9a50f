"""Holiday calendars (`calendars`): real .ics files served on loopback, and from moto S3.

The files in tests/calendars are shaped like the real ones: gov.uk's bank holidays
(all-day events), an Outlook export (VTIMEZONE with a Windows zone name, RRULE + EXDATE, a
moved and a cancelled occurrence, folded lines), a Google Calendar export (X-WR-TIMEZONE,
times in UTC, a yearly rule). HTTP is pytest-httpserver on 127.0.0.1 (allowlisted as an
operator would list their host) and the hostile server of test_faults_sources.

The calendar libraries are imported here, before any `freeze_time`: freezegun would
otherwise hand them its fake datetime class (x-wr-timezone's floating times break).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import icalendar  # noqa: F401 - imported before freezegun freezes anything (see above)
import pytest
import recurring_ical_events  # noqa: F401 - as above
import x_wr_timezone  # noqa: F401 - as above
from freezegun import freeze_time
from moto import mock_aws
from pytest_httpserver import HTTPServer

from powercycle import cli, engine, sources
from powercycle.config import Config
from powercycle.core.decide import Power, decide
from powercycle.core.schedule import Schedule, ScheduleError, parse_schedule
from powercycle.providers.ec2 import Ec2Provider
from powercycle.runtime.budget import Budget
from powercycle.sources import calendars, http
from tests.helpers import REGION, launch, state_of
from tests.test_faults_sources import Hostile, hang

FILES = Path(__file__).parent / "calendars"
OFFICE = {"start": "0 8 * * 1-5", "stop": "0 18 * * 1-5"}
LIMITS = http.Limits(read_timeout=10.0, total_timeout=20.0)
# Thursday 2026-12-24 12:00 UTC: the pass that reads the calendars.
XMAS_EVE = datetime(2026, 12, 24, 12, 0, tzinfo=UTC)


def ics(name: str) -> bytes:
    return (FILES / name).read_bytes()


def serve(server: HTTPServer, path: str, body: bytes, media: str = "text/calendar") -> str:
    server.expect_request(path, method="GET").respond_with_data(body, content_type=media)
    return server.url_for(path)


def trusting(server: HTTPServer) -> Config:
    return Config(regions=(REGION,), url_allowlist=(server.url_for("/"),))


def schedule_with(urls: list[str], tz: str = "Europe/London", **extra: Any) -> str:
    return json.dumps({**OFFICE, "tz": tz, "calendars": urls, **extra})


def resolve(values: list[str], config: Config, now: datetime = XMAS_EVE) -> dict[str, Any]:
    return sources.resolve_all(values, config, limits=LIMITS, now=now)


def one(value: str, config: Config, now: datetime = XMAS_EVE) -> Schedule:
    found = resolve([value], config, now)[value]
    assert isinstance(found, Schedule), found
    return found


def skipped(schedule: Schedule, first: date, last: date) -> set[date]:
    """The dates of [first, last] that the schedule skips."""
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return {d for d in days if schedule._skip_calendar.find(d)}


def gets(server: HTTPServer, path: str) -> int:
    return sum(1 for request, _ in server.log if request.path == path)


# --- the key ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("https://x.example/h.ics", '"calendars" must be a list'),
        ([f"https://x.example/{i}.ics" for i in range(6)], "at most 5"),
        ([42], '"calendars": 42 is not an https://'),
        (["ftp://x.example/h.ics"], "is not an https:// or s3:// location"),
        (["holidays.ics"], "is not an https:// or s3:// location"),
        (["https://x.example/h.ics#uk"], "has a #fragment"),
        (["s3://bucket-only"], "is not s3://bucket/key"),
        (["https://x.example:99999/h.ics"], "is not a valid URL"),
        (["https:///h.ics"], "has no host"),
        (["https://x.example/" + "a" * 3000], "at most 2048"),
    ],
)
def test_bad_calendars_are_refused_naming_the_key(value: object, message: str) -> None:
    with pytest.raises(ScheduleError, match="calendars") as caught:
        parse_schedule({**OFFICE, "calendars": value})
    assert message in str(caught.value)


def test_the_key_keeps_locations_once_in_order() -> None:
    schedule = parse_schedule(
        {**OFFICE, "calendars": ["https://a.example/1.ics", "s3://b/k.ics", "https://a.example/1.ics"]}
    )
    assert schedule.calendars == ("https://a.example/1.ics", "s3://b/k.ics")
    # Never evaluated without its calendars' dates.
    with pytest.raises(ScheduleError, match="calendars were not read"):
        schedule.latest_event(XMAS_EVE)


def test_no_library_is_imported_for_a_schedule_without_calendars() -> None:
    import subprocess
    import sys

    code = (
        "import sys, json; from powercycle import sources, engine, handler; "
        "from powercycle.config import Config; "
        "r = sources.resolve_all(['{\"start\": \"0 8 * * *\"}'], Config()); "
        "print(json.dumps([m for m in ('icalendar', 'recurring_ical_events') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


# --- semantics ----------------------------------------------------------------------------


def test_bank_holidays_are_skipped_and_the_next_day_is_normal(httpserver: HTTPServer) -> None:
    url = serve(httpserver, "/bank-holidays/england-and-wales.ics", ics("england-and-wales.ics"))
    schedule = one(schedule_with([url]), trusting(httpserver))
    london = ZoneInfo("Europe/London")
    # Christmas Day (Fri 25) and the substitute Boxing Day (Mon 28): no 08:00 start.
    assert skipped(schedule, date(2026, 12, 20), date(2027, 1, 5)) == {
        date(2026, 12, 25),
        date(2026, 12, 28),
        date(2027, 1, 1),
    }
    on_christmas = datetime(2026, 12, 25, 9, 0, tzinfo=london)
    latest = schedule.latest_event(on_christmas)
    assert latest is not None
    assert (latest.action, latest.time) == ("stop", datetime(2026, 12, 24, 18, 0, tzinfo=UTC))
    assert decide(schedule, latest, Power.STOPPED, on_christmas).action is None
    # The next start is Tuesday's: Mon 28 is Boxing Day (substitute).
    upcoming = schedule.next_event(on_christmas)
    assert upcoming is not None
    assert upcoming.time == datetime(2026, 12, 29, 8, 0, tzinfo=UTC)
    after = datetime(2026, 12, 29, 9, 0, tzinfo=london)
    decision = decide(schedule, latest, Power.STOPPED, after)
    assert decision.action == "start"
    assert schedule.holidays is not None
    assert schedule.holidays.names(date(2026, 12, 25)) == ["Christmas Day (england-and-wales.ics)"]


def test_skip_and_calendars_both_apply(httpserver: HTTPServer) -> None:
    url = serve(httpserver, "/h.ics", ics("england-and-wales.ics"))
    value = schedule_with([url], skip=["2026-12-29..2026-12-31"])
    schedule = one(value, trusting(httpserver))
    assert skipped(schedule, date(2026, 12, 24), date(2027, 1, 4)) == {
        date(2026, 12, 25), date(2026, 12, 28), date(2026, 12, 29), date(2026, 12, 30),
        date(2026, 12, 31), date(2027, 1, 1),
    }  # fmt: skip
    days = calendars.skipped_days(schedule, date(2026, 12, 24), 3)
    assert [calendars.format_skipped(d, n) for d, n in days] == [
        "Fri 2026-12-25: Christmas Day (h.ics)",
        "Mon 2026-12-28: Boxing Day (h.ics)",
        "Tue 2026-12-29: skip",
    ]


def test_outlook_export_recurrences_exdate_moved_and_cancelled(httpserver: HTTPServer) -> None:
    url = serve(httpserver, "/closures.ics", ics("office-closures.ics"))
    paris = one(schedule_with([url], tz="Europe/Paris"), trusting(httpserver))
    found = skipped(paris, date(2026, 1, 1), date(2026, 12, 31))
    first_fridays = {date(2026, m, d) for m, d in [(3, 6), (4, 3), (5, 1), (6, 5), (7, 3),
                                                    (8, 7), (9, 4)]}  # fmt: skip
    assert first_fridays <= found
    assert date(2026, 2, 6) not in found  # before DTSTART
    assert date(2026, 10, 2) not in found and date(2026, 10, 9) in found  # moved a week
    assert date(2026, 11, 6) not in found  # the cancelled occurrence
    assert date(2026, 12, 4) not in found  # EXDATE
    assert date(2026, 12, 15) not in found  # a cancelled event
    assert date(2026, 12, 1) in found  # end equals start: its start date still
    # 22:00-02:00 Paris time covers both local dates.
    assert {date(2026, 11, 25), date(2026, 11, 26)} <= found
    assert paris.holidays is not None
    assert paris.holidays.names(date(2026, 3, 6)) == [
        "Fermeture du bureau - maintenance mensuelle du bâtiment (closures.ics)"
    ]  # a folded, non-ASCII summary, read whole


def test_timed_events_are_converted_into_the_schedules_zone(httpserver: HTTPServer) -> None:
    closures = serve(httpserver, "/closures.ics", ics("office-closures.ics"))
    google = serve(httpserver, "/basic.ics", ics("basic.ics"))
    config = trusting(httpserver)
    york = one(schedule_with([closures, google], tz="America/New_York"), config)
    utc = one(schedule_with([closures, google], tz="UTC"), config)
    # Datacentre work 22:00-02:00 Paris = 16:00-20:00 New York (one date), 21:00-01:00 UTC.
    assert skipped(york, date(2026, 11, 24), date(2026, 11, 25)) == {date(2026, 11, 25)}
    assert skipped(utc, date(2026, 11, 24), date(2026, 11, 26)) == {
        date(2026, 11, 25), date(2026, 11, 26),
    }  # fmt: skip
    # The offsite 03:00-06:00 UTC on Dec 3 is Dec 2 22:00 - Dec 3 01:00 in New York.
    assert {date(2026, 12, 2), date(2026, 12, 3)} <= skipped(
        york, date(2026, 12, 2), date(2026, 12, 3)
    )
    assert date(2026, 12, 2) not in skipped(utc, date(2026, 12, 2), date(2026, 12, 2))
    # All-day events are dates, whatever the zone: Thanksgiving Thu-Fri, then Saturday.
    for schedule in (york, utc):
        days = skipped(schedule, date(2026, 11, 26), date(2026, 11, 28))
        assert date(2026, 11, 26) in days and date(2026, 11, 27) in days
        assert date(2026, 11, 28) not in days
    # A yearly rule from 2025, expanded in the window: next July 4th.
    assert date(2027, 7, 4) in skipped(york, date(2027, 7, 1), date(2027, 7, 10))


def test_dst_days_in_the_schedules_zone(httpserver: HTTPServer) -> None:
    body = _calendar(
        # 23:30 GMT on the 27th to 01:30 BST on the 28th (clocks go forward at 01:00 GMT).
        "DTSTART:20270327T233000Z\r\nDTEND:20270328T003000Z\r\nSUMMARY:Spring forward",
        # The autumn change: 00:30 BST to 01:30 GMT, the repeated hour, one date.
        "DTSTART;TZID=Europe/London:20261025T003000\r\n"
        "DTEND;TZID=Europe/London:20261025T013000\r\nSUMMARY:Fall back",
    )
    url = serve(httpserver, "/dst.ics", body)
    london = one(schedule_with([url], tz="Europe/London"), trusting(httpserver), now=XMAS_EVE)
    assert skipped(london, date(2027, 3, 26), date(2027, 3, 29)) == {
        date(2027, 3, 27), date(2027, 3, 28),
    }  # fmt: skip
    early = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
    autumn = one(schedule_with([url], tz="Europe/London"), trusting(httpserver), now=early)
    assert skipped(autumn, date(2026, 10, 24), date(2026, 10, 26)) == {date(2026, 10, 25)}
    # In Tokyo the spring event is 08:30-09:30 on the 28th: one date.
    tokyo = one(schedule_with([url], tz="Asia/Tokyo"), trusting(httpserver))
    assert skipped(tokyo, date(2027, 3, 26), date(2027, 3, 29)) == {date(2027, 3, 28)}


def test_floating_times_under_freezegun_are_read_in_the_schedules_zone(
    httpserver: HTTPServer,
) -> None:
    body = _calendar(
        "DTSTART:20261230T230000\r\nDTEND:20261231T010000\r\nSUMMARY:Floating",
        extra="X-WR-TIMEZONE:Europe/London\r\n",
    )
    url = serve(httpserver, "/floating.ics", body)
    # Frozen at a time given with the zone meant: 2026-12-24 09:00 in Tokyo (00:00 UTC).
    with freeze_time("2026-12-24T09:00:00+09:00"):
        now = datetime.now(UTC)
        assert now == datetime(2026, 12, 24, 0, 0, tzinfo=UTC)
        found = resolve([schedule_with([url], tz="Europe/London")], trusting(httpserver), now)
    schedule = next(iter(found.values()))
    assert isinstance(schedule, Schedule), schedule
    # X-WR-TIMEZONE reads the floating time in London: 23:00-01:00 there, two dates.
    assert skipped(schedule, date(2026, 12, 29), date(2027, 1, 1)) == {
        date(2026, 12, 30), date(2026, 12, 31),
    }  # fmt: skip


def _calendar(*events: str, extra: str = "") -> bytes:
    body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + extra
    for i, event in enumerate(events):
        body += f"BEGIN:VEVENT\r\nUID:e{i}\r\nDTSTAMP:20261101T000000Z\r\n{event}\r\nEND:VEVENT\r\n"
    return (body + "END:VCALENDAR\r\n").encode()


# --- fetching -----------------------------------------------------------------------------


def test_one_get_per_calendar_per_run(httpserver: HTTPServer) -> None:
    url = serve(httpserver, "/h.ics", ics("england-and-wales.ics"))
    other = serve(httpserver, "/basic.ics", ics("basic.ics"))
    values = [
        schedule_with([url]),
        schedule_with([url], tz="Europe/Paris"),
        schedule_with([url, other], tz="America/New_York"),
        json.dumps({"stop": "0 20 * * *", "calendars": [url]}),
    ]
    resolved = resolve(values, trusting(httpserver))
    assert all(isinstance(s, Schedule) for s in resolved.values()), resolved
    assert gets(httpserver, "/h.ics") == 1 and gets(httpserver, "/basic.ics") == 1
    accept = next(r for r, _ in httpserver.log if r.path == "/h.ics").headers["Accept"]
    assert accept.startswith("text/calendar")


def test_a_schedule_document_can_name_calendars(httpserver: HTTPServer) -> None:
    url = serve(httpserver, "/h.ics", ics("england-and-wales.ics"))
    httpserver.expect_request("/schedules.json").respond_with_json(
        {"office": {**OFFICE, "tz": "Europe/London", "calendars": [url]}}
    )
    schedule = one(httpserver.url_for("/schedules.json#office"), trusting(httpserver))
    assert date(2026, 12, 25) in skipped(schedule, date(2026, 12, 25), date(2026, 12, 25))


def test_calendar_from_s3(aws_env_s3: None, httpserver: HTTPServer) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(
        Bucket="calendars", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    body = ics("england-and-wales.ics")
    s3.put_object(Bucket="calendars", Key="uk/england-and-wales.ics", Body=body)
    value = schedule_with(["s3://calendars/uk/england-and-wales.ics"])
    missing = schedule_with(["s3://calendars/uk/scotland.ics"])
    resolved = resolve([value, missing], Config(regions=(REGION,)))
    schedule = resolved[value]
    assert isinstance(schedule, Schedule), schedule
    assert date(2026, 12, 28) in skipped(schedule, date(2026, 12, 28), date(2026, 12, 28))
    assert isinstance(resolved[missing], str)
    assert "calendar s3://calendars/uk/scotland.ics: " in resolved[missing]
    assert "NoSuchKey" in resolved[missing]


@pytest.fixture
def aws_env_s3(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


# --- failures: each confined to the schedules that name the calendar -----------------------


def nested(depth: int) -> bytes:
    return (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
        + b"BEGIN:X\r\n" * depth
        + b"END:X\r\n" * depth
        + b"END:VCALENDAR\r\n"
    )


def endless(rule: str, start: str = "19700101T000000Z") -> bytes:
    return _calendar(f"DTSTART:{start}\r\nDTEND:{start}\r\nRRULE:{rule}\r\nSUMMARY:Flood")


@pytest.mark.parametrize(
    ("body", "media", "cause"),
    [
        (None, "text/calendar", "HTTP 404 NOT FOUND"),
        (b"BEGIN:VCALENDAR\r\n" + b"X" * (1024 * 1024 + 10), "text/calendar", "too big"),
        (b"<html>Sign in</html>", "text/html", "not an iCalendar file: Content-Type is text/html"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "application/octet-stream", "not an iCalendar"),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:garbage\r\n", "text/calendar",
         "not a valid iCalendar file"),
        (b"hello, world", "text/plain", "does not start with BEGIN:VCALENDAR"),
        (nested(60_000), "text/calendar", "nested more than 8 deep"),
        (endless("FREQ=MINUTELY;COUNT=1000000"), "text/calendar", "recurs too often"),
        (endless("FREQ=SECONDLY"), "text/calendar", "recurs too often"),
        (endless(f"FREQ=DAILY;BYHOUR={','.join(map(str, range(24)))};"
                 "BYMINUTE=0,5,10,15,20,25,30,35,40,45,50,55"),
         "text/calendar", "recurs too often"),
    ],
    ids=["404", "over-1MB", "html", "binary", "garbage", "plain-text", "nested", "million",
         "secondly", "by-hour-minute"],
)
def test_a_calendar_that_cannot_be_read_is_an_error_for_its_schedules_only(
    httpserver: HTTPServer, body: bytes | None, media: str, cause: str
) -> None:
    if body is None:
        httpserver.expect_request("/bad.ics").respond_with_data("Not Found", status=404)
    else:
        serve(httpserver, "/bad.ics", body, media)
    bad = httpserver.url_for("/bad.ics")
    good = serve(httpserver, "/h.ics", ics("england-and-wales.ics"))
    values = [schedule_with([good, bad]), schedule_with([good]), json.dumps(OFFICE)]
    started = time.perf_counter()
    resolved = resolve(values, trusting(httpserver))
    assert time.perf_counter() - started < 5
    error = resolved[values[0]]
    assert isinstance(error, str), error
    assert error.startswith(f"calendar {bad}: "), error
    assert cause.lower() in error.lower()
    assert isinstance(resolved[values[1]], Schedule) and isinstance(resolved[values[2]], Schedule)


def test_a_rule_without_an_end_expands_only_the_window(httpserver: HTTPServer) -> None:
    """A daily event since 1990 without COUNT or UNTIL: the window's dates, in milliseconds."""
    url = serve(httpserver, "/daily.ics", endless("FREQ=DAILY;INTERVAL=2", "19900101T120000Z"))
    started = time.perf_counter()
    schedule = one(schedule_with([url], tz="UTC"), trusting(httpserver))
    assert time.perf_counter() - started < 3
    assert schedule.holidays is not None
    first, last = schedule.holidays.window
    assert (last - first).days == 770
    assert len(schedule.holidays.ranges) in (385, 386)


def test_a_hanging_server_and_a_refused_address_are_errors_naming_the_calendar(
    httpserver: HTTPServer,
) -> None:
    hostile = Hostile(hang)
    try:
        hung = hostile.url.replace("schedule.json", "cal.ics?token=s3cret")
        unlisted = "http://127.0.0.1:9/holidays.ics"  # loopback, not on the allowlist
        good = serve(httpserver, "/h.ics", ics("england-and-wales.ics"))
        config = Config(
            regions=(REGION,),
            url_allowlist=(httpserver.url_for("/"), hostile.url.rsplit("/", 1)[0] + "/"),
        )
        values = [schedule_with([hung]), schedule_with([unlisted]), schedule_with([good])]
        started = time.perf_counter()
        resolved = sources.resolve_all(
            values, config, limits=http.Limits(total_timeout=2.0), now=XMAS_EVE,
            budget=Budget(600),
        )  # fmt: skip
        assert time.perf_counter() - started < 6
    finally:
        hostile.close()
    assert "timed out after 2s" in resolved[values[0]]
    assert "token=***" in resolved[values[0]] and "s3cret" not in resolved[values[0]]
    assert resolved[values[1]].startswith(f"calendar {unlisted}: ")
    assert "refused" in resolved[values[1]]
    assert isinstance(resolved[values[2]], Schedule)


# --- a pass, and the operator's view --------------------------------------------------------


@pytest.fixture
def holiday_server(httpserver: HTTPServer) -> str:
    return serve(httpserver, "/bank-holidays/england-and-wales.ics", ics("england-and-wales.ics"))


def test_a_pass_leaves_boxes_off_on_a_holiday_and_confines_a_broken_calendar(
    httpserver: HTTPServer, holiday_server: str, ec2: Any
) -> None:
    config = Config(regions=(REGION,), url_allowlist=(httpserver.url_for("/"),), retry_delay_s=0.0)
    broken = httpserver.url_for("/missing.ics")
    httpserver.expect_request("/missing.ics").respond_with_data("Not Found", status=404)
    tag = config.tag
    (on_holiday,) = launch(ec2, {tag: schedule_with([holiday_server])}, state="stopped")
    (plain,) = launch(ec2, {tag: json.dumps({**OFFICE, "tz": "Europe/London"})}, state="stopped")
    (unreadable,) = launch(ec2, {tag: schedule_with([broken])}, state="stopped")

    def run(now: datetime) -> engine.Summary:
        provider = Ec2Provider(config, REGION, client=ec2, sleep=lambda _s: None)
        return engine.run_pass(config, now, providers=[provider])

    summary = run(datetime(2026, 12, 28, 8, 5, tzinfo=UTC))  # Boxing Day (substitute)
    results = {o.resource.id: o for o in summary.outcomes}
    assert state_of(ec2, on_holiday) == "stopped" and state_of(ec2, plain) == "running"
    assert state_of(ec2, unreadable) == "stopped"
    assert results[unreadable].result == "error"
    assert f"calendar {broken}: HTTP 404" in (results[unreadable].error or "")
    assert gets(httpserver, "/bank-holidays/england-and-wales.ics") == 1
    run(datetime(2026, 12, 29, 8, 5, tzinfo=UTC))  # the next day is normal
    assert state_of(ec2, on_holiday) == "running"
    assert gets(httpserver, "/bank-holidays/england-and-wales.ics") == 2  # once per run


def test_check_names_the_next_skipped_dates(
    httpserver: HTTPServer, holiday_server: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("POWERCYCLE_URL_ALLOWLIST", httpserver.url_for("/"))
    value = json.dumps({**OFFICE, "tz": "Europe/London", "calendars": [holiday_server]})
    with freeze_time("2026-12-24 12:00:00"):
        code = cli.main(["check", value, "--count", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "next 3 skipped dates:\n" in out
    assert "  Fri 2026-12-25: Christmas Day (england-and-wales.ics)\n" in out
    assert "  Mon 2026-12-28: Boxing Day (england-and-wales.ics)\n" in out
    assert "  Fri 2027-01-01: New Year\u2019s Day (england-and-wales.ics)\n" in out
    assert "start Tue 2026-12-29 08:00 GMT" in out
    with freeze_time("2026-12-24 12:00:00"):
        assert cli.main(["check", value, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["skipped"][0] == {
        "date": "2026-12-25",
        "names": ["Christmas Day (england-and-wales.ics)"],
    }
    broken = value.replace("england-and-wales", "nowhere")
    httpserver.expect_request("/bank-holidays/nowhere.ics").respond_with_data("", status=404)
    with freeze_time("2026-12-24 12:00:00"):
        assert cli.main(["check", broken]) == 1
    assert f"calendar {httpserver.url_for('/bank-holidays/nowhere.ics')}: HTTP 404" in (
        capsys.readouterr().err
    )


def test_plan_says_why_a_box_stays_off_on_a_holiday(
    httpserver: HTTPServer, holiday_server: str, ec2: Any, ec2_only: None,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from powercycle.cli import output
    from tests.helpers import TAG

    monkeypatch.setattr(output, "stdout_is_terminal", lambda: True)
    monkeypatch.setenv("POWERCYCLE_URL_ALLOWLIST", httpserver.url_for("/"))
    (box,) = launch(ec2, {TAG: schedule_with([holiday_server]), "Name": "office"}, state="stopped")
    with freeze_time("2026-12-25 09:00:00"):
        code = cli.main(["plan"])
    out = capsys.readouterr().out
    assert code == 0, out
    (line,) = [line for line in out.splitlines() if box in line]
    assert "(today skipped: Christmas Day (england-and-wales.ics))" in line
    assert line.endswith("start Tue 29 Dec 08:00 GMT (2026-12-29T08:00:00Z)")
    assert "next skipped dates:\n" in out
    assert (
        "Fri 2026-12-25: Christmas Day (england-and-wales.ics); "
        "Mon 2026-12-28: Boxing Day (england-and-wales.ics); "
        "Fri 2027-01-01: New Year\u2019s Day (england-and-wales.ics)"
    ) in out
    with freeze_time("2026-12-25 09:00:00"):
        assert cli.main(["plan", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["resources"]
    assert row["skipped"][0] == {
        "date": "2026-12-25",
        "names": ["Christmas Day (england-and-wales.ics)"],
        "today": True,
    }
