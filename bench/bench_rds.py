"""Benchmark: the AWS calls of a powercycle pass over databases, beside a bare boto3 script.

    .venv/bin/python bench/bench_rds.py                      # 40 instances, 10 clusters
    .venv/bin/python bench/bench_rds.py --instances 200 --clusters 50

In-process moto (`mock_aws`), two identical fleets in turn: N DB instances and M Aurora
clusters carrying a schedule tag whose stop has just passed, so every database must stop.
The bare script does only the unavoidable work: a paginated DescribeDBInstances and
DescribeDBClusters (tags from the answers), one StopDBInstance / StopDBCluster per
database (the API takes one), one AddTagsToResource per database to remember the stop.
Then a second, quiet pass of each (nothing to do): the calls a pass makes every 15
minutes at night. Calls are counted per operation at the client; wall time is moto's
in-process time too, so only the call counts compare across machines.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import boto3

REGION = "eu-west-1"
UPTIME = "Mon-Fri 08:00-17:55"
NOW = datetime(2026, 11, 23, 18, 5, tzinfo=UTC)  # a Monday, ten minutes after the stop


def counting(client: Any) -> Counter[str]:
    seen: Counter[str] = Counter()
    client.meta.events.register(
        "provide-client-params.rds.*", lambda model, **_: seen.update([model.name])
    )
    return seen


def seed(rds: Any, tag: str, instances: int, clusters: int) -> None:
    for n in range(instances):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{tag.lower()}-db-{n}",
            Engine="postgres",
            DBInstanceClass="db.t4g.micro",
            AllocatedStorage=20,
            MasterUsername="bench",
            MasterUserPassword="bench-password-0",
            Tags=[{"Key": tag, "Value": UPTIME}],
        )
    for n in range(clusters):
        rds.create_db_cluster(
            DBClusterIdentifier=f"{tag.lower()}-cluster-{n}",
            Engine="aurora-postgresql",
            MasterUsername="bench",
            MasterUserPassword="bench-password-0",
            Tags=[{"Key": tag, "Value": UPTIME}],
        )


def bare(rds: Any, tag: str, value: str) -> int:
    """What any script must do: find the tagged databases, stop the running ones, tag."""
    acted = 0
    for operation, key, id_key, arn_key, status_key, stop in (
        ("describe_db_instances", "DBInstances", "DBInstanceIdentifier", "DBInstanceArn",
         "DBInstanceStatus", rds.stop_db_instance),
        ("describe_db_clusters", "DBClusters", "DBClusterIdentifier", "DBClusterArn",
         "Status", rds.stop_db_cluster),
    ):  # fmt: skip
        for page in rds.get_paginator(operation).paginate(PaginationConfig={"PageSize": 100}):
            for db in page[key]:
                tags = {t["Key"]: t["Value"] for t in db.get("TagList", ())}
                if tag not in tags or (db.get("DBClusterIdentifier") and key == "DBInstances"):
                    continue
                if db[status_key] != "available":
                    continue
                stop(**{id_key: db[id_key]})
                rds.add_tags_to_resource(
                    ResourceName=db[arn_key], Tags=[{"Key": "benchState", "Value": value}]
                )
                acted += 1
    return acted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=40)
    parser.add_argument("--clusters", type=int, default=10)
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION=REGION
    )
    from moto import mock_aws

    from powercycle import aws
    from powercycle.config import Config
    from powercycle.engine import run_pass

    rows = []
    with mock_aws():
        client = boto3.client("rds", region_name=REGION)
        seed(client, "benchBare", args.instances, args.clusters)
        calls = counting(client)
        for title in ("stop pass", "quiet pass"):
            calls.clear()
            began = time.perf_counter()
            acted = bare(client, "benchBare", "stop@2026-11-23T17:55:00Z")
            rows.append(("bare", title, acted, dict(calls), time.perf_counter() - began))
    with mock_aws():
        aws.reset()
        rds = aws.client("rds", REGION)
        seed(rds, "ec2Powercycle", args.instances, args.clusters)
        calls = counting(rds)
        config = Config(regions=(REGION,), kinds=("rds", "rds-cluster"))
        for title in ("stop pass", "quiet pass"):
            calls.clear()
            began = time.perf_counter()
            summary = run_pass(config, NOW)
            acted = sum(1 for a in summary.actions if a["result"] == "done")
            rows.append(("powercycle", title, acted, dict(calls), time.perf_counter() - began))
    print(f"{args.instances} DB instances and {args.clusters} Aurora clusters, all tagged")
    for who, title, acted, made, wall in rows:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(made.items()))
        print(
            f"{who:<10} {title:<10} acted={acted:<4} calls={sum(made.values()):<4} "
            f"wall={wall:.2f}s  {shown}"
        )


if __name__ == "__main__":
    main()
