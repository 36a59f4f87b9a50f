"""One benchmark client run (a process of its own): `client.py bare|powercycle TAG NOW`.

Prints JSON: AWS calls by operation, instances acted on, wall time of the pass.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import botocore.client
import botocore.config

CALLS: Counter[str] = Counter()
_original = botocore.client.BaseClient._make_api_call


def _counting(self: Any, operation_name: str, api_params: Any) -> Any:
    CALLS[operation_name] += 1
    return _original(self, operation_name, api_params)


botocore.client.BaseClient._make_api_call = _counting
# moto answers a 10,000-instance DescribeInstances far slower than EC2 does: both clients
# get the same generous read timeout, or the slow server would fail the run.
READ_TIMEOUT = botocore.config.Config(read_timeout=900, retries={"mode": "standard"})


def bare(tag: str) -> int:
    """Only the unavoidable work: find the tagged running instances, stop, tag."""
    import boto3

    ec2 = boto3.client("ec2", config=READ_TIMEOUT)
    ids = []
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": "tag-key", "Values": [tag]},
            {
                "Name": "instance-state-name",
                "Values": ["pending", "running", "stopping", "stopped"],
            },
        ],
        PaginationConfig={"PageSize": 1000},
    )
    for page in pages:
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                if instance["State"]["Name"] == "running":
                    ids.append(instance["InstanceId"])
    for i in range(0, len(ids), 50):
        ec2.stop_instances(InstanceIds=ids[i : i + 50])
    for i in range(0, len(ids), 1000):
        ec2.create_tags(
            Resources=ids[i : i + 1000],
            Tags=[{"Key": "powercycle:state", "Value": "stop@2026-11-23T18:00:00Z"}],
        )
    return len(ids)


def powercycle(tag: str, now: datetime) -> int:
    from powercycle import aws, engine
    from powercycle.config import Config

    # The JSON decision lines are part of the work; they go to /dev/null here.
    handler = logging.FileHandler("/dev/null")
    logging.getLogger("powercycle").addHandler(handler)
    logging.getLogger("powercycle").setLevel(logging.INFO)
    aws._BOTO_CONFIG = aws._BOTO_CONFIG.merge(READ_TIMEOUT)
    # EC2 only, like the bare script: with eks too a pass adds one ListClusters per region.
    config = Config.from_env(
        {"POWERCYCLE_TAG": tag, "AWS_REGION": "eu-west-1", "POWERCYCLE_KINDS": "ec2"}
    )
    summary = engine.run_pass(config, now)
    return int(summary.counts["done"])


def main() -> None:
    mode, tag, now = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])
    started = time.perf_counter()
    acted = bare(tag) if mode == "bare" else powercycle(tag, now)
    wall = time.perf_counter() - started
    print(json.dumps({"calls": dict(CALLS), "acted": acted, "wall_s": wall, "peak_mb": peak_mb()}))


def peak_mb() -> float:
    """This process's peak RSS (VmHWM). Not the parent's `wait4` ru_maxrss: on Linux that
    keeps the peak of the process that forked, so it would charge bench.py's own memory
    to the client."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()
