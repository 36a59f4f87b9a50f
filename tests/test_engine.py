"""engine.run_pass on moto: whole weeks of 15-minute passes, the scenarios of the design
(late and missed runs, people starting and stopping boxes by hand, enforce, first sight,
DST, skip dates, maxRuntime, snooze), bad input, exclusions, a large paginated fleet,
failing batches and failing tags. Every `now` is given with its zone."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from powercycle import engine
from powercycle.config import Config
from powercycle.core.schedule import Action
from powercycle.providers import ActionError, ActRequest, Provider, Resource
from powercycle.providers import ec2 as ec2_module
from powercycle.providers.ec2 import Ec2Provider
from powercycle.runtime import logs
from tests.conftest import Run
from tests.helpers import (
    MUTATING,
    REGION,
    SEED,
    STATE_TAG,
    TAG,
    Calls,
    at,
    launch,
    launch_fleet,
    log_lines,
    moto_instance,
    refuse,
    schedule_tag,
    set_launch_time,
    set_state,
    tags_of,
    ticks,
)

LONDON_OFFICE = schedule_tag(start="0 8 * * 1-5", stop="55 17 * * 1-5", tz="Europe/London")


def power(instance_id: str) -> str:
    """moto's own view of the instance state (no API call, so it costs nothing per tick)."""
    return str(moto_instance(instance_id)._state.name)


def entry(summary: engine.Summary, instance_id: str) -> dict[str, Any] | None:
    found = [a for a in summary.to_dict()["actions"] if a["id"] == instance_id]
    assert len(found) <= 1
    return found[0] if found else None


def errors_of(summary: engine.Summary) -> dict[str, str]:
    return {e["id"]: e["error"] for e in summary.to_dict()["errors"]}


def office_hours(local: datetime) -> bool:
    """Monday to Friday from 08:00 until the 18:00 tick that follows the 17:55 stop."""
    return local.weekday() < 5 and 8 <= local.hour < 18


# --- whole weeks -------------------------------------------------------------------------


@pytest.mark.slow
def test_seed_schedule_over_a_week_of_15_minute_passes(ec2: Any, run: Run, calls: Calls) -> None:
    """The ec2-powercycle README schedule (UTC): the box runs exactly during working
    hours, to within one tick, and each event costs one action and one tag."""
    (box,) = launch(ec2, {TAG: SEED})
    first = at("2026-11-22 00:00")  # Sunday
    moments = ticks(first, first + timedelta(days=7))
    assert len(moments) == 673
    calls.clear()
    for now in moments:
        summary = run(now)
        assert summary.scanned == 1 and not summary.errors, now
        assert (power(box) == "running") == office_hours(now), now
    # Sunday: one stop on first sight (Friday's 17:55 stop), then 5 starts and 5 stops.
    assert calls.count["StartInstances"] == 5
    assert calls.count["StopInstances"] == 6
    assert calls.count["CreateTags"] == 11
    assert calls.count["DescribeInstances"] == 673
    assert tags_of(ec2, box)[STATE_TAG] == "stop@2026-11-27T17:55:00Z"


@pytest.mark.slow
def test_london_office_over_the_week_the_clocks_go_forward(ec2: Any, run: Run) -> None:
    """The box follows London's wall clock on both sides of Sunday 29 March 2026, whatever
    zone the passes give `now` in (here Tokyo's)."""
    (box,) = launch(ec2, {TAG: LONDON_OFFICE}, state="stopped")
    london, tokyo = ZoneInfo("Europe/London"), ZoneInfo("Asia/Tokyo")
    first = at("2026-03-26 00:00")  # Thursday, GMT
    for now in ticks(first, first + timedelta(days=6)):
        run(now.astimezone(tokyo))
        assert (power(box) == "running") == office_hours(now.astimezone(london)), now
    # Tuesday 31 March 17:55 BST is 16:55 UTC.
    assert tags_of(ec2, box)[STATE_TAG] == "stop@2026-03-31T16:55:00Z"


