"""ECS services as the APIs show them: listed and described (bounded calls), their scaling
targets read in batches, their power read from one answer; no state of a pass.

A service is named `cluster/service` (its id here, and what the CLI takes beside its ARN).
Only services in the long ARN format (`service/<cluster>/<service>`) can carry tags, so
only they can carry a schedule.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from powercycle.core.decide import Power
from powercycle.providers.base import cli_json

KIND = "ecs"
PAGE_SIZE = 100  # GetResources' maximum ResourcesPerPage
RESOURCE_TYPE = "ecs:service"
DESCRIBE_BATCH = 10  # DescribeServices takes at most 10 services
TARGETS_BATCH = 50  # DescribeScalableTargets takes at most 50 ResourceIds
NAMESPACE = "ecs"
DIMENSION = "ecs:service:DesiredCount"
ARN = re.compile(
    r"arn:aws[a-z-]*:ecs:(?P<region>[a-z0-9-]+):\d*:service/(?P<name>[A-Za-z0-9_-]+/[A-Za-z0-9_-]+)"
)
# A cluster or service name, as ECS allows them.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")


@dataclass(frozen=True)
class Target:
    """An Application Auto Scaling target of a service's desired count."""

    min: int
    max: int


def split_ref(ref: str) -> tuple[str, str] | None:
    """`cluster/service` -> (cluster, service); None for anything else."""
    cluster, sep, service = ref.partition("/")
    if sep and _NAME.fullmatch(cluster) and _NAME.fullmatch(service):
        return cluster, service
    return None


def service_id(service: Mapping[str, Any]) -> str:
    """`cluster/service` of one `DescribeServices` entry."""
    cluster = str(service.get("clusterArn", "")).rpartition("/")[2]
    return f"{cluster}/{service.get('serviceName', '?')}"


def resource_id(sid: str) -> str:
    """The Application Auto Scaling ResourceId of `cluster/service`."""
    return f"service/{sid}"


def tags_of(service: Mapping[str, Any]) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value", "")) for t in service.get("tags") or ()}


def safe_tags(service: Mapping[str, Any]) -> dict[str, str]:
    try:
        return tags_of(service)
    except Exception:
        return {}


def power_of(service: Mapping[str, Any]) -> Power:
    """Running: desired > 0 with tasks running; stopped: desired 0 and no task running or
    pending; anything else (starting, draining) in transition."""
    desired = int(service["desiredCount"])
    running = int(service.get("runningCount", 0))
    pending = int(service.get("pendingCount", 0))
    if desired > 0 and running > 0:
        return Power.RUNNING
    if desired == 0 and running == 0 and pending == 0:
        return Power.STOPPED
    return Power.TRANSITION


def primary(service: Mapping[str, Any]) -> Mapping[str, Any]:
    """The service's primary deployment ({} when it has none: another controller)."""
    for deployment in service.get("deployments") or ():
        if deployment.get("status") == "PRIMARY":
            return dict(deployment)
    return {}


def tagged_services(tagging: Any, tag: str) -> dict[str, list[str]]:
    """cluster -> the ARNs of its services carrying `tag`, from the Resource Groups Tagging
    API (GetResources, 100 a page): untagged services and clusters cost no call."""
    found: dict[str, list[str]] = {}
    for page in tagging.get_paginator("get_resources").paginate(
        ResourceTypeFilters=[RESOURCE_TYPE],
        TagFilters=[{"Key": tag}],
        PaginationConfig={"PageSize": PAGE_SIZE},
    ):
        for item in page.get("ResourceTagMappingList", ()):
            match = ARN.fullmatch(str(item.get("ResourceARN", "")))
            if match is not None:  # long ARN format only: others carry no tag
                found.setdefault(match["name"].partition("/")[0], []).append(match.group(0))
    return found


def describe(client: Any, cluster: str, services: Sequence[str]) -> Iterator[Mapping[str, Any]]:
    """DescribeServices with their tags, ten at a time; services ECS does not know are left
    out (its `failures`)."""
    for start in range(0, len(services), DESCRIBE_BATCH):
        answer = client.describe_services(
            cluster=cluster,
            services=list(services[start : start + DESCRIBE_BATCH]),
            include=["TAGS"],
        )
        yield from answer.get("services", ())


def scalable_targets(client: Any, ids: Sequence[str]) -> dict[str, Target]:
    """`cluster/service` -> its desired-count scaling target, for those of `ids` having one:
    DescribeScalableTargets, 50 services a call."""
    found: dict[str, Target] = {}
    paginator = client.get_paginator("describe_scalable_targets")
    for start in range(0, len(ids), TARGETS_BATCH):
        chunk = [resource_id(i) for i in ids[start : start + TARGETS_BATCH]]
        for page in paginator.paginate(
            ServiceNamespace=NAMESPACE, ResourceIds=chunk, ScalableDimension=DIMENSION
        ):
            for target in page.get("ScalableTargets", ()):
                sid = str(target["ResourceId"]).removeprefix("service/")
                found[sid] = Target(int(target["MinCapacity"]), int(target["MaxCapacity"]))
    return found


def set_minimum(client: Any, sid: str, low: int) -> None:
    """A scaling target's MinCapacity (MaxCapacity is not sent: it stays as it is)."""
    client.register_scalable_target(
        ServiceNamespace=NAMESPACE,
        ResourceId=resource_id(sid),
        ScalableDimension=DIMENSION,
        MinCapacity=low,
    )


def tag_command(region: str, rid: str, arn: str, tags: Mapping[str, str]) -> str:
    """The AWS CLI command writing `tags` on a service (a kind's `tag_command`)."""
    where = f"--region {region}"
    if arn:
        quoted = shlex.quote(arn)
    else:
        cluster, _, service = rid.partition("/")
        quoted = (
            f'"$(aws ecs describe-services {where} --cluster {shlex.quote(cluster)} '
            f"--services {shlex.quote(service)} --query 'services[0].serviceArn' --output text)\""
        )
    spec = shlex.quote(cli_json([{"key": k, "value": v} for k, v in tags.items()]))
    return f"aws ecs tag-resource {where} --resource-arn {quoted} --tags {spec}"
