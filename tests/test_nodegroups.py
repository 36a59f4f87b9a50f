"""providers/eks/nodegroups.py on moto (EKS managed node groups, `UpdateNodegroupConfig`
included): sizes remembered in the cluster tag and restored exactly, groups added and
deleted between stop and start, long memories split over several tags, one group's failure
isolated, updates in progress, the budget."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from powercycle import aws
from powercycle.config import Config
from powercycle.core import tags_sizes as memory
from powercycle.core.decide import Power
from powercycle.core.tags import NODEGROUPS as TAG
from powercycle.core.tags_sizes import Sizes
from powercycle.core.verify import ATTEMPTS_TAG as ATTEMPTS
from powercycle.handler import run_event
from powercycle.local.castai_standin import CastAIStandin
from powercycle.providers import DEFERRED
from powercycle.providers.eks import nodegroups as ng
from powercycle.providers.eks.nodegroups import Groups, NodeGroupError, NotReached
from powercycle.runtime.budget import Budget
from tests.helpers import (
    REGION,
    SEED,
    STATE_TAG,
    TEST_KEY,
    at,
    client_error,
    eks_as_aws_does,
    ticks,
)

CLUSTER = "dev"
SEAL_KEY = TEST_KEY.encode  # powercycle's key, as the provider hands it over
SIZES = {"web": [1, 3, 5], "batch": [0, 2, 4], "jobs": [2, 2, 10]}
# SIZES as `powercycle:nodegroups` holds them: tag-safe, by name.
WRITTEN = "batch=0/2/4 jobs=2/2/10 web=1/3/5"


@pytest.fixture
def eks(moto: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The EKS client the scheduler uses (cached per process: hooks see its calls)."""
    eks_as_aws_does(monkeypatch)
    return aws.client("eks", REGION)


def make_cluster(eks: Any, groups: dict[str, list[int]], name: str = CLUSTER) -> str:
    arn: str = eks.create_cluster(
        name=name,
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={},
        tags={"ec2Powercycle": SEED},
    )["cluster"]["arn"]
    for group, sizes in groups.items():
        add_group(eks, group, sizes, cluster=name)
    return arn


def add_group(eks: Any, name: str, sizes: list[int], cluster: str = CLUSTER) -> None:
    low, desired, high = sizes
    eks.create_nodegroup(
        clusterName=cluster,
        nodegroupName=name,
        nodeRole="arn:aws:iam::123456789012:role/node",
        subnets=["subnet-1"],
        scalingConfig={"minSize": low, "desiredSize": desired, "maxSize": high},
    )


def read(eks: Any, name: str = CLUSTER, budget: Budget | None = None) -> Groups:
    cluster = eks.describe_cluster(name=name)["cluster"]
    return ng.read(eks, name, cluster["arn"], cluster["tags"], budget=budget)


def sizes_now(eks: Any, name: str = CLUSTER) -> dict[str, list[int]]:
    return {g: s.sizes.as_list() for g, s in read(eks, name).groups.items()}


def cluster_tags(eks: Any, name: str = CLUSTER) -> dict[str, str]:
    return dict(eks.describe_cluster(name=name)["cluster"]["tags"])


class Refusal:
    """Refuses UpdateNodegroupConfig for one group (before it is sent) until lifted."""

    def __init__(self, eks: Any, group: str, code: str, message: str) -> None:
        self.active = True
        self._args = (group, code, message)
        eks.meta.events.register("before-parameter-build.eks.UpdateNodegroupConfig", self.hook)

    def hook(self, params: dict[str, Any], **_: Any) -> None:
        group, code, message = self._args
        if self.active and params.get("nodegroupName") == group:
            raise client_error(code, message, "UpdateNodegroupConfig")

    def lift(self) -> None:
        self.active = False


def refuse_update(eks: Any, group: str, code: str, message: str = "refused by the test") -> Refusal:
    return Refusal(eks, group, code, message)