@pytest.mark.parametrize(
    ("before", "start", "utc"),
    [
        ("2026-10-26 07:45", "2026-10-26 08:00", "start@2026-10-26T08:00:00Z"),  # London, GMT
        ("2026-03-30 06:45", "2026-03-30 07:00", "start@2026-03-30T07:00:00Z"),  # London, BST
    ],
)
def test_london_start_after_a_clock_change(
    ec2: Any, run: Run, before: str, start: str, utc: str
) -> None:
    tags = {TAG: LONDON_OFFICE, STATE_TAG: "stop@2026-01-01T00:00:00Z"}
    (box,) = launch(ec2, tags, state="stopped")
    run(at(before))
    assert power(box) == "stopped"
    run(at(start))
    assert power(box) == "running"
    assert tags_of(ec2, box)[STATE_TAG] == utc


@pytest.mark.parametrize(
    ("cron", "tz", "handled", "passes", "acting"),
    [
        # 02:30 does not exist in New York on 8 March: it fires at 03:00 EDT (07:00 UTC).
        (
            "30 2 * * *",
            "America/New_York",
            "stop@2026-03-07T07:30:00Z",
            ["2026-03-08 06:45", "2026-03-08 07:00", "2026-03-08 07:30"],
            "2026-03-08 07:00",
        ),
        # 01:30 happens twice in New York on 1 November: the first one (05:30 UTC) counts,
        # and the box is not stopped again an hour later.
        (
            "30 1 * * *",
            "America/New_York",
            "stop@2026-10-31T05:30:00Z",
            ["2026-11-01 05:15", "2026-11-01 05:30", "2026-11-01 06:30"],
            "2026-11-01 05:30",
        ),
        # London: 01:30 on 25 October, first at 00:30 UTC, again at 01:30 UTC.
        (
            "30 1 * * *",
            "Europe/London",
            "stop@2026-10-24T00:30:00Z",
            ["2026-10-25 00:15", "2026-10-25 00:30", "2026-10-25 01:30"],
            "2026-10-25 00:30",
        ),
        # London: 01:30 on 29 March does not exist; it fires at 02:00 BST (01:00 UTC).
        (
            "30 1 * * *",
            "Europe/London",
            "stop@2026-03-28T01:30:00Z",
            ["2026-03-29 00:45", "2026-03-29 01:00", "2026-03-29 01:30"],
            "2026-03-29 01:00",
        ),
    ],
)
def test_stop_inside_a_changing_hour_acts_once(
    ec2: Any, run: Run, cron: str, tz: str, handled: str, passes: list[str], acting: str
) -> None:
    """Somebody starts the box again after each pass; only one pass stops it."""
    (box,) = launch(ec2, {TAG: schedule_tag(stop=cron, tz=tz), STATE_TAG: handled})
    acted = []
    for moment in passes:
        if power(box) == "stopped":
            ec2.start_instances(InstanceIds=[box])
        if entry(run(at(moment)), box):
            acted.append(moment)
    assert acted == [acting]


# --- the design's scenarios --------------------------------------------------------------


def test_late_run_still_starts(ec2: Any, run: Run) -> None:
    """08:00 start first seen at 11:00 (the Lambda was down): started, and recorded."""
    (box,) = launch(ec2, {TAG: SEED, STATE_TAG: "stop@2026-11-20T17:55:00Z"}, state="stopped")
    summary = run(at("2026-11-23 11:00"))
    assert entry(summary, box) == {
        "id": box,
        "kind": "ec2",
        "region": REGION,
        "action": "start",
        "reason": "new-event",
        "result": "done",
    }
    assert power(box) == "running"
    assert tags_of(ec2, box)[STATE_TAG] == "start@2026-11-23T08:00:00Z"


def test_first_sight_acts_on_the_latest_event(ec2: Any, run: Run) -> None:
    running = launch(ec2, {TAG: SEED})[0]
    stopped = launch(ec2, {TAG: SEED}, state="stopped")[0]
    summary = run(at("2026-11-21 10:00"))  # Saturday: latest event is Friday's stop
    assert entry(summary, running) == {
        "id": running,
        "kind": "ec2",
        "region": REGION,
        "action": "stop",
        "reason": "first-sight",
        "result": "done",
    }
    assert entry(summary, stopped) is None  # already there: no action, only the record
    assert summary.reasons["already-stopped"] == 1
    for box in (running, stopped):
        assert power(box) == "stopped"
        assert tags_of(ec2, box)[STATE_TAG] == "stop@2026-11-20T17:55:00Z"


