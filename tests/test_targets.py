"""Targets: accounts x regions, assumed roles on moto, `all` regions, fan-out dispatch and
the worker event."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from powercycle import aws, engine
from powercycle.aws import targets
from powercycle.aws.targets import Target, TargetError, TargetRef
from powercycle.config import Config
from powercycle.providers.ec2 import Ec2Provider
from powercycle.runtime.budget import Budget
from tests.helpers import REGION, STATE_TAG, TAG, at, launch, states

OWN_ACCOUNT = "123456789012"  # moto's account for the function's own credentials
ROLE_A = "arn:aws:iam::111111111111:role/powercycle"
ROLE_B = "arn:aws:iam::222222222222:role/powercycle"
ROLE_REFUSED = "arn:aws:iam::333333333333:role/powercycle"
STOP_AT_18 = '{"start": "0 8 * * 1-5", "stop": "0 18 * * 1-5"}'
AFTER_STOP = at("2026-11-23 18:05")  # a Monday


def refuse(role_arn: str) -> None:
    """STS refuses `role_arn` (moto itself lets any role be assumed)."""

    def deny(params: dict[str, Any], **_: Any) -> None:
        if params.get("RoleArn") == role_arn:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "not authorized to assume"}},
                "AssumeRole",
            )

    aws.session().register("before-parameter-build.sts.AssumeRole", deny)


def fail(client: Any, operation: str, code: str = "UnauthorizedOperation") -> Callable[[], None]:
    """Make one client's `operation` fail (one region or account of many); returns the undo."""
    event = f"before-call.{client.meta.service_model.service_name}.{operation}"

    def boom(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": "refused here"}}, operation)

    client.meta.events.register(event, boom)
    return lambda: client.meta.events.unregister(event, boom)


def pass_over(config: Config, found: list[Target]) -> engine.Summary:
    """One EC2 pass over the targets, each through its own credentials."""
    providers = [
        Ec2Provider(config, t.region, client=aws.client("ec2", t.region, credentials=t.credentials))
        for t in found
    ]
    return engine.run_pass(config, AFTER_STOP, providers=providers)


# --- resolving ----------------------------------------------------------------------------


def test_own_account_and_each_role_in_each_configured_region(moto: None) -> None:
    config = Config(regions=(REGION, "us-east-1"), account_roles=(ROLE_A, ROLE_B))
    found, errors = targets.resolve_targets(config)
    assert errors == []
    assert [(t.account, t.region) for t in found] == [
        (OWN_ACCOUNT, REGION),
        (OWN_ACCOUNT, "us-east-1"),
        ("111111111111", REGION),
        ("111111111111", "us-east-1"),
        ("222222222222", REGION),
        ("222222222222", "us-east-1"),
    ]
    assert found[0].credentials == aws.OWN
    assert found[2].credentials == aws.assume(ROLE_A)


def test_skip_own_account_scans_only_the_roles(moto: None) -> None:
    config = Config(regions=(REGION,), account_roles=(ROLE_A,), skip_own_account=True)
    found, errors = targets.resolve_targets(config)
    assert [t.account for t in found] == ["111111111111"] and errors == []


def test_two_accounts_through_roles_and_one_refused_role(moto: None) -> None:
    """Each account's instance is stopped through its own role; the refused role is an
    error for its account only."""
    refuse(ROLE_REFUSED)
    config = Config(
        regions=(REGION,),
        kinds=("ec2",),
        account_roles=(ROLE_A, ROLE_REFUSED, ROLE_B),
        skip_own_account=True,
        retry_delay_s=0.0,
    )
    found, errors = targets.resolve_targets(config)
    assert errors == [
        {
            "id": "account:333333333333",
            "account": "333333333333",
            "error": "AccessDenied: not authorized to assume",
        }
    ]
    assert [t.account for t in found] == ["111111111111", "222222222222"]
    fleets = {}
    for target in found:
        ec2 = aws.client("ec2", REGION, credentials=target.credentials)
        fleets[target.account] = (ec2, launch(ec2, {TAG: STOP_AT_18}))
    own = aws.client("ec2", REGION)
    own_ids = launch(own, {TAG: STOP_AT_18})

    summary = pass_over(config, found)

    assert summary.scanned == 2 and summary.counts["done"] == 2
    for ec2, ids in fleets.values():
        assert set(states(ec2, ids).values()) == {"stopped"}
        tags = ec2.describe_tags(Filters=[{"Name": "key", "Values": [STATE_TAG]}])["Tags"]
        assert [t["Value"] for t in tags] == ["stop@2026-11-23T18:00:00Z"]
    assert set(states(own, own_ids).values()) == {"running"}  # own account skipped


def test_a_role_in_the_own_account_is_not_scanned_twice(moto: None) -> None:
    role_here = f"arn:aws:iam::{OWN_ACCOUNT}:role/powercycle"
    config = Config(regions=(REGION,), account_roles=(role_here, ROLE_A))
    found, errors = targets.resolve_targets(config)
    assert [(t.account, t.credentials) for t in found] == [
        (OWN_ACCOUNT, aws.OWN),
        ("111111111111", aws.assume(ROLE_A)),
    ]
    assert [e["id"] for e in errors] == [f"account:{OWN_ACCOUNT}"]
    assert "already scanned" in errors[0]["error"]


def test_all_regions_are_asked_of_each_account(moto: None) -> None:
    """`all`: DescribeRegions per account (opt-in regions only when opted in)."""
    asked: list[dict[str, Any]] = []
    for credentials in (aws.OWN, aws.assume(ROLE_A)):
        aws.session(credentials).register(
            "before-parameter-build.ec2.DescribeRegions", lambda params, **_: asked.append(params)
        )
    config = Config(regions=(REGION,), all_regions=True, account_roles=(ROLE_A,))
    found, errors = targets.resolve_targets(config)
    assert errors == []
    regions = {t.region for t in found if t.account == OWN_ACCOUNT}
    assert {REGION, "us-east-1", "ap-southeast-2"} <= regions
    assert regions == {t.region for t in found if t.account == "111111111111"}
    assert len(found) == 2 * len(regions)
    assert len(asked) == 2
    assert all(
        p["AllRegions"] is False and p["Filters"][0]["Values"] == targets.ENABLED for p in asked
    )


def test_an_account_whose_regions_cannot_be_listed_is_an_error_for_it_only(moto: None) -> None:
    config = Config(regions=(REGION,), all_regions=True, account_roles=(ROLE_A, ROLE_B))
    fail(aws.client("ec2", REGION, credentials=aws.assume(ROLE_B)), "DescribeRegions")
    found, errors = targets.resolve_targets(config)
    assert {t.account for t in found} == {OWN_ACCOUNT, "111111111111"}
    assert errors == [
        {
            "id": "account:222222222222",
            "account": "222222222222",
            "error": "UnauthorizedOperation: refused here",
        }
    ]


def test_regions_all_with_one_failing_region(moto: None) -> None:
    """Every enabled region is scanned; the one whose discovery fails is an error for that
    region only, and the instances of the others are stopped."""
    config = Config(regions=(REGION,), all_regions=True, kinds=("ec2",), retry_delay_s=0.0)
    found, _ = targets.resolve_targets(config)
    chosen = {REGION, "us-east-1", "ap-southeast-2"}
    found = [t for t in found if t.region in chosen]  # three regions keep the test quick
    ids = {r: launch(aws.client("ec2", r), {TAG: STOP_AT_18}) for r in chosen}
    undo = fail(aws.client("ec2", "us-east-1"), "DescribeInstances")

    summary = pass_over(config, found)
    undo()

    assert [e["id"] for e in summary.errors] == ["ec2:us-east-1"]
    assert summary.counts["done"] == 2
    assert set(states(aws.client("ec2", REGION), ids[REGION]).values()) == {"stopped"}
    assert set(states(aws.client("ec2", "us-east-1"), ids["us-east-1"]).values()) == {"running"}


def test_a_spent_budget_defers_the_accounts(moto: None) -> None:
    config = Config(regions=(REGION,), account_roles=(ROLE_A, ROLE_B))
    found, errors = targets.resolve_targets(config, budget=Budget(0))
    assert found == []
    assert len(errors) == 3 and all("deferred" in e["error"] for e in errors)


# --- fan-out --------------------------------------------------------------------------------


class RecordingLambda:
    """A stand-in for the Lambda client that records each asynchronous invocation."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.refuse = refuse or set()
        self._lock = threading.Lock()

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.calls.append(kwargs)
        event = json.loads(kwargs["Payload"])
        if event["target"]["region"] in self.refuse:
            raise ClientError(
                {"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}},
                "Invoke",
            )
        return {"StatusCode": 202}


FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:powercycle:LIVE"


def many(n: int) -> list[Target]:
    return [Target(f"{100000000000 + i:012d}", REGION, aws.OWN) for i in range(n)]


def test_fan_out_only_above_the_threshold_and_inside_lambda() -> None:
    config = Config(fanout_threshold=8)
    assert not targets.should_fan_out(config, many(8), in_lambda=True)
    assert targets.should_fan_out(config, many(9), in_lambda=True)
    assert not targets.should_fan_out(config, many(9), in_lambda=False)


def test_dispatch_invokes_exactly_once_per_target() -> None:
    """100 targets (one listed twice): 100 Event invocations, each a worker event that
    parses back to its target, every target once."""
    lam = RecordingLambda()
    found = many(100)
    result = targets.dispatch(
        [*found, found[0]],
        now=AFTER_STOP,
        dry_run=True,
        function_name=FUNCTION,
        lambda_client=lam,
    )
    assert len(lam.calls) == 100
    assert {c["FunctionName"] for c in lam.calls} == {FUNCTION}
    assert {c["InvocationType"] for c in lam.calls} == {"Event"}
    parsed = [
        targets.parse_worker_event(json.loads(c["Payload"]), received=AFTER_STOP) for c in lam.calls
    ]
    assert sorted(ref for ref, _, _ in parsed) == [t.ref() for t in found]
    assert {(now, dry) for _, now, dry in parsed} == {(AFTER_STOP, True)}
    assert max(len(c["Payload"]) for c in lam.calls) < 256 * 1024
    assert len(result["dispatched"]) == 100 and result["errors"] == result["deferred"] == []


def test_a_failed_dispatch_is_reported_and_sent_again_by_the_next_pass() -> None:
    found = [Target("111111111111", r, aws.OWN) for r in (REGION, "us-east-1", "eu-central-1")]
    first = targets.dispatch(
        found,
        now=AFTER_STOP,
        dry_run=False,
        function_name=FUNCTION,
        lambda_client=RecordingLambda(refuse={"us-east-1"}),
    )
    assert first["errors"] == [
        {
            "id": "target:111111111111/us-east-1",
            "account": "111111111111",
            "region": "us-east-1",
            "error": "not dispatched: TooManyRequestsException: Rate exceeded",
        }
    ]
    assert len(first["dispatched"]) == 2
    again = RecordingLambda()
    second = targets.dispatch(
        found,
        now=AFTER_STOP + timedelta(minutes=15),
        dry_run=False,
        function_name=FUNCTION,
        lambda_client=again,
    )
    assert len(again.calls) == 3 and second["errors"] == []


def test_dispatch_with_no_budget_left_defers_everything() -> None:
    lam = RecordingLambda()
    result = targets.dispatch(
        many(3),
        now=AFTER_STOP,
        dry_run=False,
        function_name=FUNCTION,
        lambda_client=lam,
        budget=Budget(0),
    )
    assert lam.calls == [] and len(result["deferred"]) == 3 and result["dispatched"] == []


def test_dispatch_makes_its_lambda_client_in_the_function_region(moto: None) -> None:
    """Without a client given, the Lambda client of the function's region is used (moto
    answers Invoke with 202 without running anything for an Event invocation)."""
    made: list[str] = []
    real = aws.client

    def client(service: str, region: str, **kwargs: Any) -> Any:
        made.append(f"{service}:{region}")
        return RecordingLambda() if service == "lambda" else real(service, region, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aws, "client", client)
        result = targets.dispatch(
            many(2),
            now=AFTER_STOP,
            dry_run=False,
            function_name="arn:aws:lambda:us-west-2:123456789012:function:powercycle",
        )
    assert made == ["lambda:us-west-2"] and len(result["dispatched"]) == 2


# --- the worker event -----------------------------------------------------------------------


def event(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "target": {"account": "111111111111", "region": REGION},
        "now": "2026-11-23T18:05:00Z",
        "dryRun": False,
    }
    base.update(changes)
    return base


def test_a_worker_event_parses_to_its_target_now_and_dry_run() -> None:
    ref, now, dry_run = targets.parse_worker_event(event(dryRun=True), received=AFTER_STOP)
    assert ref == TargetRef("111111111111", REGION)
    assert now == AFTER_STOP and now.tzinfo is not None
    assert dry_run is True


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"extra": 1}, "unknown key 'extra'"),
        (
            {"target": {"account": "111111111111", "region": REGION, "role": "x"}},
            "unknown key 'role'",
        ),
        ({"target": {"account": "111111111111"}}, "missing key 'region'"),
        ({"target": "111111111111/eu-west-1"}, "target must be an object"),
        ({"target": {"account": "11111111111", "region": REGION}}, "12-digit"),
        ({"target": {"account": 111111111111, "region": REGION}}, "12-digit"),
        ({"target": {"account": "111111111111", "region": "eu-west-1; rm"}}, "region name"),
        ({"now": "2026-11-23T18:05:00"}, "offset"),
        ({"now": "yesterday"}, "ISO-8601"),
        ({"now": 1790000000}, "ISO-8601"),
        ({"now": "2026-11-22T18:05:00Z"}, "too far"),
        ({"now": "2026-11-23T18:30:00Z"}, "too far"),
        ({"dryRun": "true"}, "dryRun must be true or false"),
    ],
)
def test_a_worker_event_is_checked_strictly(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(TargetError, match=message):
        targets.parse_worker_event(event(**changes), received=AFTER_STOP)


def test_a_worker_event_without_dry_run_is_refused() -> None:
    """dryRun is required: a worker never guesses whether to act."""
    bad = event()
    del bad["dryRun"]
    with pytest.raises(TargetError, match="missing key 'dryRun'"):
        targets.parse_worker_event(bad)


def test_a_worker_handles_only_a_target_it_is_configured_for(moto: None) -> None:
    config = Config(regions=(REGION,), account_roles=(ROLE_A,))
    role = targets.worker_target(config, TargetRef("111111111111", REGION))
    assert role == Target("111111111111", REGION, aws.assume(ROLE_A))
    own = targets.worker_target(config, TargetRef(OWN_ACCOUNT, REGION))
    assert own.credentials == aws.OWN
    with pytest.raises(TargetError, match="account 999999999999 is not one"):
        targets.worker_target(config, TargetRef("999999999999", REGION))
    with pytest.raises(TargetError, match="not in POWERCYCLE_REGIONS"):
        targets.worker_target(config, TargetRef("111111111111", "us-east-1"))
    skipping = Config(regions=(REGION,), account_roles=(ROLE_A,), skip_own_account=True)
    with pytest.raises(TargetError, match="not one this function schedules"):
        targets.worker_target(skipping, TargetRef(OWN_ACCOUNT, REGION))
    everywhere = Config(regions=(REGION,), all_regions=True, account_roles=(ROLE_A,))
    assert targets.worker_target(everywhere, TargetRef("111111111111", "us-east-1")).region == (
        "us-east-1"
    )


def test_a_worker_pass_scans_only_its_target(moto: None) -> None:
    """Two accounts hold due instances; the worker for one of them stops only that one."""
    config = Config(
        regions=(REGION,), kinds=("ec2",), account_roles=(ROLE_A, ROLE_B), retry_delay_s=0.0
    )
    a = aws.client("ec2", REGION, credentials=aws.assume(ROLE_A))
    b = aws.client("ec2", REGION, credentials=aws.assume(ROLE_B))
    ids_a, ids_b = launch(a, {TAG: STOP_AT_18}), launch(b, {TAG: STOP_AT_18})
    ref, now, dry_run = targets.parse_worker_event(
        event(target={"account": "222222222222", "region": REGION}), received=AFTER_STOP
    )
    summary = pass_over(config, [targets.worker_target(config, ref)])
    assert summary.scanned == 1 and not dry_run and now == AFTER_STOP
    assert set(states(b, ids_b).values()) == {"stopped"}
    assert set(states(a, ids_a).values()) == {"running"}