def test_three_groups_go_to_zero_and_come_back_exactly(eks: Any) -> None:
    """A min of 0 and a max larger than desired survive the round trip."""
    make_cluster(eks, SIZES)
    groups = read(eks)
    assert ng.power(groups, None) is Power.RUNNING

    result = ng.stop(eks, groups, SEAL_KEY)
    assert result.error is None
    assert result.groups == {"web": "stopped", "batch": "stopped", "jobs": "stopped"}
    assert sizes_now(eks) == {"web": [0, 0, 5], "batch": [0, 0, 4], "jobs": [0, 0, 10]}
    assert cluster_tags(eks)[TAG] == WRITTEN
    assert ng.power(read(eks), "stop") is Power.STOPPED

    result = ng.start(eks, read(eks), SEAL_KEY)
    assert result.error is None and result.notes == ()
    assert sizes_now(eks) == SIZES
    assert TAG not in cluster_tags(eks)  # forgotten once given back
    assert ng.power(read(eks), "start") is Power.RUNNING


def test_a_group_added_is_left_and_one_deleted_is_reported(eks: Any) -> None:
    make_cluster(eks, SIZES)
    ng.stop(eks, read(eks), SEAL_KEY)
    eks.delete_nodegroup(clusterName=CLUSTER, nodegroupName="batch")
    add_group(eks, "gpu", [0, 1, 2])

    result = ng.start(eks, read(eks), SEAL_KEY)

    assert result.error is None
    assert result.groups == {
        "web": "restored",
        "jobs": "restored",
        "batch": "deleted",
        "gpu": "not remembered",
    }
    (note,) = result.notes
    assert "'batch' [0, 2, 4] was deleted since the stop" in note
    assert sizes_now(eks) == {"web": [1, 3, 5], "jobs": [2, 2, 10], "gpu": [0, 1, 2]}
    assert TAG not in cluster_tags(eks)


def test_a_failing_group_is_isolated_and_the_retry_keeps_the_remembered_sizes(eks: Any) -> None:
    make_cluster(eks, SIZES)
    refusal = refuse_update(eks, "batch", "InvalidParameterException", "no")
    result = ng.stop(eks, read(eks), SEAL_KEY)
    assert result.error is not None and result.error.code == "InvalidParameterException"
    assert "'batch'" in result.error.message and "(done: jobs, web)" in result.error.message
    assert sizes_now(eks) == {"web": [0, 0, 5], "batch": [0, 2, 4], "jobs": [0, 0, 10]}

    refusal.lift()
    again = read(eks)
    # The stop was not recorded (the state tag still says start): still running, stop again.
    assert ng.power(again, "start") is Power.RUNNING
    assert ng.stop(eks, again, SEAL_KEY).error is None
    # web and jobs were at zero: their remembered sizes are kept, never zeros.
    assert cluster_tags(eks)[TAG] == WRITTEN
    # A start that did not finish is decided again the same way (state says stop).
    refusal = refuse_update(eks, "jobs", "ThrottlingException")
    partial = ng.start(eks, read(eks), SEAL_KEY)
    assert partial.error is not None and TAG in cluster_tags(eks)
    assert ng.power(read(eks), "stop") is Power.STOPPED
    refusal.lift()
    assert ng.start(eks, read(eks), SEAL_KEY).error is None
    assert sizes_now(eks) == SIZES


def test_an_update_in_progress_is_deferred(eks: Any) -> None:
    make_cluster(eks, {"web": [1, 1, 2]})
    refuse_update(eks, "web", "ResourceInUseException")
    result = ng.stop(eks, read(eks), SEAL_KEY)
    assert result.error is not None and result.error.code == DEFERRED
    assert "in progress" in result.error.message
    assert result.groups == {"web": "deferred"}


def test_the_memory_is_written_first_or_nothing_is_touched(eks: Any) -> None:
    make_cluster(eks, SIZES)

    def deny(**_: Any) -> None:
        raise client_error("AccessDeniedException", "no tagging", "TagResource")

    eks.meta.events.register("before-parameter-build.eks.TagResource", deny)
    result = ng.stop(eks, read(eks), SEAL_KEY)
    assert result.error is not None and result.error.code == "AccessDeniedException"
    assert "no node group touched" in result.error.message
    assert sizes_now(eks) == SIZES