def test_missed_weekend_runs(ec2: Any, run: Run, calls: Calls) -> None:
    """Stopped Friday evening, no run all weekend; Monday 07:00 changes nothing, Monday
    09:00 starts it."""
    (box,) = launch(ec2, {TAG: SEED})
    run(at("2026-11-20 18:00"))
    assert power(box) == "stopped"
    calls.clear()
    summary = run(at("2026-11-23 07:00"))
    # The stop's check: seen stopped, from the describe answer alone; nothing written (an
    # idle pass writes nothing: its powercycle:attempts tag stays until the next action).
    assert calls.mutating() == [] and summary.reasons["handled"] == 1
    run(at("2026-11-23 09:00"))
    assert power(box) == "running"


def test_missed_runs_collapse_to_the_latest_event(ec2: Any, run: Run, calls: Calls) -> None:
    """After a two-day outage only the latest event counts: one stop, no start/stop storm."""
    up = launch(ec2, {TAG: SEED, STATE_TAG: "start@2026-11-23T08:00:00Z"})[0]
    down = launch(ec2, {TAG: SEED, STATE_TAG: "stop@2026-11-20T17:55:00Z"}, state="stopped")[0]
    calls.clear()
    summary = run(at("2026-11-25 19:00"))
    # The stopped one's state tag with its powercycle:attempts, the other's alone.
    assert calls.mutating() == ["StopInstances", "CreateTags", "CreateTags"]
    assert calls.of("StopInstances")[0]["InstanceIds"] == [up]
    assert entry(summary, up) is not None and entry(summary, down) is None
    assert (power(up), power(down)) == ("stopped", "stopped")
    for box in (up, down):
        assert tags_of(ec2, box)[STATE_TAG] == "stop@2026-11-25T17:55:00Z"


def test_person_starting_a_box_after_hours_keeps_it(ec2: Any, run: Run, calls: Calls) -> None:
    """Stopped at 18:00, started by hand at 21:00: left running overnight and all the next
    day, stopped by the next 17:55 stop."""
    (box,) = launch(ec2, {TAG: SEED})
    run(at("2026-11-23 18:00"))
    assert power(box) == "stopped"
    ec2.start_instances(InstanceIds=[box])
    calls.clear()
    for now in ticks(at("2026-11-23 21:00"), at("2026-11-24 17:45")):
        run(now)
        assert power(box) == "running", now
    # The 18:00 stop checked (nothing written: the person's start respected); the 08:00
    # start found it running: recorded, no action.
    assert calls.mutating() == ["CreateTags"]
    assert tags_of(ec2, box)[STATE_TAG] == "start@2026-11-24T08:00:00Z"
    run(at("2026-11-24 18:00"))
    assert power(box) == "stopped"


@pytest.mark.parametrize("enforce", [False, True])
def test_person_stopping_a_box_in_working_hours(ec2: Any, run: Run, enforce: bool) -> None:
    """Without enforce the box stays stopped until the next start; with it, it is started
    again on the next pass."""
    doc = schedule_tag(start="0 8 * * 1-5", stop="55 17 * * 1-5", enforce=enforce)
    (box,) = launch(ec2, {TAG: doc}, state="stopped")
    run(at("2026-11-23 08:00"))
    assert power(box) == "running"
    ec2.stop_instances(InstanceIds=[box])
    summary = run(at("2026-11-23 10:15"))
    if enforce:
        assert entry(summary, box) == {
            "id": box,
            "kind": "ec2",
            "region": REGION,
            "action": "start",
            "reason": "enforce",
            "result": "done",
        }
        assert power(box) == "running"
    else:
        assert entry(summary, box) is None and summary.reasons["handled"] == 1
        assert power(box) == "stopped"
        run(at("2026-11-24 08:00"))
        assert power(box) == "running"


def test_enforce_stops_a_box_started_after_hours(ec2: Any, run: Run) -> None:
    doc = schedule_tag(start="0 8 * * 1-5", stop="55 17 * * 1-5", enforce=True)
    (box,) = launch(ec2, {TAG: doc, STATE_TAG: "stop@2026-11-23T17:55:00Z"}, state="stopped")
    ec2.start_instances(InstanceIds=[box])
    run(at("2026-11-23 21:00"))
    assert power(box) == "stopped"


