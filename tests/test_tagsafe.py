"""Everything powercycle writes is tag-safe (design: "Schedules every AWS service accepts"):
RDS takes in a tag value only `^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$`, ECS and tagging policies
the same. moto does not enforce it, so real passes on moto (EC2, Auto Scaling, EKS node
groups: stops, starts, attempts, notices, snoozes, memories in parts, seals) run with their
CreateTags / CreateOrUpdateTags / TagResource calls captured, and every `powercycle:*`
value they carry is checked against the pattern, as is every encoder's output. The CLI's
`tag` refuses inline JSON on a kind whose tags refuse it."""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from freezegun import freeze_time

from powercycle import aws, cli
from powercycle.config import Config
from powercycle.core import seal
from powercycle.core.schedule import Event, format_utc
from powercycle.core.seal import sealed
from powercycle.core.tags import (
    ATTEMPTS,
    CAPACITY,
    NODEGROUPS,
    NOTICE,
    SKIP_UNTIL,
    STATE,
    TYPE,
    Attempts,
    Capacity,
    OperationTag,
    seal_tag,
    tag_safe,
)
from powercycle.core.tags_sizes import Sizes, encode_sizes, remembered_sizes
from powercycle.handler import run_event
from powercycle.providers import REGISTRY
from tests.helpers import (
    REGION,
    SEED,
    TAG,
    TEST_KEY,
    asg_launch_template,
    at,
    eks_as_aws_does,
    eks_cluster,
    launch,
    moto_instance,
    refuse,
    schedule_tag,
    tags_of,
)

KEY = TEST_KEY.encode()
WARNED = at("2026-11-23 17:45")  # Monday, UTC: the seed's 17:55 stop within 15 minutes
EVENING = at("2026-11-23 18:00")
MORNING = at("2026-11-24 08:05")
# Where the operations are spelled in botocore's events (service id . operation).
WRITES = ("ec2.CreateTags", "auto-scaling.CreateOrUpdateTags", "eks.TagResource")


def rds_accepts(value: str) -> bool:
    """RDS's `^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$`, spelled with Unicode categories (Python's
    `re` has no `\\p{...}`): letters, separators and numbers, and those seven marks."""
    return all(unicodedata.category(c)[0] in "LZN" or c in "_.:/=+-@" for c in value)


class Written:
    """The `powercycle:*` tags every tag-writing call carries, as (key, value), in order."""

    def __init__(self) -> None:
        self.tags: list[tuple[str, str]] = []

    def attach(self, events: Any) -> None:
        for operation in WRITES:
            events.register(f"provide-client-params.{operation}", self._seen)

    def _seen(self, model: Any, params: Mapping[str, Any], **_: Any) -> None:
        if model.name == "TagResource":
            pairs = list((params.get("tags") or {}).items())
        else:
            pairs = [(t["Key"], t["Value"]) for t in params.get("Tags") or ()]
        self.tags += [(str(k), str(v)) for k, v in pairs if str(k).startswith("powercycle:")]

    def names(self) -> set[str]:
        return {key for key, _ in self.tags}

    def unsafe(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.tags if not rds_accepts(v)]


@pytest.fixture
def written(ec2: Any, monkeypatch: pytest.MonkeyPatch) -> Written:
    """Every session powercycle makes (handler, CLI) and the test's EC2 client, watched."""
    seen = Written()
    make = aws.new_session

    def new_session(**kwargs: Any) -> Any:
        made = make(**kwargs)
        seen.attach(made)
        return made

    monkeypatch.setattr(aws, "new_session", new_session)
    seen.attach(ec2.meta.events)
    return seen


# --- the check itself -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("start@2026-11-23T08:00:00Z", True),
        ("web=1/2/3 api-2=0/1/5 ng_x=0/0/9", True),
        ("Mon-Fri 08:00-17:55 Europe/London", True),
        ("Équipe Zürich 東京 ٣", True),  # letters and digits of any script
        ("1:abcdefghijklmnopqrstuvwxyz234567", True),
        ("1,2,3", False),
        ('{"web": [1, 2, 3]}', False),
        ("s3://bucket/teams.json#office", False),
        ("0 8 * * 1-5", False),
        ("a?b", False),
        ("50%", False),
        ("it's", False),
    ],
)
def test_the_pattern_check_and_core_tag_safe_agree(value: str, accepted: bool) -> None:
    assert rds_accepts(value) is accepted
    assert tag_safe(value) is accepted


