"""Fault injection through the real handler (moto): one resource's bad data, a typo in a
payload, a throttling storm or a spent budget never stops, fools or stalls a pass.

Each crash input sits on one instance beside a canary with a good schedule: the canary
must still be acted on, and the bad one must get an error naming it, with nothing done.
(URL faults: test_faults_sources.py; CAST AI faults: test_faults_castai.py; schedule
documents: test_faults_schedule.py.)
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from powercycle.config import Config
from powercycle.handler import EventError, run_event
from powercycle.runtime.budget import Budget
from tests.helpers import (
    MUTATING,
    REGION,
    SEED,
    STATE_TAG,
    TAG,
    Calls,
    at,
    launch,
    refuse,
    state_of,
    tags_of,
)

pytestmark = pytest.mark.usefixtures("ec2_only", "shared_client")

EVENING = at("2026-11-23 18:00")  # Monday, UTC: the seed's 17:55 stop is due
SKIP_TAG = "powercycle:skip-until"
NESTED = '{"stop": "0 19 * * *", "x": ' + "[" * 600 + "]" * 600 + "}"

CRASH_TAGS: list[tuple[str, dict[str, str]]] = [
    ("huge maxRuntime", {TAG: '{"stop":"0 19 * * *","maxRuntime":"9999999999d"}'}),
    ("5000-digit maxRuntime", {TAG: '{"stop":"0 19 * * *","maxRuntime":"' + "9" * 5000 + 'h"}'}),
    ("state at the end of time", {TAG: SEED, STATE_TAG: "stop@9999-12-31T23:59:59-23:59"}),
    ("snooze at the end of time", {TAG: SEED, SKIP_TAG: "stop@9999-12-31T23:59:59-23:59"}),
    ("snooze beyond datetime", {TAG: SEED, SKIP_TAG: "9999-12-31T23:59:59-23:59"}),
    ("future state", {TAG: SEED, STATE_TAG: "stop@2099-01-01T00:00:00Z"}),
    ("skip from year 1", {TAG: '{"stop":"0 19 * * *","skip":["0001-01-01..2030-01-01"]}'}),
    ("tz is a directory", {TAG: '{"stop":"0 19 * * *","tz":"Europe"}'}),
    ("300-character tz", {TAG: json.dumps({"stop": "0 19 * * *", "tz": "A" * 300})}),
    ("tz path", {TAG: '{"stop":"0 19 * * *","tz":"../../../etc/passwd"}'}),
    ("nested 600 deep", {TAG: NESTED}),
    ("random cron", {TAG: '{"stop":"R 18 * * *"}'}),
    ("hashed cron", {TAG: '{"stop":"H 18 * * *"}'}),
    ("never fires", {TAG: '{"stop":"0 0 31 2 *"}'}),
    ("not JSON", {TAG: "{stop: 7pm}"}),
    ("a list", {TAG: "[1, 2, 3]"}),
    ("empty", {TAG: ""}),
    ("NUL bytes", {TAG: '{"stop":"0 19 * * *\\u0000"}'}),
]


def by_id(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in entries}


@pytest.mark.parametrize(("label", "tags"), CRASH_TAGS, ids=[c[0] for c in CRASH_TAGS])
def test_one_bad_value_is_that_resource_s_error_and_the_canary_still_acts(
    ec2: Any, label: str, tags: dict[str, str]
) -> None:
    (canary,) = launch(ec2, {TAG: SEED, "Name": "canary"})
    (bad,) = launch(ec2, tags)
    before = tags_of(ec2, bad)

    result = run_event({}, Config(regions=(REGION,), kinds=("ec2",)), EVENING)

    assert state_of(ec2, canary) == "stopped", label
    assert tags_of(ec2, canary)[STATE_TAG] == "stop@2026-11-23T17:55:00Z"
    errors = by_id(result["errors"])
    assert bad in errors, (label, result)
    assert errors[bad]["kind"] == "ec2" and errors[bad]["region"] == REGION
    assert "\n" not in errors[bad]["error"] and len(errors[bad]["error"]) < 600
    # Nothing was done to it.
    assert state_of(ec2, bad) == "running"
    assert tags_of(ec2, bad) == before
    # The counts add up: every resource seen has exactly one result.
    assert sum(result["counts"].values()) == result["scanned"] == 2


@pytest.mark.parametrize(
    "event",
    [
        {"DryRun": "True"},  # ec2-powercycle's own test payload
        {"DryRun": "true"},
        {"DryRun": True},
        {"dryRun": True},
        {"dryRun": "TRUE"},
    ],
)
def test_every_dry_run_spelling_is_a_dry_run(ec2: Any, event: dict[str, Any]) -> None:
    (box,) = launch(ec2, {TAG: SEED})
    calls = Calls(ec2)
    result = run_event(event, Config(regions=(REGION,), kinds=("ec2",)), EVENING)
    assert result["dryRun"] is True
    assert calls.mutating() == []
    assert state_of(ec2, box) == "running" and STATE_TAG not in tags_of(ec2, box)
    assert result["actions"][0]["result"] == "planned"


@pytest.mark.parametrize(
    ("event", "needle"),
    [
        ({"dryrun": True}, "'dryrun'"),
        ({"dry_run": True}, "'dry_run'"),
        ({"dryRun ": True}, "'dryRun '"),
        ({"DRYRUN": "true"}, "'DRYRUN'"),
        ({"dryRun": ""}, "dryRun"),
        ({"dryRun": None}, "dryRun"),
        ({"DryRun": "yes please"}, "DryRun"),
        ({"instanceIds": ["i-1"], "action": "stop", "dryrun": True}, "'dryrun'"),
        ({"action": "stop"}, "action"),
        # Too long for Python to print: the message still names the key.
        ({"dryRun": 10**5000}, "dryRun"),
        ({"instanceIds": [10**5000], "action": "stop"}, "instanceIds"),
    ],
)
def test_a_misspelt_or_empty_dry_run_is_refused_before_any_call(
    ec2: Any, event: dict[str, Any], needle: str
) -> None:
    (box,) = launch(ec2, {TAG: SEED})
    calls = Calls(ec2)
    with pytest.raises(EventError) as caught:
        run_event(event, Config(regions=(REGION,), kinds=("ec2",)), EVENING)
    assert needle in str(caught.value)
    assert calls.log == []
    assert state_of(ec2, box) == "running"


@pytest.mark.parametrize("tags", [{"Environment": "P"}, {"ENVIRONMENT": " p "}])
def test_production_guard_ignores_case_on_keys_and_values(
    ec2: Any, tags: dict[str, str]
) -> None:
    (prod,) = launch(ec2, {TAG: SEED, **tags})
    (dev,) = launch(ec2, {TAG: SEED})
    result = run_event({}, Config.from_env({"AWS_REGION": REGION}), EVENING)
    assert state_of(ec2, prod) == "running" and state_of(ec2, dev) == "stopped"
    assert result["reasons"]["excluded:environment=p"] == 1
    manual = run_event(
        {"instanceIds": [prod], "action": "stop"}, Config.from_env({"AWS_REGION": REGION}), EVENING
    )
    assert state_of(ec2, prod) == "running"
    assert "excluded by environment=p" in by_id(manual["errors"])[prod]["error"]


def test_a_throttled_batch_of_50_is_retried_whole_not_bisected(ec2: Any) -> None:
    boxes = launch(ec2, {TAG: SEED}, count=50)
    calls = Calls(ec2)
    throttle = refuse(ec2, "StopInstances", lambda p: True, "RequestLimitExceeded", "slow down")
    config = Config(regions=(REGION,), kinds=("ec2",), retry_delay_s=0.0)

    result = run_event({}, config, EVENING)

    assert len(calls.of("StopInstances")) <= 3
    assert all(len(c["InstanceIds"]) == 50 for c in calls.of("StopInstances"))
    assert result["counts"] == {"failed": 50}
    assert all("RequestLimitExceeded" in e["error"] for e in result["errors"])
    assert not any(STATE_TAG in tags_of(ec2, b) for b in boxes[:3])
    # The next pass, with EC2 answering again, does it all in one call.
    throttle.lift()
    calls.clear()
    result = run_event({}, config, at("2026-11-23 18:15"))
    assert len(calls.of("StopInstances")) == 1 and result["counts"] == {"done": 50}


def test_a_pass_cut_short_by_its_budget_defers_and_the_next_completes(ec2: Any) -> None:
    boxes = launch(ec2, {TAG: SEED}, count=3)
    calls = Calls(ec2)

    def slow_describe(**_: Any) -> None:
        time.sleep(1.1)  # uses up the budget's working time (2 s less a 1 s reserve)

    ec2.meta.events.register_first("before-call.ec2.DescribeInstances", slow_describe)
    config = Config(regions=(REGION,), kinds=("ec2",))
    result = run_event({}, config, EVENING, budget=Budget(2.0, reserve=1.0))
    ec2.meta.events.unregister("before-call.ec2.DescribeInstances", slow_describe)

    assert result["counts"] == {"deferred": 3}
    assert calls.mutating() == []
    assert all(state_of(ec2, b) == "running" and STATE_TAG not in tags_of(ec2, b) for b in boxes)
    # Deferred is not failed: no error, the next pass picks it up.
    assert result["errors"] == []
    result = run_event({}, Config(regions=(REGION,), kinds=("ec2",)), at("2026-11-23 18:15"))
    assert result["counts"] == {"done": 3}


def test_a_spent_budget_before_discovery_defers_the_scope(ec2: Any) -> None:
    launch(ec2, {TAG: SEED})
    calls = Calls(ec2)
    result = run_event({}, Config(regions=(REGION,), kinds=("ec2",)), EVENING, budget=Budget(0.0))
    assert calls.log == [] and result["scanned"] == 0
    assert result["scopes"] == [{"kind": "ec2", "region": REGION, "status": "deferred"}]
    (error,) = result["errors"]
    assert "budget" in error["error"] and error["region"] == REGION


def test_an_exception_inside_a_provider_act_fails_its_batch_only(ec2: Any) -> None:
    (box,) = launch(ec2, {TAG: SEED})

    def explode(**_: Any) -> None:
        raise RuntimeError("something nobody expected\nwith a second line")

    ec2.meta.events.register_first("before-call.ec2.StopInstances", explode)
    result = run_event({}, Config(regions=(REGION,), kinds=("ec2",)), EVENING)
    (action,) = result["actions"]
    assert action["result"] == "failed"
    assert "something nobody expected" in action["error"] and "\n" not in action["error"]
    assert STATE_TAG not in tags_of(ec2, box)


def test_mutating_calls_are_those_the_helpers_count() -> None:
    # A guard for the tests above: a dry run asserting "no mutating call" must know them all.
    assert {"StartInstances", "StopInstances", "CreateTags", "DeleteTags"} <= MUTATING