def test_start_only_schedule(ec2: Any, run: Run) -> None:
    """Started at 08:00; stopped by hand at 12:00, it stays stopped until tomorrow 08:00."""
    (box,) = launch(ec2, {TAG: schedule_tag(start="0 8 * * 1-5")}, state="stopped")
    run(at("2026-11-23 08:00"))
    assert power(box) == "running"
    ec2.stop_instances(InstanceIds=[box])
    for now in ticks(at("2026-11-23 12:00"), at("2026-11-24 07:45"), timedelta(hours=1)):
        run(now)
        assert power(box) == "stopped", now
    run(at("2026-11-24 08:00"))
    assert power(box) == "running"


def test_stop_only_schedule(ec2: Any, run: Run) -> None:
    """Stopped every evening; started by hand in the morning, it runs until 19:00."""
    (box,) = launch(ec2, {TAG: schedule_tag(stop="0 19 * * *")})
    run(at("2026-11-23 19:00"))
    assert power(box) == "stopped"
    for now in ticks(at("2026-11-23 19:15"), at("2026-11-24 09:00"), timedelta(hours=1)):
        run(now)
        assert power(box) == "stopped", now
    ec2.start_instances(InstanceIds=[box])
    for now in ticks(at("2026-11-24 09:15"), at("2026-11-24 18:45"), timedelta(minutes=30)):
        run(now)
        assert power(box) == "running", now
    run(at("2026-11-24 19:00"))
    assert power(box) == "stopped"


def test_tie_start_wins(ec2: Any, run: Run) -> None:
    (box,) = launch(ec2, {TAG: schedule_tag(start="0 8 * * *", stop="0 8 * * *")}, state="stopped")
    summary = run(at("2026-11-23 08:00"))
    assert entry(summary, box) is not None and power(box) == "running"
    assert tags_of(ec2, box)[STATE_TAG] == "start@2026-11-23T08:00:00Z"


def test_list_of_crons(ec2: Any, run: Run) -> None:
    """Weekdays 08:00-18:00 and Saturdays 10:00-12:00."""
    doc = schedule_tag(start=["0 8 * * 1-5", "0 10 * * 6"], stop=["0 18 * * 1-5", "0 12 * * 6"])
    (box,) = launch(ec2, {TAG: doc})
    expected = {
        "2026-11-27 17:45": "running",
        "2026-11-27 18:00": "stopped",
        "2026-11-28 09:45": "stopped",
        "2026-11-28 10:00": "running",
        "2026-11-28 12:00": "stopped",
        "2026-11-30 07:45": "stopped",
        "2026-11-30 08:00": "running",
    }
    for moment, state in expected.items():
        run(at(moment))
        assert power(box) == state, moment


def test_skip_dates(ec2: Any, run: Run) -> None:
    """No start on Christmas Day (a Friday); Monday starts as usual."""
    doc = schedule_tag(start="0 8 * * 1-5", stop="0 18 * * 1-5", skip=["2026-12-25"])
    (box,) = launch(ec2, {TAG: doc, STATE_TAG: "stop@2026-12-24T18:00:00Z"}, state="stopped")
    run(at("2026-12-25 08:00"))
    run(at("2026-12-25 12:00"))
    assert power(box) == "stopped"
    run(at("2026-12-28 08:00"))
    assert power(box) == "running"


def test_max_runtime_stops_a_box_left_running(ec2: Any, run: Run) -> None:
    """Stop-only schedule with a 4h cap: started by hand at 21:00, stopped after 01:00."""
    doc = schedule_tag(stop="0 19 * * *", maxRuntime="4h")
    (box,) = launch(ec2, {TAG: doc, STATE_TAG: "stop@2026-11-23T19:00:00Z"})
    set_launch_time(box, at("2026-11-23 21:00"))
    run(at("2026-11-24 01:00"))
    assert power(box) == "running"
    summary = run(at("2026-11-24 01:15"))
    assert entry(summary, box) == {
        "id": box,
        "kind": "ec2",
        "region": REGION,
        "action": "stop",
        "reason": "max-runtime",
        "result": "done",
    }
    assert power(box) == "stopped"
    assert tags_of(ec2, box)[STATE_TAG] == "stop@2026-11-24T01:15:00Z"