def test_a_long_memory_is_split_over_several_tags(
    eks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    many = {f"group-{i:02d}-{'x' * 40}": [i % 3, i % 3 + 1, 9] for i in range(12)}
    make_cluster(eks, many)
    assert ng.stop(eks, read(eks), SEAL_KEY).error is None
    tags = cluster_tags(eks)
    parts = {k for k in tags if k.startswith(TAG)}
    assert parts == {TAG} | {f"{TAG}:{i}" for i in range(2, len(parts) + 1)}
    assert len(parts) > 1 and all(len(tags[k]) <= 256 for k in parts)
    assert ng.remembered_sizes(tags)[0] == {k: Sizes(*v) for k, v in many.items()}
    assert ng.start(eks, read(eks), SEAL_KEY).error is None
    assert sizes_now(eks) == many
    assert not [k for k in cluster_tags(eks) if k.startswith(TAG)]

    monkeypatch.setattr(memory, "MAX_PARTS", 2)  # the limit lives with the tag codec
    result = ng.stop(eks, read(eks), SEAL_KEY)
    assert result.error is not None and result.error.code == "TooManyNodeGroups"
    assert "nothing changed" in result.error.message
    assert sizes_now(eks) == many


def test_stale_parts_are_removed_when_the_memory_shrinks(eks: Any) -> None:
    arn = make_cluster(eks, {"web": [1, 2, 3]})
    eks.tag_resource(resourceArn=arn, tags={f"{TAG}:2": '{"old": [1, 1, 1]}'})
    assert ng.stop(eks, read(eks), SEAL_KEY).error is None
    tags = cluster_tags(eks)
    assert {k for k in tags if k.startswith(TAG)} == {TAG}
    assert tags[TAG] == "web=1/2/3"  # a group gone is not remembered


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("nope", "is not name=min/desired/max"),
        ("[1, 2]", "is not name=min/desired/max"),
        ("web=1/2/3,api=1/2/3", "is not name=min/desired/max"),
        ("web=1/2", "is not name=min/desired/max"),
        ("-web=1/2/3", "is not name=min/desired/max"),
        ("web=3/2/1", "min <= desired <= max"),
        (" ", "is empty"),
        ("{nope", "is not JSON nor name=min/desired/max"),
        ('{"web": [3, 2, 1]}', "min <= desired <= max"),
        ('{"web": [1, 2]}', "min <= desired <= max"),
        ('{"web": [0, true, 1]}', "min <= desired <= max"),
    ],
)
def test_an_unreadable_memory_is_a_clear_error(value: str, why: str) -> None:
    with pytest.raises(NodeGroupError, match="fix or delete") as caught:
        ng.remembered_sizes({TAG: value})
    assert why in str(caught.value)


def test_a_group_remembered_twice_is_an_error() -> None:
    with pytest.raises(NodeGroupError, match="twice"):
        ng.remembered_sizes({TAG: "a=0/1/2", f"{TAG}:2": '{"a": [0, 1, 2]}'})
    with pytest.raises(NodeGroupError, match="twice"):
        ng.remembered_sizes({TAG: "a=0/1/2 a=0/1/2"})


def test_the_older_json_form_is_still_read_beside_the_new_one() -> None:
    """Memories written before tag-safe values (JSON) are read; parts may mix forms."""
    old = {TAG: '{"web": [1, 3, 5]}', f"{TAG}:2": "batch=0/2/4 jobs=2/2/10"}
    assert ng.remembered_sizes(old)[0] == {k: Sizes(*v) for k, v in SIZES.items()}
    written = memory.encode_sizes({k: Sizes(*v) for k, v in SIZES.items()})
    assert written == {TAG: WRITTEN}


