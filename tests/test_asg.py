"""providers/asg.py on moto, through the real handler: Auto Scaling groups to zero on the
seed schedule and back to exactly their sizes (min 0 / desired 5 comes back as 0/5/max),
their members no longer skipped one by one, dry run, exclusion, faults isolated to their
group, the pass budget, manual payloads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import pytest

from powercycle import aws
from powercycle.config import Config
from powercycle.core.decide import Power
from powercycle.core.schedule import parse_schedule
from powercycle.handler import EventError, run_event
from powercycle.providers import DEFERRED, ActRequest, all_providers
from powercycle.providers.asg import CAPACITY_TAG, AsgProvider, power_of
from powercycle.runtime.budget import Budget
from tests.helpers import (
    REGION,
    SEED,
    STATE_TAG,
    TAG,
    asg_group,
    asg_sizes,
    asg_tags,
    at,
    client_error,
    image,
    ticks,
)

MONDAY_EVENING = at("2026-11-23 18:00")  # UTC: the seed's 17:55 stop is due
TUESDAY_MORNING = at("2026-11-24 08:00")
ASG_ONLY = Config(regions=(REGION,), kinds=("asg",), retry_delay_s=0.0)
WITH_EC2 = Config(regions=(REGION,), kinds=("ec2", "asg"), retry_delay_s=0.0)


@pytest.fixture
def autoscaling(moto: None) -> Any:
    """The Auto Scaling client the handler's providers use (clients are cached per
    process), so hooks registered on it see the scheduler's calls."""
    return aws.client("autoscaling", REGION)


@pytest.fixture
def fleet(autoscaling: Any, ec2: Any) -> Callable[..., str]:
    """`fleet(name, min, desired, max, tags)`: an Auto Scaling group launched on moto."""
    ec2.create_launch_template(
        LaunchTemplateName="powercycle-test",
        LaunchTemplateData={"ImageId": image(ec2), "InstanceType": "t3.micro"},
    )

    def make(
        name: str,
        low: int,
        desired: int,
        high: int,
        tags: Mapping[str, str] | None = None,
        *,
        propagate: bool = True,
    ) -> str:
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": "powercycle-test", "Version": "$Latest"},
            MinSize=low,
            DesiredCapacity=desired,
            MaxSize=high,
            AvailabilityZones=[f"{REGION}a"],
            Tags=[
                {"Key": k, "Value": v, "PropagateAtLaunch": propagate}
                for k, v in (tags if tags is not None else {TAG: SEED}).items()
            ],
        )
        return name

    return make


def calls_of(client: Any) -> Counter[str]:
    """Counts the operations made through `client` from now on."""
    seen: Counter[str] = Counter()
    client.meta.events.register(
        "provide-client-params.*", lambda model, **_: seen.update([model.name])
    )
    return seen


class Refusal:
    """Refuses `operation` for the group `name` (before it is sent: nothing happens)."""

    def __init__(self, client: Any, operation: str, name: str, code: str) -> None:
        self.refused: list[str] = []
        self.active = True
        self._args = (name, code, operation)
        client.meta.events.register(f"before-parameter-build.auto-scaling.{operation}", self.hook)

    def hook(self, params: dict[str, Any], **_: Any) -> None:
        name, code, operation = self._args
        names = [params.get("AutoScalingGroupName")]
        names += [t.get("ResourceId") for t in params.get("Tags", ())]
        if self.active and name in names:
            self.refused.append(name)
            raise client_error(code, f"{operation} refused by the test", operation)

    def lift(self) -> None:
        self.active = False


def refuse(client: Any, operation: str, name: str, code: str = "ValidationError") -> Refusal:
    return Refusal(client, operation, name, code)


# --- the schedule, end to end ------------------------------------------------------------