def test_snooze_tag(ec2: Any, run: Run, calls: Calls) -> None:
    """powercycle:skip-until leaves the box alone until then, then the schedule applies."""
    tags = {
        TAG: SEED,
        STATE_TAG: "start@2026-11-23T08:00:00Z",
        "powercycle:skip-until": "2026-11-24T06:00:00Z",
    }
    (box,) = launch(ec2, tags)
    calls.clear()
    summary = run(at("2026-11-23 18:00"))
    assert summary.reasons["snoozed"] == 1
    assert calls.mutating() == [] and power(box) == "running"
    run(at("2026-11-24 06:00"))
    assert power(box) == "stopped"
    assert tags_of(ec2, box)[STATE_TAG] == "stop@2026-11-23T17:55:00Z"


def test_hibernate_schedule_hibernates_and_falls_back(ec2: Any, run: Run, calls: Calls) -> None:
    """`hibernate`: EC2 is asked to hibernate; where it refuses, the box is stopped plainly
    and the stop is recorded all the same."""
    doc = schedule_tag(stop="0 18 * * *", hibernate=True)
    able = launch(ec2, {TAG: doc})[0]
    unable = launch(ec2, {TAG: doc})[0]
    refuse(
        ec2,
        "StopInstances",
        lambda p: p.get("Hibernate") is True and unable in p["InstanceIds"],
        "UnsupportedHibernationConfiguration",
    )
    calls.clear()
    summary = run(at("2026-11-23 18:00"))
    assert summary.counts["done"] == 2 and not summary.errors
    stops = [(c["InstanceIds"], c.get("Hibernate")) for c in calls.of("StopInstances")]
    assert ([able], True) in stops and ([unable], None) in stops
    assert (power(able), power(unable)) == ("stopped", "stopped")
    assert tags_of(ec2, unable)[STATE_TAG] == "stop@2026-11-23T18:00:00Z"


# --- states the box is in ----------------------------------------------------------------


@pytest.mark.parametrize("transition", ["pending", "stopping"])
def test_transitional_states_wait_and_record_nothing(
    ec2: Any, run: Run, calls: Calls, transition: str
) -> None:
    (box,) = launch(ec2, {TAG: SEED})
    set_state(box, transition)
    calls.clear()
    summary = run(at("2026-11-23 18:00"))
    assert summary.reasons["in-transition"] == 1
    assert calls.mutating() == []
    assert STATE_TAG not in tags_of(ec2, box)
    set_state(box, "running")
    run(at("2026-11-23 18:15"))
    assert power(box) == "stopped"
    assert tags_of(ec2, box)[STATE_TAG] == "stop@2026-11-23T17:55:00Z"


def test_auto_scaling_group_members_are_skipped(ec2: Any, run: Run) -> None:
    (member,) = launch(ec2, {TAG: SEED, "aws:autoscaling:groupName": "workers"})
    summary = run(at("2026-11-23 18:00"))
    assert summary.reasons["autoscaling-group"] == 1 and summary.counts["skipped"] == 1
    assert power(member) == "running" and STATE_TAG not in tags_of(ec2, member)


@pytest.mark.parametrize(
    ("env", "tags", "excluded"),
    [
        (None, {"environment": "p"}, True),
        (None, {"environment": "P"}, True),
        (None, {"environment": " p "}, True),
        (None, {"environment": "prod"}, True),  # production by its usual spellings
        (None, {"environment": "Production"}, True),
        (None, {"environment": "preprod"}, False),
        (None, {"Environment": "P"}, True),  # keys compared case-insensitively too
        ("team=Core,environment=prod", {"team": "core"}, True),
        ("team=Core,environment=prod", {"environment": "PROD"}, True),
        ("team=Core,environment=prod", {"environment": "p"}, False),
        ("", {"environment": "p"}, False),
    ],
)
def test_exclusions(
    ec2: Any, run: Run, env: str | None, tags: dict[str, str], excluded: bool
) -> None:
    environ = {"AWS_REGION": REGION} | ({} if env is None else {"POWERCYCLE_EXCLUDE": env})
    config = Config.from_env(environ)
    (box,) = launch(ec2, {TAG: SEED, **tags})
    summary = run(at("2026-11-23 18:00"), config)
    if excluded:
        assert summary.counts["skipped"] == 1
        assert [r for r in summary.reasons if r.startswith("excluded:")]
        assert power(box) == "running" and STATE_TAG not in tags_of(ec2, box)
    else:
        assert power(box) == "stopped"