def test_power() -> None:
    def groups(*specs: tuple[int, str], remembered: bool = False) -> Groups:
        found = {
            f"g{i}": ng.NodeGroup(f"g{i}", Sizes(0, desired, 3), status)
            for i, (desired, status) in enumerate(specs)
        }
        memory = {name: Sizes(0, 1, 3) for name in found} if remembered else None
        return Groups(CLUSTER, "arn", found, memory)

    assert ng.power(groups((1, "ACTIVE"), (0, "ACTIVE")), None) is Power.RUNNING
    assert ng.power(groups((0, "ACTIVE"), (0, "DEGRADED"), remembered=True), None) is Power.STOPPED
    assert ng.power(groups((1, "ACTIVE"), (0, "UPDATING")), None) is Power.TRANSITION
    for status in ("CREATING", "DELETING"):
        assert ng.power(groups((0, status), remembered=True), "stop") is Power.TRANSITION
    mixed = groups((1, "ACTIVE"), (0, "ACTIVE"), remembered=True)
    assert ng.power(mixed, "stop") is Power.STOPPED  # a start did not finish
    assert ng.power(mixed, "start") is Power.RUNNING  # a stop did not finish
    assert ng.power(mixed, None) is Power.RUNNING


def test_nothing_remembered_is_a_start_that_says_why(eks: Any) -> None:
    make_cluster(eks, {"web": [0, 0, 2]})
    groups = read(eks)
    assert ng.power(groups, None) is Power.STOPPED
    result = ng.start(eks, groups, SEAL_KEY)
    assert result.error is not None and result.error.code == "NothingRemembered"


def test_a_cluster_without_node_groups_is_an_error(eks: Any) -> None:
    make_cluster(eks, {})
    with pytest.raises(NodeGroupError, match="no managed node groups"):
        read(eks)


def test_the_budget_bounds_every_call(eks: Any) -> None:
    make_cluster(eks, SIZES)
    with pytest.raises(NotReached):
        read(eks, budget=Budget(0.0))
    result = ng.stop(eks, read(eks), SEAL_KEY, budget=Budget(0.0))
    assert result.error is not None and result.error.code == DEFERRED
    assert sizes_now(eks) == SIZES and TAG not in cluster_tags(eks)


# --- through the real handler: clusters without CAST AI ------------------------------------

# No CASTAI_API_KEY and no secret in moto: CAST AI is not configured, node groups it is.
EKS_ONLY = Config(regions=(REGION,), kinds=("eks",), retry_delay_s=0.0)
MONDAY_EVENING = at("2026-11-23 18:00")
TUESDAY_MORNING = at("2026-11-24 08:00")
KEY = "castai-test-key-5e0d"


@pytest.mark.slow
def test_a_week_of_the_seed_schedule_on_three_node_groups(eks: Any) -> None:
    """Hourly passes for a week: every group at zero from 17:55, back at 08:00 exactly."""
    make_cluster(eks, SIZES)
    acted: list[tuple[str, str]] = []
    monday = at("2026-11-23 00:00")
    for now in ticks(monday, monday + timedelta(days=7), timedelta(hours=1)):
        result = run_event({}, EKS_ONLY, now)
        assert result["errors"] == [] and result["scanned"] == 1, now
        acted += [(now.strftime("%a %H:%M"), a["action"]) for a in result["actions"]]
        office = now.weekday() < 5 and 8 <= now.hour < 18
        zero = {g: [0, 0, s[2]] for g, s in SIZES.items()}
        assert sizes_now(eks) == (SIZES if office else zero), now
        assert (TAG in cluster_tags(eks)) is not office, now
    expected = [("Mon 00:00", "stop")]  # first sight: Friday's 17:55 stop
    for day in ("Mon", "Tue", "Wed", "Thu", "Fri"):
        expected += [(f"{day} 08:00", "start"), (f"{day} 18:00", "stop")]
    assert acted == expected
    assert cluster_tags(eks)[STATE_TAG] == "stop@2026-11-27T17:55:00Z"