@pytest.mark.slow
def test_a_week_of_the_seed_schedule(autoscaling: Any, fleet: Callable[..., str]) -> None:
    """Every 15 minutes for a week: down at 17:55, up at 08:00, back to exactly its sizes."""
    up = {"web": (2, 3, 6), "batch": (0, 2, 4)}  # ec2-powercycle brought batch back as 1/1
    for name, (low, desired, high) in up.items():
        fleet(name, low, desired, high)
    actions: list[tuple[str, str, str]] = []
    monday = at("2026-11-23 00:00")
    for now in ticks(monday, monday + timedelta(days=7) - timedelta(minutes=15)):
        result = run_event({}, ASG_ONLY, now)
        assert result["errors"] == [], now
        actions += [(now.strftime("%a %H:%M"), a["id"], a["action"]) for a in result["actions"]]
        office = now.weekday() < 5 and (8, 0) <= (now.hour, now.minute) < (17, 55)
        for found in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]:
            name = found["AutoScalingGroupName"]
            expected = up[name] if office else (0, 0, up[name][2])
            now_sizes = (found["MinSize"], found["DesiredCapacity"], found["MaxSize"])
            assert now_sizes == expected, (now, name)
            remembered = {t["Key"] for t in found["Tags"]}
            assert (CAPACITY_TAG in remembered) is not office, (now, name)

    days = ["Mon", "Tue", "Wed", "Thu", "Fri"]
    # Monday 00:00 is first sight after Friday's stop: stopped at once.
    expected_actions = [("Mon 00:00", n, "stop") for n in ("batch", "web")]
    for day in days:
        expected_actions += [(f"{day} 08:00", n, "start") for n in ("batch", "web")]
        expected_actions += [(f"{day} 18:00", n, "stop") for n in ("batch", "web")]
    assert sorted(actions) == sorted(expected_actions)
    assert asg_tags(autoscaling, "web")[STATE_TAG] == "stop@2026-11-27T17:55:00Z"


def test_min_zero_desired_five_comes_back_as_zero_five_max(
    autoscaling: Any, fleet: Callable[..., str]
) -> None:
    fleet("batch", 0, 5, 10)
    result = run_event({}, ASG_ONLY, MONDAY_EVENING)
    assert [(a["id"], a["action"], a["result"]) for a in result["actions"]] == [
        ("batch", "stop", "done")
    ]
    assert asg_sizes(autoscaling, "batch") == (0, 0, 10)  # MaxSize kept
    stopped = asg_group(autoscaling, "batch")
    assert stopped["Instances"] == []
    remembered = {t["Key"]: t for t in stopped["Tags"]}
    assert remembered[CAPACITY_TAG]["Value"] == "0/5/10"
    # Our tags are the group's, never its instances'.
    assert remembered[CAPACITY_TAG]["PropagateAtLaunch"] is False
    assert remembered[STATE_TAG]["PropagateAtLaunch"] is False

    result = run_event({}, ASG_ONLY, TUESDAY_MORNING)
    assert [(a["id"], a["action"], a["result"]) for a in result["actions"]] == [
        ("batch", "start", "done")
    ]
    assert asg_sizes(autoscaling, "batch") == (0, 5, 10)
    assert len(asg_group(autoscaling, "batch")["Instances"]) == 5
    assert CAPACITY_TAG not in asg_tags(autoscaling, "batch")
    assert asg_tags(autoscaling, "batch")[STATE_TAG] == "start@2026-11-24T08:00:00Z"


def test_the_sizes_are_written_before_the_group_is_touched(
    autoscaling: Any, fleet: Callable[..., str]
) -> None:
    """A tag that cannot be written is a failed stop and an untouched group."""
    fleet("web", 1, 2, 4)
    seen = calls_of(autoscaling)
    refused = refuse(autoscaling, "CreateOrUpdateTags", "web", code="AccessDenied")
    result = run_event({}, ASG_ONLY, MONDAY_EVENING)
    (action,) = result["actions"]
    assert action["result"] == "failed"
    assert "sizes not remembered" in action["error"] and "AccessDenied" in action["error"]
    assert refused.refused == ["web"]
    assert seen["UpdateAutoScalingGroup"] == 0
    assert asg_sizes(autoscaling, "web") == (1, 2, 4)