def test_create_tags_grouped_by_value(ec2: Any, run: Run, calls: Calls) -> None:
    """Nine instances, two values to write: two CreateTags calls, whatever the count.
    The third group already carries its value (and was started by hand): left alone."""
    a = launch(ec2, {TAG: SEED}, count=4)
    b = launch(ec2, {TAG: schedule_tag(stop="0 17 * * *")}, count=3)
    c = launch(
        ec2, {TAG: schedule_tag(stop="0 17 * * *"), STATE_TAG: "stop@2026-11-23T17:00:00Z"}, count=2
    )
    calls.clear()
    run(at("2026-11-23 18:00"))
    assert calls.count["StopInstances"] == 1
    assert calls.count["CreateTags"] == 2  # c already carries its value: no call
    values = {
        tuple(sorted(call["Resources"])): call["Tags"][0]["Value"]
        for call in calls.of("CreateTags")
    }
    assert values == {
        tuple(sorted(a)): "stop@2026-11-23T17:55:00Z",
        tuple(sorted(b)): "stop@2026-11-23T17:00:00Z",
    }
    assert all(power(i) == "stopped" for i in a + b)
    assert all(power(i) == "running" for i in c)


# --- bad input ---------------------------------------------------------------------------


BAD_SCHEDULES = [
    pytest.param(
        '{"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5"', "not valid JSON", id="malformed-json"
    ),
    pytest.param('["0 8 * * 1-5"]', "JSON object", id="not-an-object"),
    pytest.param('{"tz": "Europe/London"}', '"start", "stop" or both', id="neither"),
    pytest.param(
        '{"start": "0 8 * * 1-5", "stop": "55 25 * * 1-5"}', "55 25 * * 1-5", id="bad-cron"
    ),
    pytest.param('{"stop": "0 18 * * *", "tz": "Mars/Olympus"}', "Mars/Olympus", id="unknown-zone"),
    pytest.param('{"stop": "0 18 * * *", "enforce": "true"}', '"enforce"', id="wrong-type"),
    pytest.param('{"stop": "0 18 * * *", "stopp": "0 19 * * *"}', "'stopp'", id="unknown-key"),
    pytest.param("", "not JSON", id="empty"),
]


@pytest.mark.parametrize(("value", "cause"), BAD_SCHEDULES)
def test_bad_schedule_is_reported_and_nothing_is_done(
    ec2: Any, run: Run, calls: Calls, caplog: pytest.LogCaptureFixture, value: str, cause: str
) -> None:
    """The error names the instance and the cause, in the summary and the log; the run
    goes on for the others; the bad one's state and tags are unchanged."""
    tags = {TAG: value, STATE_TAG: "start@2026-11-23T08:00:00Z", "Name": "broken"}
    (bad,) = launch(ec2, tags)
    (good,) = launch(ec2, {TAG: SEED})
    calls.clear()
    with caplog.at_level(logging.INFO, logger="powercycle"):
        summary = run(at("2026-11-23 18:00"))

    error = errors_of(summary)[bad]
    assert cause in error and TAG in error
    assert summary.counts["error"] == 1
    (line,) = [x for x in log_lines(caplog.records) if x["resource"] == bad]
    assert cause in line["error"] and line["result"] == "error" and line["action"] is None
    # Nothing done to it; the other one stopped.
    assert power(bad) == "running" and tags_of(ec2, bad) == tags
    assert power(good) == "stopped"
    changes = [call for name, call in calls.log if name in MUTATING]
    assert changes and all(bad not in call.get("InstanceIds", ()) for call in changes)
    assert all(bad not in call.get("Resources", ()) for call in changes)


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        (STATE_TAG, "started at eight"),
        (STATE_TAG, "start@2026-11-23T08:00:00"),
        ("powercycle:skip-until", "tomorrow"),
    ],
)
def test_malformed_state_or_snooze_tag(
    ec2: Any, run: Run, caplog: pytest.LogCaptureFixture, tag: str, value: str
) -> None:
    tags = {TAG: SEED, tag: value}
    (bad,) = launch(ec2, tags)
    (good,) = launch(ec2, {TAG: SEED})
    with caplog.at_level(logging.INFO, logger="powercycle"):
        summary = run(at("2026-11-23 18:00"))
    error = errors_of(summary)[bad]
    assert value in error
    assert any(
        x["resource"] == bad and value in x.get("error", "") for x in log_lines(caplog.records)
    )
    assert power(bad) == "running" and tags_of(ec2, bad) == tags
    assert power(good) == "stopped"


