"""handler.py and config.py: the Lambda entry on moto with the clock frozen (freezegun),
its payloads (scheduled, dry run, manual), strict settings, and an import that needs no
credentials."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from typing import Any

import pytest
from freezegun import freeze_time

from powercycle.config import Config, ConfigError, parse_bool, parse_exclusions
from powercycle.handler import EventError, handler, run_event
from tests.helpers import (
    REGION,
    SEED,
    STATE_TAG,
    TAG,
    Calls,
    at,
    launch,
    log_lines,
    state_of,
    tags_of,
)

pytestmark = pytest.mark.usefixtures("ec2_only")

MONDAY_EVENING = "2026-11-23 18:00:00"  # UTC: the seed's 17:55 stop is due


# --- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("1", True),
        ("on", True),
        ("false", False),
        ("False", False),
        ("no", False),
        ("0", False),
        ("off", False),
        ("", False),
    ],
)
def test_dry_run_words(raw: str, expected: bool) -> None:
    assert parse_bool("POWERCYCLE_DRY_RUN", raw) is expected
    assert Config.from_env({"POWERCYCLE_DRY_RUN": raw, "AWS_REGION": REGION}).dry_run is expected


@pytest.mark.parametrize("raw", ["maybe", "ture", "2", "-1", "y e s", "dry"])
def test_unreadable_dry_run_is_an_error_never_a_live_run(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env({"POWERCYCLE_DRY_RUN": raw, "AWS_REGION": REGION})
    assert "POWERCYCLE_DRY_RUN" in str(caught.value) and repr(raw) in str(caught.value)


def test_regions() -> None:
    env = {"POWERCYCLE_REGIONS": " eu-west-1, us-east-1,,", "AWS_REGION": "ap-south-1"}
    assert Config.from_env(env).regions == ("eu-west-1", "us-east-1")
    assert Config.from_env({"AWS_REGION": "ap-south-1"}).regions == ("ap-south-1",)
    assert Config.from_env({"AWS_DEFAULT_REGION": "sa-east-1"}).regions == ("sa-east-1",)
    with pytest.raises(ConfigError, match="POWERCYCLE_REGIONS"):
        Config.from_env({})
    assert Config.from_env({}, need_region=False).regions == ()


def test_exclusions_parsing() -> None:
    assert Config.from_env({"AWS_REGION": REGION}).exclude == (
        ("environment", "p"),
        ("environment", "prod"),
        ("environment", "production"),
    )
    assert Config.from_env({"AWS_REGION": REGION}).exclude == Config().exclude
    env = {"AWS_REGION": REGION, "POWERCYCLE_EXCLUDE": " team = core ,environment=prod, "}
    assert Config.from_env(env).exclude == (("team", "core"), ("environment", "prod"))
    assert parse_exclusions("X", "") == ()
    for raw in ("production", "=p", "environment"):
        with pytest.raises(ConfigError) as caught:
            parse_exclusions("POWERCYCLE_EXCLUDE", raw)
        assert "POWERCYCLE_EXCLUDE" in str(caught.value) and repr(raw) in str(caught.value)


def test_excluded_by_compares_keys_and_values_case_insensitively() -> None:
    config = Config(exclude=(("environment", "p"), ("team", "Core")))
    assert config.excluded_by({"environment": "P"}) == "environment=p"
    # The production guard of the seed: `Environment=P` is production too.
    assert config.excluded_by({"Environment": "P"}) == "environment=p"
    assert config.excluded_by({" ENVIRONMENT ": " p"}) == "environment=p"
    assert config.excluded_by({"team": "CORE "}) == "team=Core"
    assert config.excluded_by({"Team": "core"}) == "team=Core"
    assert config.excluded_by({"environment": "prod", "team": "platform"}) is None


def test_other_settings() -> None:
    env = {
        "AWS_REGION": REGION,
        "POWERCYCLE_TAG": "Schedule",
        "POWERCYCLE_DEFAULT_TZ": "Europe/London",
        "CASTAI_API_KEY": "sk-very-secret",
        "CASTAI_API_URL": "https://castai.example/",
    }
    config = Config.from_env(env)
    assert (config.tag, config.default_tz) == ("Schedule", "Europe/London")
    assert config.castai_api_url == "https://castai.example"
    assert "sk-very-secret" not in repr(config)
    with pytest.raises(ConfigError, match="POWERCYCLE_DEFAULT_TZ"):
        Config.from_env({"AWS_REGION": REGION, "POWERCYCLE_DEFAULT_TZ": "Europe/Londn"})


def test_overrides() -> None:
    config = Config(regions=("eu-west-1",), dry_run=False)
    assert config.with_overrides(dry_run=True).dry_run is True
    assert config.with_overrides(dry_run=None).dry_run is False
    assert config.with_overrides(regions=("us-east-1",)).regions == ("us-east-1",)
    assert config.with_overrides(regions=()).regions == ("eu-west-1",)


# --- import ------------------------------------------------------------------------------


def test_handler_imports_without_credentials_or_region(tmp_path: Any) -> None:
    """No AWS client at import time: the module loads with no AWS settings at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    code = (
        "import boto3, powercycle.handler as h; "
        "assert callable(h.handler); "
        "assert boto3.DEFAULT_SESSION is None, 'a session was made at import'; "
        "print('imported')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"


# --- scheduled passes --------------------------------------------------------------------


def test_scheduled_event_runs_a_pass(
    ec2: Any, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """handler({}) with the clock at Monday 18:00 UTC: the office box is stopped."""
    (box,) = launch(ec2, {TAG: SEED})
    scheduled = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events"}
    with freeze_time(MONDAY_EVENING), caplog.at_level(logging.INFO, logger="powercycle"):
        result = handler(scheduled, None)
    assert json.loads(json.dumps(result)) == result
    assert result["now"] == "2026-11-23T18:00:00Z"
    assert (result["dryRun"], result["scanned"], result["errors"]) == (False, 1, [])
    assert result["actions"] == [
        {
            "id": box,
            "kind": "ec2",
            "region": REGION,
            "action": "stop",
            "reason": "first-sight",
            "result": "done",
        }
    ]
    assert result["counts"] == {"done": 1}
    assert state_of(ec2, box) == "stopped"
    assert tags_of(ec2, box)[STATE_TAG] == "stop@2026-11-23T17:55:00Z"
    (line,) = log_lines(caplog.records)
    assert {
        k: line[k] for k in ("resource", "source", "event", "state", "action", "reason", "result")
    } == {
        "resource": box,
        "source": "inline",
        "event": "stop@2026-11-23T17:55:00Z",
        "state": None,
        "action": "stop",
        "reason": "first-sight",
        "result": "done",
    }
    # What the Lambda writes: every line on stdout is one JSON object.
    printed = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    (line,) = [p for p in printed if "summary" in p]
    assert line["summary"] == {
        "now": "2026-11-23T18:00:00Z",
        "dryRun": False,
        "scanned": 1,
        "counts": {"done": 1},
    }
    assert (line["message"], line["service"], line["level"]) == ("summary", "powercycle", "INFO")
    # The pass's metrics follow it (CloudWatch EMF from Powertools; see test_metrics.py):
    # the totals, then ec2 under Kind and under Kind + Region.
    emf = [p for p in printed if "_aws" in p]
    assert [d["Dimensions"] for p in emf for d in p["_aws"]["CloudWatchMetrics"]] == [
        [[]],
        [["Kind"]],
        [["Kind", "Region"]],
    ]
    assert all(p["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "powercycle" for p in emf)
    assert (emf[0]["Scanned"], emf[0]["Stopped"], emf[0]["Failed"]) == ([1], [1], [0])


def test_empty_event_and_none_run_a_pass(ec2: Any) -> None:
    (box,) = launch(ec2, {TAG: SEED})
    with freeze_time(MONDAY_EVENING):
        assert handler(None, None)["actions"][0]["id"] == box
        assert handler({}, None)["reasons"] == {"handled": 1}


def test_configured_tag_key(ec2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERCYCLE_TAG", "Schedule")
    (mine,) = launch(ec2, {"Schedule": SEED})
    (other,) = launch(ec2, {TAG: SEED})
    with freeze_time(MONDAY_EVENING):
        result = handler({}, None)
    assert result["scanned"] == 1
    assert (state_of(ec2, mine), state_of(ec2, other)) == ("stopped", "running")


@pytest.mark.parametrize("event", [{"dryRun": True}, {"dryRun": "true"}])
def test_dry_run_event_changes_nothing(ec2: Any, shared_client: Any, event: dict[str, Any]) -> None:
    up = launch(ec2, {TAG: SEED})[0]
    calls = Calls(ec2)
    with freeze_time(MONDAY_EVENING):
        result = handler(event, None)
    assert result["dryRun"] is True
    assert result["actions"] == [
        {
            "id": up,
            "kind": "ec2",
            "region": REGION,
            "action": "stop",
            "reason": "first-sight",
            "result": "planned",
        }
    ]
    assert set(calls.count) == {"DescribeInstances"}
    assert state_of(ec2, up) == "running" and STATE_TAG not in tags_of(ec2, up)


@pytest.mark.parametrize("event", [{}, {"dryRun": False}, {"dryRun": "no"}])
def test_dry_run_from_the_environment(
    ec2: Any, shared_client: Any, monkeypatch: pytest.MonkeyPatch, event: dict[str, Any]
) -> None:
    """POWERCYCLE_DRY_RUN=yes is a guard: an event saying "dryRun": false does not lift it."""
    monkeypatch.setenv("POWERCYCLE_DRY_RUN", "yes")
    up = launch(ec2, {TAG: SEED})[0]
    calls = Calls(ec2)
    with freeze_time(MONDAY_EVENING):
        assert handler(event, None)["dryRun"] is True
    assert calls.mutating() == [] and state_of(ec2, up) == "running"


def test_unreadable_dry_run_setting_fails_the_invocation(
    ec2: Any, shared_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERCYCLE_DRY_RUN", "maybe")
    up = launch(ec2, {TAG: SEED})[0]
    calls = Calls(ec2)
    with freeze_time(MONDAY_EVENING), pytest.raises(ConfigError, match="POWERCYCLE_DRY_RUN"):
        handler({}, None)
    assert calls.log == [] and state_of(ec2, up) == "running"


@pytest.mark.parametrize(
    ("event", "error", "needle"),
    [
        ({"dryRun": "maybe"}, EventError, "dryRun"),
        ({"dryRun": 1}, EventError, "dryRun"),
        ({"instanceIds": "i-123", "action": "start"}, EventError, "instanceIds"),
        ({"instanceIds": [], "action": "start"}, EventError, "instanceIds"),
        ({"instanceIds": ["i-123"], "action": "reboot"}, EventError, "'reboot'"),
        ({"instanceIds": ["i-123"]}, EventError, "action"),
    ],
)
def test_bad_payloads_are_refused_before_anything_runs(
    ec2: Any, shared_client: Any, event: dict[str, Any], error: type[Exception], needle: str
) -> None:
    calls = Calls(ec2)
    with pytest.raises(error) as caught:
        run_event(event, Config(regions=(REGION,)), at(MONDAY_EVENING))
    assert needle in str(caught.value)
    assert calls.log == []


# --- manual payloads ---------------------------------------------------------------------


def test_manual_start_of_instances(
    ec2: Any, shared_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The payload acts now, whatever the schedule says, and reports every id."""
    a, b = launch(ec2, {TAG: SEED}, state="stopped", count=2)
    up = launch(ec2, {"Name": "untagged is fine"})[0]
    prod = launch(ec2, {TAG: SEED, "environment": "P"}, state="stopped")[0]
    unknown = "i-0123456789abcdef0"
    event = {"instanceIds": [a, b, up, prod, unknown], "action": "start"}
    calls = Calls(ec2)
    with caplog.at_level(logging.INFO, logger="powercycle"):
        result = run_event(event, Config.from_env({"AWS_REGION": REGION}), at(MONDAY_EVENING))

    done = {x["id"]: x for x in result["actions"]}
    assert set(done) == {a, b}
    assert all(
        x["action"] == "start" and x["reason"] == "manual" and x["result"] == "done"
        for x in done.values()
    )
    errors = {e["id"]: e["error"] for e in result["errors"]}
    assert set(errors) == {prod, unknown}
    assert "refused" in errors[prod] and "environment=p" in errors[prod]
    assert unknown in errors[unknown] and REGION in errors[unknown]
    assert (state_of(ec2, a), state_of(ec2, b), state_of(ec2, prod)) == (
        "running",
        "running",
        "stopped",
    )
    assert calls.of("StartInstances") == [{"InstanceIds": [a, b]}]
    # A manual action is not a schedule event: no state tag.
    assert STATE_TAG not in tags_of(ec2, a)
    reasons = {x["resource"]: x["reason"] for x in log_lines(caplog.records)}
    assert reasons == {a: "manual", b: "manual", up: "already-running", prod: "refused"}


@pytest.mark.parametrize("action", ["stop", "STOP", "hibernate"])
def test_manual_stop(ec2: Any, shared_client: Any, action: str) -> None:
    (box,) = launch(ec2, {TAG: SEED})
    member = launch(ec2, {"aws:autoscaling:groupName": "workers"})[0]
    result = run_event(
        {"instanceIds": [box, member], "action": action},
        Config(regions=(REGION,)),
        at(MONDAY_EVENING),
    )
    assert [x["id"] for x in result["actions"]] == [box]
    assert state_of(ec2, box) == "stopped" and state_of(ec2, member) == "running"
    assert "autoscaling-group" in {e["id"]: e["error"] for e in result["errors"]}[member]


def test_manual_dry_run(ec2: Any, shared_client: Any) -> None:
    (box,) = launch(ec2, {TAG: SEED}, state="stopped")
    calls = Calls(ec2)
    result = run_event(
        {"instanceIds": [box], "action": "start", "dryRun": True},
        Config(regions=(REGION,)),
        at(MONDAY_EVENING),
    )
    assert result["actions"][0]["result"] == "planned"
    assert calls.mutating() == [] and state_of(ec2, box) == "stopped"
