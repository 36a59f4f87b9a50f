"""One name, one resource (design: "A tag is a request, never a grant"), for the Lambda's
manual payloads and the CLI's `start`/`stop`: a name found in several regions or accounts
is refused listing the candidates' ARNs; an ARN acts only in its own account and region; an
unknown name is an error, never another kind's resource of the same name. On moto,
through the real handler, asserting that nothing happens to any candidate."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from freezegun import freeze_time

from powercycle import aws
from powercycle.cli import main
from powercycle.config import Config
from powercycle.core.decide import Power
from powercycle.core.model import Resource
from powercycle.handler import run_event
from powercycle.providers import REGISTRY, naming
from tests.helpers import REGION, SEED, TAG, asg_launch_template, at, image

OTHER = "us-east-1"
OWN = "123456789012"  # moto's account
ROLE_A = "arn:aws:iam::111111111111:role/powercycle"
NOW = at("2026-11-23 12:00")  # Monday noon: a manual action, no schedule involved


def errors_of(result: Mapping[str, Any]) -> dict[str, str]:
    return {e["id"]: e["error"] for e in result["errors"]}


def done(result: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    return [(a["id"], a["region"], a["result"]) for a in result["actions"]]


# --- EKS clusters (node groups, no CAST AI) ------------------------------------------------


@pytest.fixture
def eks(moto: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr("moto.eks.models.validate_role_arn", lambda arn: None, raising=False)
    return {region: aws.client("eks", region) for region in (REGION, OTHER)}


def cluster(client: Any, name: str = "dev") -> str:
    arn: str = client.create_cluster(
        name=name,
        roleArn=f"arn:aws:iam::{OWN}:role/eks",
        resourcesVpcConfig={},
        tags={TAG: SEED},
    )["cluster"]["arn"]
    client.create_nodegroup(
        clusterName=name,
        nodegroupName="web",
        nodeRole=f"arn:aws:iam::{OWN}:role/node",
        subnets=["subnet-1"],
        scalingConfig={"minSize": 1, "desiredSize": 2, "maxSize": 3},
    )
    return arn


def desired(client: Any, name: str = "dev") -> int:
    found = client.describe_nodegroup(clusterName=name, nodegroupName="web")["nodegroup"]
    return int(found["scalingConfig"]["desiredSize"])


BOTH = Config(regions=(REGION, OTHER), kinds=("eks",), retry_delay_s=0.0)


def test_a_cluster_name_in_two_regions_is_refused_listing_both_arns(eks: dict[str, Any]) -> None:
    arns = [cluster(eks[REGION]), cluster(eks[OTHER])]
    result = run_event({"clusterNames": ["dev"], "action": "pause"}, BOTH, NOW)
    error = errors_of(result)["dev"]
    assert error.startswith("'dev' names 2 resources, nothing done: ")
    assert all(arn in error for arn in arns)
    assert result["actions"] == []
    assert desired(eks[REGION]) == desired(eks[OTHER]) == 2


def test_an_arn_acts_in_its_own_region_only(eks: dict[str, Any]) -> None:
    here, there = cluster(eks[REGION]), cluster(eks[OTHER])
    result = run_event({"clusterNames": [there], "action": "pause"}, BOTH, NOW)
    assert done(result) == [("dev", OTHER, "done")], result
    assert (desired(eks[REGION]), desired(eks[OTHER])) == (2, 0)
    # Its region need not be one of the settings': an ARN names it.
    only_here = Config(regions=(REGION,), kinds=("eks",), retry_delay_s=0.0)
    result = run_event({"clusterNames": [there], "action": "resume"}, only_here, NOW)
    assert done(result) == [("dev", OTHER, "done")], result
    assert desired(eks[OTHER]) == 2 and here != there


def test_another_account_s_arn_never_acts_on_the_own_account_s_namesake(
    eks: dict[str, Any],
) -> None:
    cluster(eks[REGION])
    foreign = f"arn:aws:eks:{REGION}:999999999999:cluster/dev"
    result = run_event({"clusterNames": [foreign], "action": "pause"}, BOTH, NOW)
    error = errors_of(result)[foreign]
    assert f"names account 999999999999, but dev in {REGION} is in account {OWN}" in error
    assert result["actions"] == [] and desired(eks[REGION]) == 2


def test_the_cli_stop_by_a_foreign_arn_changes_nothing(
    eks: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster(eks[REGION])
    monkeypatch.setenv("POWERCYCLE_KINDS", "eks")
    monkeypatch.setenv("AWS_REGION", REGION)
    foreign = f"arn:aws:eks:{REGION}:999999999999:cluster/dev"
    with freeze_time("2026-11-23 12:00:00"):
        code = main(["stop", foreign, "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 1 and "an ARN acts only in its own account" in summary["errors"][0]["error"]
    assert desired(eks[REGION]) == 2


def test_an_unknown_name_is_an_error_never_another_kind_s_namesake(
    eks: dict[str, Any], autoscaling: Any
) -> None:
    group(autoscaling, "dev")
    kinds = Config(regions=(REGION,), kinds=("eks", "asg"), retry_delay_s=0.0)
    result = run_event({"clusterNames": ["dev"], "action": "pause"}, kinds, NOW)
    assert errors_of(result)["dev"] == f"no eks resource 'dev' found in {REGION}"
    assert result["actions"] == [] and sizes(autoscaling, "dev") == (1, 2, 3)
    asg_arn = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["dev"])[
        "AutoScalingGroups"
    ][0]["AutoScalingGroupARN"]
    result = run_event({"clusterNames": [asg_arn], "action": "pause"}, kinds, NOW)
    assert errors_of(result)[asg_arn].endswith("is not an EKS cluster name or ARN: nothing done")
    assert sizes(autoscaling, "dev") == (1, 2, 3)


# --- Auto Scaling groups: one name in two accounts ------------------------------------------


@pytest.fixture
def autoscaling(moto: None, ec2: Any) -> Any:
    asg_launch_template(ec2)
    return aws.client("autoscaling", REGION)


def group(client: Any, name: str) -> str:
    client.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": "powercycle-lt", "Version": "$Latest"},
        MinSize=1,
        DesiredCapacity=2,
        MaxSize=3,
        AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": TAG, "Value": SEED, "PropagateAtLaunch": False}],
    )
    (found,) = client.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ]
    return str(found["AutoScalingGroupARN"])


def sizes(client: Any, name: str) -> tuple[int, int, int]:
    (found,) = client.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ]
    return found["MinSize"], found["DesiredCapacity"], found["MaxSize"]


def test_a_group_name_in_two_accounts_is_refused_and_an_arn_picks_one(
    autoscaling: Any,
) -> None:
    far = aws.assume(ROLE_A)
    far_ec2 = aws.client("ec2", REGION, credentials=far)
    far_ec2.create_launch_template(
        LaunchTemplateName="powercycle-lt",
        LaunchTemplateData={"ImageId": image(far_ec2), "InstanceType": "t3.micro"},
    )
    far_asg = aws.client("autoscaling", REGION, credentials=far)
    arns = [group(autoscaling, "web"), group(far_asg, "web")]
    assert ":111111111111:" in arns[1]
    config = Config(regions=(REGION,), kinds=("asg",), retry_delay_s=0.0, account_roles=(ROLE_A,))

    result = run_event({"autoScalingGroups": ["web"], "action": "stop"}, config, NOW)
    error = errors_of(result)["web"]
    assert error.startswith("'web' names 2 resources, nothing done: ")
    assert all(arn in error for arn in arns)
    assert sizes(autoscaling, "web") == sizes(far_asg, "web") == (1, 2, 3)

    result = run_event({"autoScalingGroups": [arns[1]], "action": "stop"}, config, NOW)
    assert [(a["account"], a["id"], a["result"]) for a in result["actions"]] == [
        ("111111111111", "web", "done")
    ]
    assert sizes(far_asg, "web") == (0, 0, 3) and sizes(autoscaling, "web") == (1, 2, 3)


# --- the rule itself ---------------------------------------------------------------------------


def resource(region: str, account: str, arn: str = "") -> Resource:
    return Resource("eks", "dev", region, {}, Power.RUNNING, account=account, arn=arn)


def test_asks_sends_an_arn_only_to_its_region_and_account() -> None:
    kind = REGISTRY["eks"]
    arn = f"arn:aws:eks:{REGION}:111111111111:cluster/dev"
    refs = ["dev", arn, "arn:aws:ec2:eu-west-1:1:instance/i-1"]
    assert naming.asks(kind, refs, region=REGION, account="") == {"dev": ["dev", arn]}
    assert naming.asks(kind, refs, region=REGION, account="111111111111") == {"dev": ["dev", arn]}
    assert naming.asks(kind, refs, region=REGION, account="222222222222") == {"dev": ["dev"]}
    assert naming.asks(kind, refs, region=OTHER, account="") == {"dev": ["dev"]}


def test_refusal_names_the_rule_it_applies() -> None:
    kind = REGISTRY["eks"]
    own = resource(REGION, "", f"arn:aws:eks:{REGION}:{OWN}:cluster/dev")
    far = resource(REGION, "111111111111")  # no ARN read: shown by kind, id and place
    assert naming.refusal("dev", [own], kind=kind, where=REGION) is None
    both = naming.refusal("dev", [own, far], kind=kind, where=REGION)
    assert both is not None and own.arn in both
    assert f"eks dev (account 111111111111, {REGION})" in both
    foreign = f"arn:aws:eks:{REGION}:999999999999:cluster/dev"
    assert "an ARN acts only in its own account" in str(
        naming.refusal(foreign, [own], kind=kind, where=REGION)
    )
    missing = naming.refusal(foreign, [], kind=kind, where=REGION)
    assert missing is not None and "only in its own region (eu-west-1)" in missing
    assert naming.arn_account(foreign) == "999999999999" and naming.arn_account("dev") == ""
