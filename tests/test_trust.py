"""A tag is a request, never a grant (design): someone who may only write tags tries to
make powercycle's role do more than tagging alone allows. Each case on moto, through the
real handler where a pass is involved, asserting that nothing larger, other or elsewhere
happens, and that the round trips still restore exactly."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from powercycle import aws
from powercycle.castai.client import _segment
from powercycle.cli import main
from powercycle.config import Config
from powercycle.core import seal
from powercycle.core.seal import sealed, unsealed
from powercycle.core.tags import (
    CAPACITY,
    MAX_SIZE,
    NODEGROUPS,
    TYPE,
    Capacity,
    OperationTag,
    TagError,
    seal_tag,
)
from powercycle.core.tags_sizes import Sizes, remembered_sizes
from powercycle.handler import run_event
from powercycle.providers.eks import nodegroups as ng
from tests.helpers import (
    REGION,
    SEED,
    STATE_TAG,
    TAG,
    TEST_KEY,
    asg_group,
    asg_launch_template,
    asg_sizes,
    asg_tags,
    at,
    eks_as_aws_does,
    eks_cluster,
    instance_arn,
    launch,
    moto_instance,
    refuse,
    schedule_tag,
    sealed_tags,
    tags_of,
)

EVENING = at("2026-11-23 18:00")  # Monday, UTC: the seed's 17:55 stop is due
MORNING = at("2026-11-24 08:05")  # Tuesday: its 08:00 start
STOPPED = "stop@2026-11-23T17:55:00Z"
KEY = TEST_KEY.encode()
ASG_ONLY = Config(regions=(REGION,), kinds=("asg",), retry_delay_s=0.0)
EC2_ONLY = Config(regions=(REGION,), kinds=("ec2",), retry_delay_s=0.0)


def errors_of(result: Mapping[str, Any]) -> dict[str, str]:
    return {e["id"]: e["error"] for e in result["errors"]}


# --- the seal itself --------------------------------------------------------------------


def test_a_seal_is_tag_safe_binds_arn_key_value_and_part_count() -> None:
    value = seal.seal(KEY, "arn:a", CAPACITY, ["1,2,3"])
    count, mac = value.split(":")
    assert count == "1" and len(mac) == 32 and set(mac) <= set("abcdefghijklmnopqrstuvwxyz234567")
    assert seal.matches(KEY, "arn:a", CAPACITY, ["1,2,3"], value)
    assert not seal.matches(KEY, "arn:b", CAPACITY, ["1,2,3"], value)  # another resource
    assert not seal.matches(KEY, "arn:a", TYPE, ["1,2,3"], value)  # another tag
    assert not seal.matches(KEY, "arn:a", CAPACITY, ["0,500,1000"], value)  # another value
    assert not seal.matches(b"another key", "arn:a", CAPACITY, ["1,2,3"], value)
    assert not seal.matches(KEY, "arn:a", CAPACITY, ["1,2,3", "x"], value)


@pytest.mark.parametrize(
    "value",
    [
        "99999999999999999999",
        "0,500,99999999999999999999",
        f"0,0,{MAX_SIZE + 1}",
        "1e3,2,3",
        "-1,2,3",
        "1,2",
        "1/2",
        "1,2/3",
        "-/-/3",
        "1/-/3",
        "3/2/-",
        "-/4/3",
        "1/2/3/4",
        "",
    ],
)
def test_out_of_range_sizes_are_refused_cleanly(value: str) -> None:
    with pytest.raises(TagError, match=CAPACITY):
        Capacity.parse(value)


@pytest.mark.parametrize(
    ("value", "sizes", "written"),
    [
        ("1/2/3", (1, 2, 3), "1/2/3"),
        ("0/0/10000", (0, 0, 10000), "0/0/10000"),
        ("-/2/-", (None, 2, None), "-/2/-"),
        ("0/5/-", (0, 5, None), "0/5/-"),
        ("-/5/8", (None, 5, 8), "-/5/8"),
        (" 1 / 2 / 3 ", (1, 2, 3), "1/2/3"),
        ("1,2,3", (1, 2, 3), "1/2/3"),  # the older spelling is read, never written
    ],
)
def test_capacity_is_tag_safe_min_desired_max(
    value: str, sizes: tuple[int | None, int, int | None], written: str
) -> None:
    capacity = Capacity.parse(value)
    assert (capacity.min, capacity.desired, capacity.max) == sizes
    assert capacity.tag_value() == written
    assert Capacity.parse(written) == capacity


def test_a_group_needs_min_and_max_in_its_memory() -> None:
    assert Capacity.parse("1/2/3").sizes() == (1, 2, 3)
    with pytest.raises(TagError, match="no min or max"):
        Capacity.parse("-/2/-").sizes()


def test_out_of_range_node_group_sizes_are_refused_cleanly() -> None:
    with pytest.raises(TagError, match="web"):
        remembered_sizes({NODEGROUPS: '{"web": [0, 1, 99999999999999999999]}'})


# --- Auto Scaling groups ----------------------------------------------------------------


@pytest.fixture
def autoscaling(moto: None, ec2: Any) -> Any:
    asg_launch_template(ec2)
    return aws.client("autoscaling", REGION)


def make_group(
    autoscaling: Any,
    name: str,
    low: int,
    desired: int,
    high: int,
    tags: Mapping[str, str] | None = None,
) -> str:
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": "powercycle-lt", "Version": "$Latest"},
        MinSize=low,
        DesiredCapacity=desired,
        MaxSize=high,
        AvailabilityZones=[f"{REGION}a"],
        Tags=[
            {"Key": k, "Value": v, "PropagateAtLaunch": False}
            for k, v in {TAG: SEED, **(tags or {})}.items()
        ],
    )
    return str(asg_group(autoscaling, name)["AutoScalingGroupARN"])


def put(autoscaling: Any, name: str, tags: Mapping[str, str]) -> None:
    autoscaling.create_or_update_tags(
        Tags=[
            {
                "ResourceId": name,
                "ResourceType": "auto-scaling-group",
                "Key": k,
                "Value": v,
                "PropagateAtLaunch": False,
            }
            for k, v in tags.items()
        ]
    )


def test_the_round_trip_is_sealed_keeps_the_maximum_and_restores_exactly(autoscaling: Any) -> None:
    arn = make_group(autoscaling, "web", 1, 2, 3)
    run_event({}, ASG_ONLY, EVENING)
    assert asg_sizes(autoscaling, "web") == (0, 0, 3)  # the maximum kept
    held = asg_tags(autoscaling, "web")
    assert held[CAPACITY] == "1/2/3"
    assert unsealed(KEY, arn, CAPACITY, held) == {CAPACITY: "1/2/3"}
    result = run_event({}, ASG_ONLY, MORNING)
    assert not result["errors"]
    assert asg_sizes(autoscaling, "web") == (1, 2, 3)
    assert CAPACITY not in asg_tags(autoscaling, "web")
    assert seal_tag(CAPACITY) not in asg_tags(autoscaling, "web")


@pytest.mark.parametrize("forged", ["0,500,1000", "99999999999999999999", "1,2,4"])
def test_a_tagger_s_capacity_is_never_acted_on(autoscaling: Any, forged: str) -> None:
    make_group(autoscaling, "web", 1, 2, 3)
    run_event({}, ASG_ONLY, EVENING)
    put(autoscaling, "web", {CAPACITY: forged})  # the seal no longer matches
    before = asg_tags(autoscaling, "web")

    result = run_event({}, ASG_ONLY, MORNING)

    assert CAPACITY in errors_of(result)["web"]
    assert asg_sizes(autoscaling, "web") == (0, 0, 3)
    assert asg_tags(autoscaling, "web") == before  # every tag kept


def test_an_unsealed_capacity_on_a_group_at_zero_is_an_error_naming_the_tag(
    autoscaling: Any,
) -> None:
    make_group(autoscaling, "web", 0, 0, 3, {CAPACITY: "0,500,1000", STATE_TAG: STOPPED})
    result = run_event({}, ASG_ONLY, MORNING)
    error = errors_of(result)["web"]
    assert f"{CAPACITY} has no seal ({seal_tag(CAPACITY)})" in error
    assert asg_sizes(autoscaling, "web") == (0, 0, 3)


def test_a_start_never_goes_above_the_current_maximum(autoscaling: Any) -> None:
    """A memory powercycle sealed, but the maximum was lowered since: clamped, said."""
    arn = make_group(autoscaling, "web", 0, 0, 3, {STATE_TAG: STOPPED})
    # The older comma spelling, sealed as written: still verified and read.
    put(autoscaling, "web", sealed(KEY, arn, CAPACITY, {CAPACITY: "2,5,8"}))
    result = run_event({}, ASG_ONLY, MORNING)
    assert asg_sizes(autoscaling, "web") == (2, 3, 3)  # the maximum untouched
    (warning,) = [w["warning"] for w in result["warnings"] if w["id"] == "web"]
    assert "clamped to the group's current maximum 3" in warning


def test_a_key_that_cannot_be_read_fails_only_what_needs_it_and_never_shows(
    autoscaling: Any, ec2: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    make_group(autoscaling, "web", 1, 2, 3)
    (box,) = launch(ec2, {TAG: SEED})
    both = Config(
        regions=(REGION,), kinds=("ec2", "asg"), retry_delay_s=0.0, key_secret="no-such-secret"
    )
    caplog.set_level(logging.DEBUG)
    result = run_event({}, both, EVENING)
    error = errors_of(result)["web"]
    assert "secret 'no-such-secret'" in error
    assert asg_sizes(autoscaling, "web") == (1, 2, 3)  # not touched
    assert box not in errors_of(result)  # the instance went on
    assert TEST_KEY not in json.dumps(result) and TEST_KEY not in caplog.text


def test_the_key_never_reaches_logs_summary_or_errors(
    autoscaling: Any, caplog: pytest.LogCaptureFixture
) -> None:
    make_group(autoscaling, "web", 1, 2, 3)
    caplog.set_level(logging.DEBUG)
    first = run_event({}, ASG_ONLY, EVENING)
    put(autoscaling, "web", {CAPACITY: "0,500,1000"})
    second = run_event({}, ASG_ONLY, MORNING)
    assert "web" in errors_of(second)
    for text in (json.dumps(first), json.dumps(second), caplog.text):
        assert TEST_KEY not in text


def test_the_key_is_read_once_per_pass_and_only_when_a_memory_is_involved(
    autoscaling: Any, ec2: Any
) -> None:
    reads: list[str] = []
    secrets = aws.client("secretsmanager", REGION)
    secrets.meta.events.register(
        "provide-client-params.secrets-manager.GetSecretValue", lambda **_: reads.append("x")
    )
    make_group(autoscaling, "web", 1, 2, 3)
    make_group(autoscaling, "api", 1, 1, 2)
    run_event({}, ASG_ONLY, at("2026-11-23 12:00"))  # nothing to do: no read
    assert reads == []
    run_event({}, ASG_ONLY, EVENING)  # two stops, one read
    assert reads == ["x"]


# --- EC2: types ---------------------------------------------------------------------------


def put_instance(ec2: Any, instance_id: str, tags: Mapping[str, str]) -> None:
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


@pytest.mark.parametrize("production", [{"Environment": "P"}, {"environment": " p "}])
@pytest.mark.parametrize("sealed_by_powercycle", [False, True])
def test_a_production_instance_s_type_is_never_touched(
    ec2: Any, shared_client: Any, production: dict[str, str], sealed_by_powercycle: bool
) -> None:
    (box,) = launch(ec2, {TAG: SEED, **production}, state="stopped")
    memory = {TYPE: "p5.48xlarge"}
    if sealed_by_powercycle:
        memory = sealed_tags(instance_arn(box), TYPE, memory)
    put_instance(ec2, box, memory)
    before = tags_of(ec2, box)
    result = run_event({}, EC2_ONLY, MORNING)
    assert moto_instance(box).instance_type == "t3.micro"
    assert tags_of(ec2, box) == before
    assert not result["errors"] and not result["actions"]
    assert any(reason.startswith("excluded") for reason in result["reasons"])


def test_a_snoozed_or_invalid_instance_s_type_is_never_touched(
    ec2: Any, shared_client: Any
) -> None:
    (snoozed,) = launch(
        ec2, {TAG: SEED, "powercycle:skip-until": "2026-12-01T00:00:00Z"}, state="stopped"
    )
    (invalid,) = launch(ec2, {TAG: "{not a schedule"}, state="stopped")
    for box in (snoozed, invalid):
        put_instance(ec2, box, sealed_tags(instance_arn(box), TYPE, {TYPE: "t3.nano"}))
    before = {b: tags_of(ec2, b) for b in (snoozed, invalid)}
    run_event({}, EC2_ONLY, MORNING)
    for box in (snoozed, invalid):
        assert moto_instance(box).instance_type == "t3.micro"
        assert tags_of(ec2, box) == before[box]


def test_a_tagger_s_type_on_a_scheduled_instance_is_an_error_and_changes_nothing(
    ec2: Any, shared_client: Any
) -> None:
    (box,) = launch(ec2, {TAG: SEED, TYPE: "p5.48xlarge"}, state="stopped")
    result = run_event({}, EC2_ONLY, MORNING)
    assert TYPE in errors_of(result)[box]
    assert moto_instance(box).instance_type == "t3.micro"
    assert tags_of(ec2, box)[TYPE] == "p5.48xlarge"
    assert not any(a["id"] == box and a["result"] == "done" for a in result["actions"])


def test_a_sealed_type_is_given_back_after_screening(ec2: Any, shared_client: Any) -> None:
    (box,) = launch(ec2, {TAG: SEED}, state="stopped")
    moto_instance(box).instance_type = "m5.large"  # on a fallback
    put_instance(ec2, box, sealed_tags(instance_arn(box), TYPE, {TYPE: "t3.micro"}))
    result = run_event({}, EC2_ONLY, MORNING)
    assert not result["errors"]
    assert moto_instance(box).instance_type == "t3.micro"
    assert TYPE not in tags_of(ec2, box) and seal_tag(TYPE) not in tags_of(ec2, box)


def no_capacity(ec2: Any) -> None:
    refuse(
        ec2,
        "StartInstances",
        lambda p: moto_instance(p["InstanceIds"][0]).instance_type == "t3.micro",
        "InsufficientInstanceCapacity",
        "no capacity",
    )


def test_a_larger_fallback_type_is_refused_naming_the_type_and_the_rule(
    ec2: Any, shared_client: Any
) -> None:
    schedule = schedule_tag(start="0 8 * * *", stop="55 17 * * *", fallbackTypes=["p5.48xlarge"])
    (box,) = launch(ec2, {TAG: schedule}, state="stopped")
    no_capacity(ec2)
    result = run_event({}, EC2_ONLY, MORNING)
    error = errors_of(result)[box]
    assert "p5.48xlarge" in error and "POWERCYCLE_ALLOWED_TYPES" in error
    assert moto_instance(box).instance_type == "t3.micro"
    assert TYPE not in tags_of(ec2, box)


def test_a_fallback_no_larger_or_admitted_by_the_operator_is_used(
    ec2: Any, shared_client: Any
) -> None:
    schedule = schedule_tag(
        start="0 8 * * *", stop="55 17 * * *", fallbackTypes=["p5.48xlarge", "t2.micro"]
    )
    (small,) = launch(ec2, {TAG: schedule}, state="stopped")
    (big,) = launch(
        ec2,
        {TAG: schedule_tag(start="0 8 * * *", stop="55 17 * * *", fallbackTypes=["m5.large"])},
        state="stopped",
    )
    no_capacity(ec2)
    config = Config(regions=(REGION,), kinds=("ec2",), retry_delay_s=0.0, allowed_types=("m5.*",))
    result = run_event({}, config, MORNING)
    assert not result["errors"], result["errors"]
    assert moto_instance(small).instance_type == "t2.micro"  # p5 skipped, t2.micro no larger
    assert moto_instance(big).instance_type == "m5.large"
    for box in (small, big):
        assert unsealed(KEY, instance_arn(box), TYPE, tags_of(ec2, box)) == {TYPE: "t3.micro"}


# --- node groups ----------------------------------------------------------------------------


@pytest.fixture
def eks(moto: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    eks_as_aws_does(monkeypatch)
    return aws.client("eks", REGION)


def read(eks: Any) -> ng.Groups:
    found = eks.describe_cluster(name="dev")["cluster"]
    return ng.read(eks, "dev", found["arn"], found["tags"])


def scaling(eks: Any, name: str) -> list[int]:
    config = eks.describe_nodegroup(clusterName="dev", nodegroupName=name)["nodegroup"][
        "scalingConfig"
    ]
    return [config["minSize"], config["desiredSize"], config["maxSize"]]


def test_a_tagger_s_node_group_sizes_are_never_acted_on(eks: Any) -> None:
    arn = eks_cluster(eks, {"web": [1, 2, 3]})
    assert ng.stop(eks, read(eks), lambda: KEY).error is None
    eks.tag_resource(resourceArn=arn, tags={NODEGROUPS: json.dumps({"web": [0, 500, 1000]})})
    before = eks.describe_cluster(name="dev")["cluster"]["tags"]
    result = ng.start(eks, read(eks), lambda: KEY)
    assert result.error is not None and NODEGROUPS in result.error.message
    assert scaling(eks, "web") == [0, 0, 3]
    assert eks.describe_cluster(name="dev")["cluster"]["tags"] == before


def test_a_node_group_memory_with_a_part_missing_keeps_every_tag(eks: Any) -> None:
    names = {f"group-{i:02d}-{'x' * 40}": [1, 2, 3] for i in range(16)}
    arn = eks_cluster(eks, names)
    assert ng.stop(eks, read(eks), lambda: KEY).error is None
    held = eks.describe_cluster(name="dev")["cluster"]["tags"]
    assert held[seal_tag(NODEGROUPS)].startswith("4:")  # four parts
    eks.untag_resource(resourceArn=arn, tagKeys=[f"{NODEGROUPS}:2"])
    before = eks.describe_cluster(name="dev")["cluster"]["tags"]

    result = ng.start(eks, read(eks), lambda: KEY)

    assert result.error is not None and f"{NODEGROUPS}:2 missing" in result.error.message
    assert all(scaling(eks, n) == [0, 0, 3] for n in names)
    assert eks.describe_cluster(name="dev")["cluster"]["tags"] == before


def test_node_groups_start_never_above_their_current_maximum(eks: Any) -> None:
    arn = eks_cluster(eks, {"web": [0, 0, 3]})
    eks.tag_resource(
        resourceArn=arn,
        tags=sealed(KEY, arn, NODEGROUPS, {NODEGROUPS: json.dumps({"web": [2, 5, 8]})}),
    )
    result = ng.start(eks, read(eks), lambda: KEY)
    assert result.error is None
    assert scaling(eks, "web") == [2, 3, 3]
    assert any("clamped to its current maximum 3" in n for n in result.notes)


def test_node_groups_round_trip_exactly_and_stop_keeps_the_maximum(eks: Any) -> None:
    eks_cluster(eks, {"web": [1, 2, 5], "batch": [0, 3, 4]})
    assert ng.stop(eks, read(eks), lambda: KEY).error is None
    assert scaling(eks, "web") == [0, 0, 5] and scaling(eks, "batch") == [0, 0, 4]
    assert ng.start(eks, read(eks), lambda: KEY).error is None
    assert scaling(eks, "web") == [1, 2, 5] and scaling(eks, "batch") == [0, 3, 4]
    assert not [
        k
        for k in eks.describe_cluster(name="dev")["cluster"]["tags"]
        if k.startswith("powercycle:")
    ]


# --- CAST AI -------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["../x", "?a=b", "%2e", "a/b", "x" * 65, ""])
def test_an_operation_id_that_is_not_an_id_is_never_used(operation: str) -> None:
    assert OperationTag.parse(f"resume@2026-11-24T08:00:00Z/{operation}") is None
    assert OperationTag.parse(operation) is None


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("../x", "..%2Fx"), ("?a=b", "%3Fa%3Db"), ("%2e", "%252e"), ("..", "%2E%2E")],
)
def test_ids_are_escaped_in_url_paths(raw: str, escaped: str) -> None:
    assert _segment(raw) == escaped


def test_a_tag_s_resume_type_must_be_listed_by_the_operator() -> None:
    from types import SimpleNamespace

    from powercycle.core.model import ActRequest, Resource
    from powercycle.core.schedule import parse_schedule
    from powercycle.providers.eks.castai import CastAIBackend, Target

    resumed: list[str] = []
    client = SimpleNamespace(
        resume=lambda cid, *, instance_type, spot: resumed.append(instance_type) or ""
    )
    schedule = parse_schedule(
        json.loads(
            schedule_tag(
                start="0 8 * * *", stop="55 17 * * *", resume={"instanceType": "p5.48xlarge"}
            )
        )
    )
    provider: Any = SimpleNamespace(
        config=Config(
            castai_resume_instance_type="m5.large",
            castai_resume_instance_types=("m5.large", "m5.xlarge"),
        ),
        targets={"dev": Target("c-1", None)},
    )
    backend = CastAIBackend(provider)
    resource = Resource(kind="eks", id="dev", region=REGION, tags={}, power=None)
    error = backend._act_one(client, "start", ActRequest(resource, schedule))  # type: ignore[arg-type]
    assert error is not None and "p5.48xlarge" in error.message
    assert "CASTAI_RESUME_INSTANCE_TYPES" in error.message and resumed == []
    plain = parse_schedule(json.loads(schedule_tag(start="0 8 * * *", stop="55 17 * * *")))
    assert backend._act_one(client, "start", ActRequest(resource, plain)) is None  # type: ignore[arg-type]
    assert resumed == ["m5.large"]  # the operator's default


# --- the CLI: untag and seal ---------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_untag_refuses_to_lose_a_memory_unless_asked(
    ec2: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERCYCLE_KINDS", "ec2")
    (box,) = launch(ec2, {TAG: SEED, TYPE: "t3.micro", STATE_TAG: STOPPED})
    code, out, _ = cli(capsys, "untag", box, "--region", REGION, "--json")
    assert code == 1 and f"{TYPE}=t3.micro" in out and "--memories" in out
    assert TAG in tags_of(ec2, box)
    code, _, _ = cli(capsys, "untag", box, "--memories", "--region", REGION, "--json")
    assert code == 0 and not [k for k in tags_of(ec2, box) if k.startswith("powercycle:")]


def test_seal_reviews_and_seals_an_old_memory_then_the_start_restores_it(
    autoscaling: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    make_group(autoscaling, "web", 0, 0, 3, {CAPACITY: "1,2,3", STATE_TAG: STOPPED})
    code, out, err = cli(capsys, "seal", "web", "--region", REGION, "--json")
    assert code == 1 and "--yes" in out and "1/2/3" in err  # shown, not sealed: no terminal
    assert seal_tag(CAPACITY) not in asg_tags(autoscaling, "web")
    code, out, _ = cli(capsys, "seal", "web", "--region", REGION, "--json", "--yes")
    assert code == 0 and "sealed" in out
    run_event({}, ASG_ONLY, MORNING)
    assert asg_sizes(autoscaling, "web") == (1, 2, 3)


def test_seal_refuses_sizes_above_the_current_maximum(
    autoscaling: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    make_group(autoscaling, "web", 0, 0, 3, {CAPACITY: "0,500,1000", STATE_TAG: STOPPED})
    code, out, _ = cli(capsys, "seal", "web", "--region", REGION, "--json", "--yes")
    assert code == 1 and "maximum 3" in out
    assert seal_tag(CAPACITY) not in asg_tags(autoscaling, "web")


def test_sizes_split_in_parts_round_trip_through_the_seal() -> None:
    memory = {f"ng-{i}-{'y' * 50}": Sizes(1, 2, 3) for i in range(10)}
    from powercycle.core.tags_sizes import encode_sizes

    parts = encode_sizes(memory)
    tags = sealed(KEY, "arn:x", NODEGROUPS, parts)
    assert unsealed(KEY, "arn:x", NODEGROUPS, tags) == parts
    with pytest.raises(TagError, match="not covered"):
        unsealed(KEY, "arn:x", NODEGROUPS, {**tags, f"{NODEGROUPS}:{len(parts) + 1}": "{}"})


EKS_ONLY = Config(regions=(REGION,), kinds=("eks",), retry_delay_s=0.0)


def test_through_the_handler_forged_or_partial_node_group_memories_change_nothing(
    eks: Any,
) -> None:
    arn = eks_cluster(eks, {f"group-{i:02d}-{'x' * 40}": [1, 2, 3] for i in range(16)})
    run_event({}, EKS_ONLY, EVENING)
    held = eks.describe_cluster(name="dev")["cluster"]["tags"]
    assert held[seal_tag(NODEGROUPS)].startswith("4:")
    eks.untag_resource(resourceArn=arn, tagKeys=[f"{NODEGROUPS}:2"])  # part 2 deleted
    before = eks.describe_cluster(name="dev")["cluster"]["tags"]

    result = run_event({}, EKS_ONLY, MORNING)

    assert f"{NODEGROUPS}:2 missing" in errors_of(result)["dev"]
    groups = eks.list_nodegroups(clusterName="dev")["nodegroups"]
    assert all(scaling(eks, name) == [0, 0, 3] for name in groups)
    assert eks.describe_cluster(name="dev")["cluster"]["tags"] == before

    eks.tag_resource(resourceArn=arn, tags={NODEGROUPS: json.dumps({"web": [0, 500, 1000]})})
    result = run_event({}, EKS_ONLY, at("2026-11-24 08:20"))
    assert NODEGROUPS in errors_of(result)["dev"]
    assert all(scaling(eks, name) == [0, 0, 3] for name in groups)


def test_seal_reviews_an_instance_s_type_and_the_next_stopped_pass_gives_it_back(
    ec2: Any,
    shared_client: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERCYCLE_KINDS", "ec2")
    (box,) = launch(ec2, {TAG: SEED, TYPE: "t3.micro"}, state="stopped")
    moto_instance(box).instance_type = "m5.large"  # on a fallback from before seals
    code, out, err = cli(capsys, "seal", box, "--region", REGION, "--json", "--yes")
    assert code == 0 and "sealed" in out and "t3.micro" in err
    assert unsealed(KEY, instance_arn(box), TYPE, tags_of(ec2, box)) == {TYPE: "t3.micro"}
    run_event({}, EC2_ONLY, MORNING)
    assert moto_instance(box).instance_type == "t3.micro"