# --- every encoder ------------------------------------------------------------------------


def test_every_encoder_writes_tag_safe_values() -> None:
    moment = at("2026-11-24 08:00")
    long_names = {f"group-{i:02d}-{'x' * 50}": Sizes(i % 3, i % 3 + 1, 10_000) for i in range(9)}
    memory = encode_sizes(long_names | {"a": Sizes(0, 0, 1), "B_2": Sizes(1, 1, 1)})
    assert len(memory) > 1  # split over parts, each checked
    arn = "arn:aws:eks:eu-west-1:123456789012:cluster/dev"
    values = {
        "state": Event(moment, "start").tag_value(),
        "skip-until": format_utc(moment),
        "attempts": Attempts(Event(moment, "stop").tag_value(), 9999).value(),
        "operation": OperationTag.new("hibernate", "0f9a-Bc12", now=moment).value(),
        "operation, bare id": OperationTag("", None, "0f9a-Bc12").value(),
        "seal": seal.seal(KEY, arn, NODEGROUPS, list(memory.values())),
        **{f"nodegroups {key}": value for key, value in memory.items()},
        **{f"sealed {key}": value for key, value in sealed(KEY, arn, NODEGROUPS, memory).items()},
    }
    unsafe = {name: value for name, value in values.items() if not rds_accepts(value)}
    assert unsafe == {}
    assert all(len(value) <= 256 for value in values.values())
    assert remembered_sizes(memory)[0] == long_names | {"a": Sizes(0, 0, 1), "B_2": Sizes(1, 1, 1)}


# --- real passes on moto -------------------------------------------------------------------


def no_capacity(ec2: Any) -> None:
    refuse(
        ec2,
        "StartInstances",
        lambda p: moto_instance(p["InstanceIds"][0]).instance_type == "t3.micro",
        "InsufficientInstanceCapacity",
        "no capacity",
    )