def test_a_failing_update_is_isolated_to_its_group(
    autoscaling: Any, fleet: Callable[..., str]
) -> None:
    for name in ("a", "b", "c"):
        fleet(name, 1, 2, 4)
    refused = refuse(autoscaling, "UpdateAutoScalingGroup", "b")
    result = run_event({}, ASG_ONLY, MONDAY_EVENING)
    by_id = {a["id"]: a for a in result["actions"]}
    assert {n: by_id[n]["result"] for n in "abc"} == {"a": "done", "b": "failed", "c": "done"}
    assert "ValidationError" in by_id["b"]["error"]
    assert [e["id"] for e in result["errors"]] == ["b"]
    assert asg_sizes(autoscaling, "a") == asg_sizes(autoscaling, "c") == (0, 0, 4)
    assert asg_sizes(autoscaling, "b") == (1, 2, 4)
    assert STATE_TAG not in asg_tags(autoscaling, "b")  # retried next pass
    # b remembered its sizes before the refused update: the retry writes them again.
    refused.lift()
    result = run_event({}, ASG_ONLY, at("2026-11-23 18:15"))
    assert [(a["id"], a["result"]) for a in result["actions"]] == [("b", "done")]
    assert asg_tags(autoscaling, "b")[CAPACITY_TAG] == "1/2/4"
    run_event({}, ASG_ONLY, TUESDAY_MORNING)
    assert {asg_sizes(autoscaling, n) for n in "abc"} == {(1, 2, 4)}
    assert not any(CAPACITY_TAG in asg_tags(autoscaling, n) for n in "abc")


def test_dry_run_changes_nothing(autoscaling: Any, fleet: Callable[..., str]) -> None:
    fleet("web", 1, 2, 4)
    seen = calls_of(autoscaling)
    result = run_event({"dryRun": True}, ASG_ONLY, MONDAY_EVENING)
    assert result["dryRun"] is True
    assert [(a["id"], a["kind"], a["result"]) for a in result["actions"]] == [
        ("web", "asg", "planned")
    ]
    assert set(seen) == {"DescribeAutoScalingGroups"}
    assert asg_sizes(autoscaling, "web") == (1, 2, 4)
    assert set(asg_tags(autoscaling, "web")) == {TAG}


def test_production_is_never_touched(autoscaling: Any, fleet: Callable[..., str]) -> None:
    fleet("prod", 2, 2, 4, {TAG: SEED, "Environment": "P"})
    seen = calls_of(autoscaling)
    result = run_event({}, ASG_ONLY, MONDAY_EVENING)
    assert result["counts"] == {"skipped": 1}
    assert result["reasons"] == {"excluded:environment=p": 1}
    assert set(seen) == {"DescribeAutoScalingGroups"}
    assert asg_sizes(autoscaling, "prod") == (2, 2, 4)
    with pytest.raises(EventError):
        run_event({"autoScalingGroups": ["prod"]}, ASG_ONLY, MONDAY_EVENING)
    refused = run_event({"autoScalingGroups": ["prod"], "action": "stop"}, ASG_ONLY, MONDAY_EVENING)
    assert refused["counts"] == {"error": 1} and "excluded" in refused["errors"][0]["error"]
    assert asg_sizes(autoscaling, "prod") == (2, 2, 4)


# --- discovery ---------------------------------------------------------------------------


