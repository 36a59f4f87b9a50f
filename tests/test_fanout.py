"""Accounts, regions and fan-out through the real handler on moto: a pass over assumed
roles names each account, an orchestrator dispatches one worker per target and scans
nothing, a worker handles exactly its target, and a pass cut short by its budget is
completed by the next."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from powercycle import aws
from powercycle.config import Config
from powercycle.handler import EventError, run_event
from powercycle.runtime.budget import Budget
from tests.helpers import SEED, STATE_TAG, TAG, at, launch, states

pytestmark = pytest.mark.usefixtures("moto")

ROLE_A = "arn:aws:iam::111111111111:role/powercycle"
ROLE_B = "arn:aws:iam::222222222222:role/powercycle"
OWN = "123456789012"  # moto's account
EVENING = at("2026-11-23 18:00")  # Monday: the seed's 17:55 stop is due
REGIONS = ("eu-west-1", "us-east-1")
FUNCTION = f"arn:aws:lambda:eu-west-1:{OWN}:function:powercycle:LIVE"


@dataclass
class Context:
    invoked_function_arn: str = FUNCTION

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


class RecordingLambda:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["InvocationType"] == "Event" and kwargs["FunctionName"] == FUNCTION
        with self._lock:
            self.events.append(json.loads(kwargs["Payload"]))
        return {"StatusCode": 202}


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> RecordingLambda:
    recorder = RecordingLambda()
    make = aws.client

    def client(service: str, region: str, **kwargs: Any) -> Any:
        return recorder if service == "lambda" else make(service, region, **kwargs)

    monkeypatch.setattr(aws, "client", client)
    return recorder


def fleet(credentials: str = aws.OWN) -> dict[str, list[str]]:
    """One tagged, running instance per region, in the account of `credentials`."""
    return {
        region: launch(aws.client("ec2", region, credentials=credentials), {TAG: SEED})
        for region in REGIONS
    }


def test_a_pass_over_two_accounts_names_each_account(aws_env: None) -> None:
    own = fleet()
    aws.assume(ROLE_A)
    other = fleet(aws.assume(ROLE_A))
    config = Config(regions=REGIONS, kinds=("ec2",), account_roles=(ROLE_A,))

    result = run_event({}, config, EVENING)

    assert result["counts"] == {"done": 4}
    assert {(a["account"], a["region"]) for a in result["actions"]} == {
        (account, region) for account in (OWN, "111111111111") for region in REGIONS
    }
    for credentials, ids in ((aws.OWN, own), (aws.assume(ROLE_A), other)):
        for region, boxes in ids.items():
            ec2 = aws.client("ec2", region, credentials=credentials)
            assert set(states(ec2, boxes).values()) == {"stopped"}


def test_an_orchestrator_dispatches_one_worker_per_target_and_scans_nothing(
    aws_env: None, recording: RecordingLambda
) -> None:
    own = fleet()
    config = Config(
        regions=REGIONS, kinds=("ec2",), account_roles=(ROLE_A, ROLE_B), fanout_threshold=2
    )

    result = run_event({}, config, EVENING, context=Context())

    targets = {(e["target"]["account"], e["target"]["region"]) for e in recording.events}
    assert len(recording.events) == 6 == len(targets)
    assert targets == {
        (account, region) for account in (OWN, "111111111111", "222222222222") for region in REGIONS
    }
    assert all(
        e["now"] == "2026-11-23T18:00:00Z" and e["dryRun"] is False for e in recording.events
    )
    assert result["scanned"] == 0 and len(result["dispatched"]) == 6 and result["errors"] == []
    ec2 = aws.client("ec2", REGIONS[0])
    assert set(states(ec2, own[REGIONS[0]]).values()) == {"running"}  # the workers' job


def test_below_the_threshold_or_outside_lambda_the_pass_scans_itself(
    aws_env: None, recording: RecordingLambda
) -> None:
    fleet()
    config = Config(regions=REGIONS, kinds=("ec2",), fanout_threshold=2)
    assert run_event({}, config, EVENING, context=Context())["counts"] == {"done": 2}
    assert recording.events == []


def test_a_worker_handles_exactly_its_target(aws_env: None) -> None:
    own = fleet()
    config = Config(regions=REGIONS, kinds=("ec2",))
    event = {"target": {"account": OWN, "region": "us-east-1"}, "now": "2026-11-23T18:00:00Z"}

    result = run_event({**event, "dryRun": False}, config, EVENING + timedelta(minutes=1))

    assert [(a["id"], a["result"]) for a in result["actions"]] == [(own["us-east-1"][0], "done")]
    east = aws.client("ec2", "us-east-1")
    west = aws.client("ec2", "eu-west-1")
    assert set(states(east, own["us-east-1"]).values()) == {"stopped"}
    assert set(states(west, own["eu-west-1"]).values()) == {"running"}
    # Its `now` is the orchestrator's, and the target must be one this function serves.
    with pytest.raises(EventError, match="region"):
        stranger = {"target": {"account": OWN, "region": "ap-south-1"}, "dryRun": False}
        run_event({**event, **stranger}, config, EVENING)
    with pytest.raises(EventError, match="too far"):
        run_event({**event, "dryRun": False}, config, EVENING + timedelta(hours=2))


def test_a_redelivered_worker_event_adds_nothing(
    aws_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    # Lambda delivers an asynchronous invocation at least once: the same worker event may
    # reach a warm environment twice. The second scans nothing and publishes no metrics.
    fleet()
    config = Config(regions=REGIONS, kinds=("ec2",))
    event = {
        "target": {"account": OWN, "region": "us-east-1"},
        "now": "2026-11-23T18:00:00Z",
        "dryRun": False,
    }
    first = run_event(event, config, EVENING + timedelta(minutes=1))
    assert first["scanned"] == 1 and len(first["actions"]) == 1

    caplog.clear()
    caplog.set_level(logging.INFO, logger="powercycle")
    again = run_event(event, config, EVENING + timedelta(minutes=2))

    assert again["redelivered"] is True
    assert again["scanned"] == 0 and again["actions"] == [] and again["errors"] == []
    messages = [r.msg for r in caplog.records if r.name == "powercycle"]
    assert [m["message"] for m in messages if isinstance(m, dict)] == ["redelivered"]
    assert not any("_aws" in str(m) or "summary" in str(m) for m in messages)
    # Another moment for the same target is a new pass.
    later = {**event, "now": "2026-11-23T18:15:00Z"}
    assert "redelivered" not in run_event(later, config, EVENING + timedelta(minutes=16))


def test_a_pass_cut_short_by_its_budget_is_completed_by_the_next(aws_env: None) -> None:
    own = fleet()
    config = Config(regions=REGIONS, kinds=("ec2",))
    first = run_event({}, config, EVENING, budget=Budget(0.0))
    assert first["scanned"] == 0
    assert {s["status"] for s in first["scopes"]} == {"deferred"}
    second = run_event({}, config, at("2026-11-23 18:15"))
    assert second["counts"] == {"done": 2}
    for region, boxes in own.items():
        ec2 = aws.client("ec2", region)
        assert STATE_TAG in {t["Key"] for t in ec2.describe_tags()["Tags"]}
        assert set(states(ec2, boxes).values()) == {"stopped"}


def test_the_cli_scans_the_accounts_of_the_roles_too(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from powercycle.cli import main

    fleet()
    fleet(aws.assume(ROLE_A))
    monkeypatch.setenv("POWERCYCLE_ACCOUNT_ROLES", ROLE_A)
    monkeypatch.setenv("POWERCYCLE_KINDS", "ec2")
    assert main(["run", "--dry-run", "--json", "--region", "us-east-1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["scanned"] == 2
    assert {(s["account"], s["region"], s["resources"]) for s in result["scopes"]} == {
        (OWN, "us-east-1", 1),
        ("111111111111", "us-east-1", 1),
    }
