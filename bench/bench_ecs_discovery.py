"""ECS discovery: which way costs fewer calls. powercycle's (the Resource Groups Tagging
API's GetResources for `ecs:service` with the schedule tag, then DescribeServices ten at a
time for the tagged services only, which the power and the sizes need anyway) against the
listing (ListClusters, ListServices per cluster, DescribeServices of every service ten at a
time with their tags), on moto, for a few fleet shapes.

    .venv/bin/python bench/bench_ecs_discovery.py

moto answers ListServices in one page whatever its size; AWS pages it at 100
(`maxResults`): the listing's count in brackets adds those pages. moto pages GetResources at
50 where AWS takes 100 (`ResourcesPerPage`): on AWS, powercycle's count is a little lower.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from typing import Any

REGION = "eu-west-1"
TAG = "ec2Powercycle"


def counted(client: Any) -> Counter[str]:
    seen: Counter[str] = Counter()
    client.meta.events.register(
        "provide-client-params.*", lambda model, **_: seen.update([model.name])
    )
    return seen


def fleet(ecs: Any, clusters: int, services: int, tagged: int) -> None:
    ecs.register_task_definition(
        family="b", containerDefinitions=[{"name": "b", "image": "nginx", "memory": 128}]
    )
    for c in range(clusters):
        ecs.create_cluster(clusterName=f"c{c}")
        for s in range(services):
            tags = [{"key": TAG, "value": "Mon-Fri 08:00-18:00"}] if s < tagged else []
            tags.append({"key": "team", "value": "x"})
            ecs.create_service(
                cluster=f"c{c}",
                serviceName=f"s{s}",
                taskDefinition="b",
                desiredCount=1,
                tags=tags,
            )


def by_listing(ecs: Any) -> int:
    """The services carrying the tag, found by listing and describing every service."""
    found = 0
    for cluster in ecs.list_clusters()["clusterArns"]:
        arns = ecs.list_services(cluster=cluster, maxResults=100)["serviceArns"]
        for i in range(0, len(arns), 10):
            answer = ecs.describe_services(
                cluster=cluster, services=arns[i : i + 10], include=["TAGS"]
            )
            found += sum(TAG in {t["key"] for t in s.get("tags", ())} for s in answer["services"])
    return found


def main() -> None:
    import boto3
    from moto import mock_aws

    from powercycle.config import Config
    from powercycle.providers.ecs import EcsProvider

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION
    )
    print(f"{'clusters':>8} {'services':>8} {'tagged':>6} | {'powercycle':>10} | listing (aws)")
    for clusters, services, tagged in ((1, 20, 20), (5, 40, 4), (10, 250, 10), (3, 300, 300)):
        with mock_aws():
            ecs = boto3.client("ecs", region_name=REGION)
            tagging = boto3.client("resourcegroupstaggingapi", region_name=REGION)
            fleet(ecs, clusters, services, tagged)
            ours, theirs = counted(ecs), counted(tagging)
            config = Config(regions=(REGION,), kinds=("ecs",))
            provider = EcsProvider(config, REGION, client=ecs, tagging=tagging)
            assert len(list(provider.discover(TAG))) == clusters * tagged
            calls = sum(ours.values()) + sum(theirs.values())
            other = boto3.client("ecs", region_name=REGION)
            listing = counted(other)
            assert by_listing(other) == clusters * tagged
            listed = sum(listing.values())
            pages = clusters * (math.ceil(services / 100) - 1)
            shape = f"{clusters:>8} {services:>8} {tagged:>6}"
            print(f"{shape} | {calls:>10} | {listed} ({listed + pages})  {dict(ours + theirs)}")


if __name__ == "__main__":
    main()