def test_ec2_passes_write_only_tag_safe_values(
    ec2: Any, shared_client: Any, written: Written, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Notice, stop, start with a capacity fallback (type memory and its seal, attempts),
    and a snooze from the CLI."""
    topic = aws.client("sns", REGION).create_topic(Name="powercycle")["TopicArn"]
    config = Config(regions=(REGION,), kinds=("ec2",), retry_delay_s=0.0, sns_topic_arn=topic)
    fallback = schedule_tag(start="0 8 * * 1-5", stop="55 17 * * 1-5", fallbackTypes=["t2.micro"])
    (box,) = launch(ec2, {TAG: fallback})
    run_event({}, config, WARNED)
    assert NOTICE in tags_of(ec2, box)
    run_event({}, config, EVENING)
    no_capacity(ec2)
    result = run_event({}, config, MORNING)
    assert not result["errors"], result["errors"]
    assert moto_instance(box).instance_type == "t2.micro"  # on its fallback, type remembered
    monkeypatch.setenv("POWERCYCLE_KINDS", "ec2")
    with freeze_time("2026-11-24 12:00:00"):
        assert cli.main(["snooze", box, "--for", "3h"]) == 0

    assert {STATE, NOTICE, TYPE, seal_tag(TYPE), ATTEMPTS, SKIP_UNTIL} <= written.names()
    assert written.unsafe() == []


@pytest.fixture
def autoscaling(moto: None, ec2: Any, written: Written) -> Any:
    asg_launch_template(ec2)
    client = aws.client("autoscaling", REGION)
    client.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchTemplate={"LaunchTemplateName": "powercycle-lt", "Version": "$Latest"},
        MinSize=1,
        DesiredCapacity=2,
        MaxSize=3,
        AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": TAG, "Value": SEED, "PropagateAtLaunch": False}],
    )
    return client


ASG_ONLY = Config(regions=(REGION,), kinds=("asg",), retry_delay_s=0.0)


def test_auto_scaling_passes_write_only_tag_safe_values(autoscaling: Any, written: Written) -> None:
    """A stop (sizes remembered and sealed) and the start that gives them back."""
    run_event({}, ASG_ONLY, EVENING)
    assert not run_event({}, ASG_ONLY, MORNING)["errors"]
    assert {STATE, CAPACITY, seal_tag(CAPACITY)} <= written.names()
    assert written.unsafe() == []


def test_auto_scaling_capacity_as_written_is_tag_safe(autoscaling: Any, written: Written) -> None:
    """The capacity memory: its encoder (with and without a min and max) and a stop's write."""
    assert rds_accepts(Capacity(1, 2, 3).tag_value())
    assert rds_accepts(Capacity(None, 2, None).tag_value())
    run_event({}, ASG_ONLY, EVENING)
    assert CAPACITY in written.names()
    assert written.unsafe() == []


@pytest.fixture
def eks(moto: None, written: Written, monkeypatch: pytest.MonkeyPatch) -> Any:
    eks_as_aws_does(monkeypatch)
    return aws.client("eks", REGION)


def scaling(eks: Any, name: str) -> list[int]:
    found = eks.describe_nodegroup(clusterName="dev", nodegroupName=name)["nodegroup"]
    config = found["scalingConfig"]
    return [config["minSize"], config["desiredSize"], config["maxSize"]]


EKS_ONLY = Config(regions=(REGION,), kinds=("eks",), retry_delay_s=0.0)


def test_node_group_passes_write_only_tag_safe_values(eks: Any, written: Written) -> None:
    """Twelve groups with long names: the memory in several parts, sealed; the start's
    attempts. Values and their order of parts read back exactly."""
    groups = {f"group-{i:02d}-{'x' * 40}": [i % 3, i % 3 + 1, 9] for i in range(12)}
    eks_cluster(eks, groups, {})
    assert not run_event({}, EKS_ONLY, EVENING)["errors"]
    cluster_tags = eks.describe_cluster(name="dev")["cluster"]["tags"]
    count = int(cluster_tags[seal_tag(NODEGROUPS)].partition(":")[0])
    assert count == 3  # parts of at most 256 characters
    assert not run_event({}, EKS_ONLY, MORNING)["errors"]
    assert all(scaling(eks, name) == sizes for name, sizes in groups.items())

    parts = {NODEGROUPS, f"{NODEGROUPS}:2", f"{NODEGROUPS}:3", seal_tag(NODEGROUPS)}
    assert {STATE, ATTEMPTS} | parts <= written.names()
    assert written.unsafe() == []


def test_an_older_json_memory_with_its_seal_is_read_and_given_back(
    eks: Any, written: Written
) -> None:
    """A cluster stopped before tag-safe values: its JSON memory, sealed as written then,
    still checks and is restored; what the pass writes is tag-safe."""
    arn = "arn:aws:eks:eu-west-1:123456789012:cluster/dev"
    old = sealed(KEY, arn, NODEGROUPS, {NODEGROUPS: json.dumps({"web": [1, 2, 3]})})
    stopped = {STATE: "stop@2026-11-23T17:55:00Z", **old}
    assert eks_cluster(eks, {"web": [0, 0, 3]}, stopped) == arn
    result = run_event({}, EKS_ONLY, MORNING)
    assert not result["errors"], result["errors"]
    assert scaling(eks, "web") == [1, 2, 3]
    assert NODEGROUPS not in eks.describe_cluster(name="dev")["cluster"]["tags"]
    assert written.unsafe() == []


# --- the CLI's `tag` on a kind whose tags refuse JSON ----------------------------------------


@pytest.fixture
def no_json_eks() -> Iterator[None]:
    """EKS declared as a service refusing JSON in tags (as RDS and ECS are)."""
    kind = REGISTRY["eks"]
    REGISTRY.register(dataclasses.replace(kind, json_tags=False))
    yield
    REGISTRY.register(kind)


def cluster_arn() -> str:
    return f"arn:aws:eks:{REGION}:123456789012:cluster/dev"


def tag(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with freeze_time("2026-11-23 12:00:00"):
        code = cli.main(["tag", *argv])
    out, err = capsys.readouterr()
    return code, out, err


ALTERNATIVES = ("Mon-Fri 08:00-17:55 Europe/London", "POWERCYCLE_SCHEDULES", "https://")
# Inline JSON the uptime form cannot say (enforce): no tag-safe twin.
NO_TWIN = '{"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "enforce": true}'


def test_tag_refuses_inline_json_by_arn_before_any_call(
    aws_env: None,
    no_json_eks: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No AWS at all (not even moto): any client asked for fails the test."""

    def no_call(*_: Any, **__: Any) -> Any:
        raise AssertionError("a call was made")

    monkeypatch.setattr(aws, "client", no_call)
    code, out, err = tag(capsys, cluster_arn(), "--schedule", NO_TWIN)
    assert (code, out) == (1, "")
    assert err.startswith("refused, nothing tagged: EKS cluster tags take only letters")
    assert "inline JSON schedule without an uptime twin" in err
    assert all(alternative in err for alternative in ALTERNATIVES)
    # --tag-safe: refused on every kind, before any call too.
    code, out, err = tag(capsys, "dev", "--tag-safe", "--schedule", NO_TWIN)
    assert (code, out) == (1, "")
    assert err.startswith("refused, nothing tagged: with --tag-safe, tags take only letters")
    assert all(alternative in err for alternative in ALTERNATIVES)


@pytest.mark.parametrize(
    "value", [NO_TWIN, "s3://schedules/teams.json#office"], ids=["inline JSON", "#name"]
)
def test_tag_refuses_what_the_kind_s_tags_refuse_once_found_by_name(
    eks: Any, no_json_eks: None, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    s3 = aws.client("s3", REGION)
    s3.create_bucket(Bucket="schedules", CreateBucketConfiguration={"LocationConstraint": REGION})
    office = {"office": {"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5"}}
    s3.put_object(Bucket="schedules", Key="teams.json", Body=json.dumps(office).encode())
    eks_cluster(eks, {"web": [1, 1, 2]}, {})
    eks.untag_resource(resourceArn=cluster_arn(), tagKeys=[TAG])
    code, out, _ = tag(capsys, "dev", "--schedule", value, "--json")
    (row,) = json.loads(out)
    assert code == 1 and row["kind"] == "eks"
    assert "cannot be written there" in row["error"]
    assert TAG not in eks.describe_cluster(name="dev")["cluster"]["tags"]


def test_tag_writes_the_uptime_form_where_json_is_refused(
    eks: Any, no_json_eks: None, capsys: pytest.CaptureFixture[str]
) -> None:
    eks_cluster(eks, {"web": [1, 1, 2]}, {})
    value = "Mon-Fri 08:00-17:55 Europe/London"
    code, _, _ = tag(capsys, cluster_arn(), "--schedule", value)
    assert code == 0
    assert eks.describe_cluster(name="dev")["cluster"]["tags"][TAG] == value


def test_tag_writes_inline_json_as_its_uptime_twin_where_json_is_refused(
    eks: Any, no_json_eks: None, capsys: pytest.CaptureFixture[str]
) -> None:
    eks_cluster(eks, {"web": [1, 1, 2]}, {})
    value = (
        '{"start": "0 8 * * 1-5", "stop": ["55 17 * * 1-4", "0 16 * * 5"], "tz": "Europe/London"}'
    )
    code, out, _ = tag(capsys, cluster_arn(), "--schedule", value)
    twin = "Mon-Thu 08:00-17:55 + Fri 08:00-16:00 Europe/London"
    assert code == 0
    assert f"written as `{twin}`, its tag-safe twin" in out
    assert eks.describe_cluster(name="dev")["cluster"]["tags"][TAG] == twin


def test_tag_safe_writes_the_twin_on_a_kind_that_takes_json(
    eks: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    eks_cluster(eks, {"web": [1, 1, 2]}, {})
    code, out, _ = tag(capsys, "dev", "--tag-safe", "--schedule", SEED, "--json")
    (row,) = json.loads(out)
    assert code == 0 and "its tag-safe twin" in row["result"]
    assert eks.describe_cluster(name="dev")["cluster"]["tags"][TAG] == "Mon-Fri 08:00-17:55 UTC"


def test_tag_still_writes_json_where_the_service_takes_it(
    eks: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    eks_cluster(eks, {"web": [1, 1, 2]}, {})
    code, _, _ = tag(capsys, "dev", "--schedule", SEED)
    assert code == 0
    assert eks.describe_cluster(name="dev")["cluster"]["tags"][TAG] == SEED