def test_discovery_pages_and_leaves_eks_node_groups_to_their_cluster(
    autoscaling: Any, fleet: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from powercycle.providers import asg_groups as asg_module

    monkeypatch.setattr(asg_module, "PAGE_SIZE", 2)
    for i in range(5):
        fleet(f"g{i}", 0, 1, 2)
    fleet("untagged", 0, 1, 2, {"Name": "other"})
    fleet("eks-ng", 1, 1, 2, {TAG: SEED, "eks:nodegroup-name": "ng"})
    seen = calls_of(autoscaling)
    provider = AsgProvider(ASG_ONLY, REGION, client=autoscaling)
    found = {r.id: r for r in provider.discover(TAG)}
    assert set(found) == {f"g{i}" for i in range(5)}
    assert seen == {"DescribeAutoScalingGroups": 3}  # 6 tagged groups, 2 a page
    assert {r.kind for r in found.values()} == {"asg"}
    assert all(r.power is Power.RUNNING and r.error is None for r in found.values())


@pytest.mark.parametrize(
    ("desired", "states", "power"),
    [
        (3, ["InService"] * 3, Power.RUNNING),
        (3, ["InService", "Pending"], Power.RUNNING),  # scaling out: still running
        (3, ["Pending", "Pending:Wait"], Power.TRANSITION),  # starting
        (3, [], Power.RUNNING),  # nothing launches (a broken template): a stop still works
        (0, [], Power.STOPPED),
        (0, ["Terminated"], Power.STOPPED),
        (0, ["Standby"], Power.STOPPED),  # left to whoever put it there
        (0, ["Terminating"], Power.TRANSITION),  # stopping
        (0, ["InService"], Power.TRANSITION),
    ],
)
def test_power_from_the_describe_answer(desired: int, states: list[str], power: Power) -> None:
    answer = {
        "MinSize": 0,
        "DesiredCapacity": desired,
        "MaxSize": 5,
        "Instances": [{"LifecycleState": s} for s in states],
    }
    assert power_of(answer) is power


def test_a_group_at_zero_without_sizes_is_stopped_and_a_start_says_why(
    autoscaling: Any, fleet: Callable[..., str]
) -> None:
    fleet("idle", 0, 0, 3)
    result = run_event({}, ASG_ONLY, TUESDAY_MORNING)
    (action,) = result["actions"]
    assert action["result"] == "failed" and "NothingRemembered" in action["error"]
    assert asg_sizes(autoscaling, "idle") == (0, 0, 3)
    # The evening's stop finds it already stopped and records it.
    result = run_event({}, ASG_ONLY, at("2026-11-24 18:00"))
    assert result["counts"] == {"none": 1} and result["reasons"] == {"already-stopped": 1}


def test_an_unreadable_memory_is_an_error_on_that_group_only(
    autoscaling: Any, fleet: Callable[..., str]
) -> None:
    fleet("bad", 0, 0, 3, {TAG: SEED, CAPACITY_TAG: "lots"})
    fleet("good", 1, 1, 3, {TAG: SEED, CAPACITY_TAG: "1,2,3"})  # stale: the stop overwrites
    result = run_event({}, ASG_ONLY, MONDAY_EVENING)
    assert result["counts"] == {"error": 1, "done": 1}
    (error,) = result["errors"]
    assert error["id"] == "bad" and "not min/desired/max" in error["error"]
    assert asg_tags(autoscaling, "good")[CAPACITY_TAG] == "1/1/3"


def test_max_runtime_counts_from_the_recorded_start(
    autoscaling: Any, fleet: Callable[..., str]
) -> None:
    fleet("ci", 1, 2, 4, {TAG: '{"start": "0 8 * * *", "maxRuntime": "4h"}'})
    assert run_event({}, ASG_ONLY, at("2026-11-23 08:00"))["counts"] == {"none": 1}
    assert asg_tags(autoscaling, "ci")[STATE_TAG] == "start@2026-11-23T08:00:00Z"
    assert run_event({}, ASG_ONLY, at("2026-11-23 11:45"))["counts"] == {"none": 1}
    result = run_event({}, ASG_ONLY, at("2026-11-23 12:15"))
    assert [(a["action"], a["reason"]) for a in result["actions"]] == [("stop", "max-runtime")]
    assert asg_sizes(autoscaling, "ci") == (0, 0, 4)


# --- members of a group ------------------------------------------------------------------


def test_members_of_a_scheduled_group_are_the_groups(
    autoscaling: Any, fleet: Callable[..., str]
) -> None:
    """Instances carrying the propagated schedule tag are not EC2 resources (nor skipped);
    members of an unscheduled group that carry the tag themselves are still skipped."""
    fleet("web", 2, 2, 4)  # the schedule tag propagates to its instances
    fleet("plain", 1, 1, 2, {"team": "x"})
    ec2 = aws.client("ec2", REGION)
    plain_ids = [i["InstanceId"] for i in asg_group(autoscaling, "plain")["Instances"]]
    ec2.create_tags(Resources=plain_ids, Tags=[{"Key": TAG, "Value": SEED}])
    seen = calls_of(autoscaling)

    result = run_event({}, WITH_EC2, MONDAY_EVENING)

    assert [(a["id"], a["kind"], a["result"]) for a in result["actions"]] == [
        ("web", "asg", "done")
    ]
    assert result["scanned"] == 2 and result["counts"] == {"done": 1, "skipped": 1}
    assert result["reasons"]["autoscaling-group"] == 1
    # One call from the EC2 side (the groups seen, by name), one discovery of kind asg.
    assert seen["DescribeAutoScalingGroups"] == 2
    assert asg_sizes(autoscaling, "web") == (0, 0, 4)


def test_no_member_no_auto_scaling_call(autoscaling: Any, ec2: Any) -> None:
    from powercycle.providers.ec2 import Ec2Provider
    from tests.helpers import launch

    launch(ec2, {TAG: SEED})
    seen = calls_of(autoscaling)
    (box,) = Ec2Provider(WITH_EC2, REGION, client=ec2).discover(TAG)
    assert box.skip is None and seen == {}


def test_members_are_skipped_when_kind_asg_is_off(
    autoscaling: Any, fleet: Callable[..., str]
) -> None:
    fleet("web", 1, 1, 2)
    seen = calls_of(autoscaling)
    result = run_event({}, Config(regions=(REGION,), kinds=("ec2",)), MONDAY_EVENING)
    assert result["counts"] == {"skipped": 1} and result["reasons"] == {"autoscaling-group": 1}
    assert seen == {}


# --- budget and manual payloads ----------------------------------------------------------


class Countdown(Budget):
    """A budget open for the first `n` questions, spent after."""

    def __init__(self, n: int) -> None:
        super().__init__(600.0)
        self.left = n

    def open(self) -> bool:
        self.left -= 1
        return self.left >= 0


def test_groups_not_reached_are_deferred(autoscaling: Any, fleet: Callable[..., str]) -> None:
    for name in ("a", "b", "c"):
        fleet(name, 1, 1, 2)
    provider = AsgProvider(ASG_ONLY, REGION, client=autoscaling, budget=Countdown(1))
    requests = [
        ActRequest(r, parse_schedule({"stop": "0 18 * * *"})) for r in provider.discover(TAG)
    ]
    results = provider.act("stop", requests)
    assert sorted(e.code if e else "done" for e in results.values()) == [
        "Deferred",
        "Deferred",
        "done",
    ]
    assert DEFERRED == "Deferred"
    stopped = [n for n in "abc" if asg_sizes(autoscaling, n) == (0, 0, 2)]
    assert len(stopped) == 1 and results[stopped[0]] is None


def test_manual_payload_stops_and_starts_named_groups(
    autoscaling: Any, fleet: Callable[..., str]
) -> None:
    fleet("web", 1, 3, 5, {"team": "x"})  # no schedule tag needed to act by name
    result = run_event(
        {"autoScalingGroups": ["web", "nope"], "action": "stop"}, ASG_ONLY, MONDAY_EVENING
    )
    assert [(a["id"], a["kind"], a["result"]) for a in result["actions"]] == [
        ("web", "asg", "done")
    ]
    assert [e["id"] for e in result["errors"]] == ["nope"]
    assert asg_sizes(autoscaling, "web") == (0, 0, 5)
    result = run_event({"autoScalingGroups": ["web"], "action": "start"}, ASG_ONLY, MONDAY_EVENING)
    assert result["counts"] == {"done": 1}
    assert asg_sizes(autoscaling, "web") == (1, 3, 5)


def test_the_registry_builds_each_kind_asked_for() -> None:
    kinds = [p.kind for p in all_providers(Config(regions=("r1", "r2")), ("r1", "r2"))]
    assert Counter(kinds) == {k: 2 for k in ("ec2", "eks", "asg", "ecs", "rds", "rds-cluster")}
    only = all_providers(Config(regions=("r1",), kinds=("asg",)), ("r1",))
    assert [(p.kind, p.region) for p in only] == [("asg", "r1")]
    assert Config.from_env({"AWS_REGION": "r1"}).kinds == (
        "ec2",
        "eks",
        "asg",
        "ecs",
        "rds",
        "rds-cluster",
    )