# --- failures while acting ---------------------------------------------------------------


def test_a_refused_instance_is_reported_not_recorded_and_retried(
    ec2: Any, run: Run, calls: Calls
) -> None:
    ids = launch(ec2, {TAG: SEED}, count=8)
    bad = ids[5]
    refusal = refuse(
        ec2,
        "StopInstances",
        lambda p: bad in p["InstanceIds"],
        "IncorrectInstanceState",
        f"The instance '{bad}' is not in a state from which it can be stopped.",
    )
    summary = run(at("2026-11-23 18:00"))
    failed = entry(summary, bad)
    assert failed is not None and failed["result"] == "failed"
    assert failed["reason"] == "first-sight"
    assert bad in failed["error"] and "IncorrectInstanceState" in failed["error"]
    assert bad in errors_of(summary)
    assert summary.counts["done"] == 7 and summary.counts["failed"] == 1
    assert power(bad) == "running" and STATE_TAG not in tags_of(ec2, bad)
    for other in ids:
        if other != bad:
            assert power(other) == "stopped"
            assert tags_of(ec2, other)[STATE_TAG] == "stop@2026-11-23T17:55:00Z"
    # The next pass (EC2 has recovered) tries again.
    refusal.lift()
    calls.clear()
    summary = run(at("2026-11-23 18:15"))
    assert calls.of("StopInstances") == [{"InstanceIds": [bad]}]
    assert power(bad) == "stopped"
    assert tags_of(ec2, bad)[STATE_TAG] == "stop@2026-11-23T17:55:00Z"


def test_a_failed_tag_is_reported_and_recorded_next_time(ec2: Any, run: Run, calls: Calls) -> None:
    (box,) = launch(ec2, {TAG: SEED})
    refuse(ec2, "CreateTags", lambda p: True, "RequestLimitExceeded", "slow down", times=1)
    summary = run(at("2026-11-23 18:00"))
    assert power(box) == "stopped"  # the action stands: a warning, not an error
    assert box not in errors_of(summary)
    (warning,) = summary.to_dict()["warnings"]
    assert warning["id"] == box and "state tag not written" in warning["warning"]
    assert summary.counts == {"done": 1}
    calls.clear()
    summary = run(at("2026-11-23 18:15"))
    assert calls.mutating() == ["CreateTags"] and summary.reasons["already-stopped"] == 1
    assert tags_of(ec2, box)[STATE_TAG] == "stop@2026-11-23T17:55:00Z"


class BrokenRegion:
    """A provider whose discovery fails (region unreachable, access denied)."""

    kind = "ec2"
    region = "ap-south-2"

    def discover(self, tag: str) -> Iterable[Resource]:
        from tests.helpers import client_error

        raise client_error(
            "UnauthorizedOperation", "not authorised in ap-south-2", "DescribeInstances"
        )

    def lookup(self, refs: Sequence[str]) -> dict[str, Resource]:
        return {}

    def act(self, action: Action, requests: Sequence[ActRequest]) -> dict[str, ActionError | None]:
        raise AssertionError("nothing to act on")

    def record(self, key: str, values: Any) -> dict[str, str]:
        raise AssertionError("nothing to record")


def test_one_region_failing_does_not_stop_the_others(ec2: Any, config: Config) -> None:
    (box,) = launch(ec2, {TAG: SEED})
    providers: list[Provider] = [BrokenRegion(), Ec2Provider(config, REGION, client=ec2)]
    summary = engine.run_pass(config, at("2026-11-23 18:00"), providers=providers)
    assert power(box) == "stopped"
    error = errors_of(summary)["ec2:ap-south-2"]
    assert "discovery failed" in error and "UnauthorizedOperation" in error


# --- dry run and the log -----------------------------------------------------------------


