"""Auto Scaling groups as the API shows them: described (paginated, by names or filters),
their sizes and power read from one answer, their tags specified; no state of a pass."""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from powercycle.core.decide import Power
from powercycle.core.tags import Capacity
from powercycle.providers.base import cli_json

KIND = "asg"
EKS_NODEGROUP_TAG = "eks:nodegroup-name"
PAGE_SIZE = 100  # DescribeAutoScalingGroups' maximum MaxRecords
NAMES_PER_CALL = 50
_RESOURCE_TYPE = "auto-scaling-group"

_LAUNCHING = frozenset({"Pending", "Pending:Wait", "Pending:Proceed"})
_LEAVING = frozenset({"Terminating", "Terminating:Wait", "Terminating:Proceed"})


def capacity_of(group: Mapping[str, Any]) -> Capacity:
    """The sizes of one `DescribeAutoScalingGroups` entry."""
    return Capacity(int(group["MinSize"]), int(group["DesiredCapacity"]), int(group["MaxSize"]))


def power_of(group: Mapping[str, Any]) -> Power:
    """Running, stopped or in transition, from one `DescribeAutoScalingGroups` entry."""
    states = [str(i.get("LifecycleState", "")) for i in group.get("Instances", ())]
    if int(group["DesiredCapacity"]) == 0:
        busy = [s for s in states if s in _LAUNCHING or s in _LEAVING or s == "InService"]
        return Power.TRANSITION if busy else Power.STOPPED
    launching = any(s in _LAUNCHING for s in states)
    return Power.TRANSITION if launching and "InService" not in states else Power.RUNNING


def scheduled_groups(client: Any, names: Sequence[str], tag: str) -> set[str]:
    """The groups among `names` that carry `tag` and are resources of this kind."""
    found: set[str] = set()
    for group in describe(client, names=names):
        tags = tags_of(group)
        if tag in tags and EKS_NODEGROUP_TAG not in tags:
            found.add(str(group["AutoScalingGroupName"]))
    return found


def describe(
    client: Any,
    *,
    names: Sequence[str] = (),
    filters: list[dict[str, Any]] | None = None,
) -> Iterator[Mapping[str, Any]]:
    """DescribeAutoScalingGroups, paginated; by names (in chunks) or by filters."""
    paginator = client.get_paginator("describe_auto_scaling_groups")
    queries: list[dict[str, Any]] = (
        [
            {"AutoScalingGroupNames": list(names[i : i + NAMES_PER_CALL])}
            for i in range(0, len(names), NAMES_PER_CALL)
        ]
        if names
        else [{"Filters": filters or []}]
    )
    for query in queries:
        for page in paginator.paginate(**query, PaginationConfig={"PageSize": PAGE_SIZE}):
            yield from page.get("AutoScalingGroups", ())


def tag_spec(name: str, key: str, value: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"ResourceId": name, "ResourceType": _RESOURCE_TYPE, "Key": key}
    if value is not None:
        spec.update(Value=value, PropagateAtLaunch=False)
    return spec


def tags_of(group: Mapping[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in group.get("Tags", ())}


def safe_tags(group: Mapping[str, Any]) -> dict[str, str]:
    try:
        return tags_of(group)
    except Exception:
        return {}


def tag_command(region: str, rid: str, arn: str, tags: Mapping[str, str]) -> str:
    """The AWS CLI command writing `tags` on a group (a kind's `tag_command`)."""
    spec = cli_json([tag_spec(rid, k, v) for k, v in tags.items()])
    return f"aws autoscaling create-or-update-tags --region {region} --tags {shlex.quote(spec)}"