def test_stop_at_1755_start_at_0800_through_the_handler(eks: Any) -> None:
    make_cluster(eks, SIZES)
    run_event({}, EKS_ONLY, at("2026-11-23 09:00"))  # first sight in office hours: recorded
    result = run_event({}, EKS_ONLY, MONDAY_EVENING)
    assert [(a["id"], a["kind"], a["action"], a["result"]) for a in result["actions"]] == [
        (CLUSTER, "eks", "stop", "done")
    ]
    assert sizes_now(eks) == {"web": [0, 0, 5], "batch": [0, 0, 4], "jobs": [0, 0, 10]}
    assert cluster_tags(eks)[STATE_TAG] == "stop@2026-11-23T17:55:00Z"
    result = run_event({}, EKS_ONLY, TUESDAY_MORNING)
    assert result["counts"] == {"done": 1}
    assert sizes_now(eks) == SIZES


def test_a_deleted_group_is_a_warning_on_a_done_start(eks: Any) -> None:
    make_cluster(eks, SIZES)
    run_event({}, EKS_ONLY, MONDAY_EVENING)
    eks.delete_nodegroup(clusterName=CLUSTER, nodegroupName="batch")
    result = run_event({}, EKS_ONLY, TUESDAY_MORNING)
    assert result["counts"] == {"done": 1} and result["errors"] == []
    (warning,) = result["warnings"]
    assert "'batch' [0, 2, 4] was deleted since the stop" in warning["warning"]
    assert sizes_now(eks) == {"web": [1, 3, 5], "jobs": [2, 2, 10]}


def test_a_failing_group_fails_the_cluster_and_the_next_pass_finishes(eks: Any) -> None:
    make_cluster(eks, SIZES)
    refusal = refuse_update(eks, "jobs", "InvalidParameterException")
    result = run_event({}, EKS_ONLY, MONDAY_EVENING)
    (action,) = result["actions"]
    assert action["result"] == "failed" and "'jobs'" in action["error"]
    assert STATE_TAG not in cluster_tags(eks)
    assert sizes_now(eks)["web"] == [0, 0, 5] and sizes_now(eks)["jobs"] == [2, 2, 10]
    refusal.lift()
    assert run_event({}, EKS_ONLY, at("2026-11-23 18:15"))["counts"] == {"done": 1}
    assert cluster_tags(eks)[TAG] == WRITTEN
    run_event({}, EKS_ONLY, TUESDAY_MORNING)
    assert sizes_now(eks) == SIZES