def test_dry_run_plans_without_changing_anything(ec2: Any, run: Run, calls: Calls) -> None:
    up = launch(ec2, {TAG: SEED})[0]
    down = launch(ec2, {TAG: SEED}, state="stopped")[0]
    calls.clear()
    dry = Config(regions=(REGION,), dry_run=True)
    summary = run(at("2026-11-23 18:00"), dry).to_dict()
    assert calls.mutating() == []
    assert summary["dryRun"] is True
    assert summary["actions"] == [
        {
            "id": up,
            "kind": "ec2",
            "region": REGION,
            "action": "stop",
            "reason": "first-sight",
            "result": "planned",
        }
    ]
    assert (power(up), power(down)) == ("running", "stopped")
    assert STATE_TAG not in tags_of(ec2, up) and STATE_TAG not in tags_of(ec2, down)


def test_one_json_log_line_per_resource(
    ec2: Any, run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    up = launch(ec2, {TAG: SEED, "Name": "dev-web"})[0]
    excluded = launch(ec2, {TAG: SEED, "environment": "p"})[0]
    bad = launch(ec2, {TAG: "{"})[0]
    with caplog.at_level(logging.INFO, logger="powercycle"):
        run(at("2026-11-23 18:00"))
    lines = {x["resource"]: x for x in log_lines(caplog.records)}
    assert set(lines) == {up, excluded, bad}
    for line in lines.values():
        assert {"resource", "source", "event", "state", "action", "reason", "result"} <= set(line)
    assert {
        k: lines[up][k]
        for k in ("name", "source", "event", "state", "action", "reason", "result", "record")
    } == {
        "name": "dev-web",
        "source": "inline",
        "event": "stop@2026-11-23T17:55:00Z",
        "state": None,
        "action": "stop",
        "reason": "first-sight",
        "result": "done",
        "record": "stop@2026-11-23T17:55:00Z",
    }
    assert (lines[excluded]["result"], lines[excluded]["reason"]) == (
        "skipped",
        "excluded:environment=p",
    )
    assert lines[bad]["result"] == "error"
    # Each line is one JSON object on one line.
    raw = [logs.line(r) for r in caplog.records if '"resource"' in logs.line(r)]
    assert len(raw) == 3 and all("\n" not in m and json.loads(m) for m in raw)


# --- a large fleet -----------------------------------------------------------------------


def test_a_paginated_fleet_in_many_reservations_all_acts(
    ec2: Any, run: Run, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every instance of a paginated fleet is found and stopped: 5 pages of 10
    reservations (moto counts MaxResults in reservations), 3 stop batches of at most 50,
    2 tag calls. (Pages, batches and tag groups made small: the same code paths as 1,260
    instances in pages of 100 and tag calls of 1,000, in a second instead of a minute.)"""
    ids = launch_fleet(ec2, reservations=42, per_reservation=3, tags={TAG: SEED})
    monkeypatch.setattr(ec2_module, "PAGE_SIZE", 10)
    monkeypatch.setattr(ec2_module, "TAG_BATCH", 100)
    calls.clear()

    summary = run(at("2026-11-23 18:00"))

    assert summary.scanned == 126 and summary.counts["done"] == 126
    assert calls.count == {"DescribeInstances": 5, "StopInstances": 3, "CreateTags": 2}
    stopped = [i for call in calls.of("StopInstances") for i in call["InstanceIds"]]
    assert sorted(stopped) == sorted(ids)
    tagged = [i for call in calls.of("CreateTags") for i in call["Resources"]]
    assert sorted(tagged) == sorted(ids)
    assert all(power(i) == "stopped" for i in ids)
    assert {tags_of(ec2, ids[0])[STATE_TAG], tags_of(ec2, ids[-1])[STATE_TAG]} == {
        "stop@2026-11-23T17:55:00Z"
    }


def test_production_by_its_usual_spellings_is_never_touched(ec2: Any, run: Run) -> None:
    """The default POWERCYCLE_EXCLUDE: `p`, `prod` and `production`, in any case."""
    spellings = ("P", "prod", " Production ")
    boxes = [launch(ec2, {TAG: SEED, "Environment": value})[0] for value in spellings]
    (dev,) = launch(ec2, {TAG: SEED, "Environment": "dev"})
    summary = run(at("2026-11-23 18:00"))
    assert [power(box) for box in boxes] == ["running"] * 3
    assert power(dev) == "stopped"
    assert summary.reasons["excluded:environment=prod"] == 1
    assert summary.reasons["excluded:environment=production"] == 1