class Calls:
    """The EKS operations the scheduler's client sends, by name."""

    def __init__(self, eks: Any) -> None:
        self.names: list[str] = []
        eks.meta.events.register("before-call.eks", self.hook)

    def hook(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def take(self) -> list[str]:
        names, self.names = self.names, []
        return names


def set_health(group: str, issues: list[dict[str, Any]]) -> None:
    """What EKS reports for a group whose Auto Scaling group cannot launch its nodes."""
    from moto.eks.models import eks_backends

    backend = eks_backends["123456789012"][REGION]
    backend.clusters[CLUSTER].nodegroups[group].health = {"issues": issues}


LAUNCH_FAILURE = {
    "code": "AsgInstanceLaunchFailures",
    "message": "Could not launch On-Demand Instances. InsufficientInstanceCapacity - "
    "We currently do not have sufficient m5.large capacity.",
    "resourceIds": ["eks-jobs-asg"],
}


def test_a_start_whose_groups_report_health_issues_is_reported_until_they_recover(
    eks: Any,
) -> None:
    """Verified actions: an accepted start writes `powercycle:attempts`; a group with nodes
    wanted that reports health issues makes it `unhandled` on each pass (no call again:
    EKS keeps launching by itself); healthy -> the tag is removed. No extra call."""
    make_cluster(eks, SIZES)
    calls = Calls(eks)
    run_event({}, EKS_ONLY, MONDAY_EVENING)
    assert ATTEMPTS not in cluster_tags(eks)  # only starts are checked
    result = run_event({}, EKS_ONLY, TUESDAY_MORNING)
    assert result["counts"] == {"done": 1} and sizes_now(eks) == SIZES
    event = cluster_tags(eks)[STATE_TAG]
    assert event == "start@2026-11-24T08:00:00Z"
    assert cluster_tags(eks)[ATTEMPTS] == f"{event}/1"
    calls.take()

    set_health("jobs", [LAUNCH_FAILURE, {"code": "InstanceLimitExceeded", "message": ""}])
    set_health("batch", [LAUNCH_FAILURE])
    eks.update_nodegroup_config(
        clusterName=CLUSTER,
        nodegroupName="batch",
        scalingConfig={"minSize": 0, "desiredSize": 0, "maxSize": 4},
    )  # a group with no nodes wanted: its issues say nothing about the start
    calls.take()
    for minute in ("08:15", "09:00"):
        result = run_event({}, EKS_ONLY, at(f"2026-11-24 {minute}"))
        (error,) = result["errors"]
        assert error["id"] == CLUSTER
        assert error["error"] == (
            "start has not taken: node group 'jobs' (desired 2): AsgInstanceLaunchFailures: "
            "Could not launch On-Demand Instances. InsufficientInstanceCapacity - We currently "
            "do not have sufficient m5.large capacity.; InstanceLimitExceeded; "
            "EKS keeps trying to launch its nodes by itself"
        )
        assert result["actions"] == []
        assert cluster_tags(eks)[ATTEMPTS] == f"{event}/1"
        assert cluster_tags(eks)[STATE_TAG] == event
        # Read as every pass reads it: no extra call, nothing scaled, nothing tagged.
        assert sorted(set(calls.take())) == [
            "DescribeCluster",
            "DescribeNodegroup",
            "ListClusters",
            "ListNodegroups",
        ]

    set_health("jobs", [])  # its nodes came up
    result = run_event({}, EKS_ONLY, at("2026-11-24 09:15"))
    assert result["errors"] == [] and result["actions"] == []
    # Judged from what the pass read: nothing written (the tag stays until the next
    # action's write overwrites it), and nothing reported again.
    assert cluster_tags(eks)[ATTEMPTS] == f"{event}/1"
    assert "UntagResource" not in calls.take()
    result = run_event({}, EKS_ONLY, at("2026-11-24 09:30"))
    assert result["errors"] == [] and "UntagResource" not in calls.take()


def test_a_stale_attempts_tag_is_ignored_without_a_look(eks: Any) -> None:
    """A failed start does not hold up the next event; once the state tag names it, the
    attempts tag is stale: ignored whatever the groups say, and not removed (an idle pass
    writes nothing)."""
    make_cluster(eks, SIZES)
    run_event({}, EKS_ONLY, MONDAY_EVENING)
    run_event({}, EKS_ONLY, TUESDAY_MORNING)
    assert ATTEMPTS in cluster_tags(eks)
    set_health("jobs", [LAUNCH_FAILURE])
    result = run_event({}, EKS_ONLY, at("2026-11-24 18:00"))
    assert [a["action"] for a in result["actions"]] == ["stop"]
    assert [e["error"][:20] for e in result["errors"]] == ["start has not taken:"]
    assert cluster_tags(eks)[STATE_TAG] == "stop@2026-11-24T17:55:00Z"
    result = run_event({}, EKS_ONLY, at("2026-11-24 18:15"))
    assert result["errors"] == [] and result["actions"] == []
    assert cluster_tags(eks)[ATTEMPTS].startswith("start@")  # stale: read, never acted on


def test_dry_run_and_exclusion_touch_nothing(eks: Any) -> None:
    make_cluster(eks, SIZES)
    make_cluster(eks, {"prod-ng": [2, 2, 4]}, name="prod")
    eks.tag_resource(
        resourceArn=eks.describe_cluster(name="prod")["cluster"]["arn"], tags={"Environment": "P"}
    )
    result = run_event({"dryRun": True}, EKS_ONLY, MONDAY_EVENING)
    assert {a["id"]: a["result"] for a in result["actions"]} == {CLUSTER: "planned"}
    assert result["reasons"]["excluded:environment=p"] == 1
    assert sizes_now(eks) == SIZES and STATE_TAG not in cluster_tags(eks)
    result = run_event({}, EKS_ONLY, MONDAY_EVENING)
    assert {a["id"]: a["result"] for a in result["actions"]} == {CLUSTER: "done"}
    assert sizes_now(eks, "prod") == {"prod-ng": [2, 2, 4]}


def test_cluster_names_payload_works_for_node_group_clusters(eks: Any) -> None:
    make_cluster(eks, SIZES)
    result = run_event(
        {"clusterNames": [CLUSTER, "nope"], "action": "pause"}, EKS_ONLY, TUESDAY_MORNING
    )
    assert [(a["id"], a["result"]) for a in result["actions"]] == [(CLUSTER, "done")]
    assert [e["id"] for e in result["errors"]] == ["nope"]
    assert all(s[1] == 0 for s in sizes_now(eks).values())
    result = run_event({"clusterNames": [CLUSTER], "action": "resume"}, EKS_ONLY, TUESDAY_MORNING)
    assert result["counts"] == {"done": 1} and sizes_now(eks) == SIZES


def test_max_runtime_counts_from_the_recorded_start(eks: Any) -> None:
    make_cluster(eks, {"web": [1, 1, 2]})
    eks.tag_resource(
        resourceArn=eks.describe_cluster(name=CLUSTER)["cluster"]["arn"],
        tags={"ec2Powercycle": '{"start": "0 8 * * *", "maxRuntime": "2h"}'},
    )
    assert run_event({}, EKS_ONLY, at("2026-11-24 08:00"))["reasons"] == {"already-running": 1}
    assert run_event({}, EKS_ONLY, at("2026-11-24 09:45"))["counts"] == {"none": 1}
    result = run_event({}, EKS_ONLY, at("2026-11-24 10:15"))
    assert [(a["action"], a["reason"], a["result"]) for a in result["actions"]] == [
        ("stop", "max-runtime", "done")
    ]
    assert sizes_now(eks) == {"web": [0, 0, 2]}


@pytest.fixture
def castai() -> Iterator[CastAIStandin]:
    with CastAIStandin(api_key=KEY) as server:
        yield server


def test_the_backend_is_via_else_castai_when_it_knows_the_cluster(
    eks: Any, castai: CastAIStandin
) -> None:
    """CAST AI configured: a cluster it knows goes through it, unless the schedule says
    via nodegroups; a cluster it does not know goes through its node groups."""
    make_cluster(eks, {"a": [1, 2, 3]}, name="known")
    make_cluster(eks, {"b": [1, 2, 3]}, name="mine")
    make_cluster(eks, {"c": [1, 2, 3]}, name="unknown")
    via = json.dumps({"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "via": "nodegroups"})
    eks.tag_resource(
        resourceArn=eks.describe_cluster(name="mine")["cluster"]["arn"], tags={"ec2Powercycle": via}
    )
    known = castai.add_cluster("known", region=REGION)
    castai.add_cluster("mine", region=REGION)
    cfg = Config(regions=(REGION,), kinds=("eks",), castai_api_url=castai.url, castai_api_key=KEY)
    result = run_event({}, cfg, MONDAY_EVENING)
    assert {a["id"]: a["result"] for a in result["actions"]} == {
        "known": "done",
        "mine": "done",
        "unknown": "done",
    }
    assert castai.status(known) in ("hibernating", "hibernated")
    assert castai.counts["hibernate"] == 1
    assert sizes_now(eks, "known") == {"a": [1, 2, 3]}  # CAST AI's business
    assert sizes_now(eks, "mine") == {"b": [0, 0, 3]}
    assert sizes_now(eks, "unknown") == {"c": [0, 0, 3]}
