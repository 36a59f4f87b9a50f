"""Benchmark: one powercycle pass against a bare boto3 script, on identical fleets.

    .venv/bin/python bench/bench.py                 # N = 1000, 2000, 10000
    .venv/bin/python bench/bench.py --sizes 1000    # one size

A moto server (`fleet_server.py`) runs in its own process on 127.0.0.1, a fresh one per
client. For each N it holds a fleet of N running instances, one per reservation, identical
for both clients but for the tag key (`ec2Powercycle`, `benchBare`), each with a stop event
that has just passed, so the whole fleet must act. Each client runs in a fresh process of
its own, so what is measured is the client's cost only:

* AWS calls by operation (counted in the client, at botocore's `_make_api_call`);
* CPU time, user + system, of the whole client process (interpreter start and imports
  included, for both), and the ratio powercycle / bare;
* wall time of the pass, and the client's peak RSS (its own VmHWM).

The bare script does only the unavoidable work: a paginated, filtered DescribeInstances,
StopInstances in batches of 50, CreateTags in batches of 1000.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3

REGION = "eu-west-1"
ROOT = Path(__file__).resolve().parent.parent
STOP_CRON_TAG = '{"start": "0 8 * * 1-5", "stop": "0 18 * * *"}'
NOW = "2026-11-23T18:05:00+00:00"  # a Monday, five minutes after the stop event
# One instance per reservation: moto pages DescribeInstances by reservations, EC2 by
# instances; with one each, a 1000-instance page is the same on both.
RESERVATION = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("fleet_server.py")), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                break
            time.sleep(0.05)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)


def seed(endpoint: str, n: int, tag: str) -> None:
    ec2 = boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )

    def launch(start: int) -> None:
        count = min(RESERVATION, n - start)
        ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=count,
            MaxCount=count,
            InstanceType="t3.micro",
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": tag, "Value": STOP_CRON_TAG}]}
            ],
        )

    # One at a time: moto's EC2 backend is not safe for concurrent launches.
    for start in range(0, n, RESERVATION):
        launch(start)


def run_client(mode: str, endpoint: str, tag: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("client.py")), mode, tag, NOW],
        env=env,
        stdout=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    assert proc.stdout is not None
    out = proc.stdout.read()
    if status != 0:
        raise SystemExit(f"{mode} client failed (status {status})")
    result: dict[str, Any] = json.loads(out)
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    # peak_mb comes from the client itself (VmHWM): ru_maxrss would carry this process's.
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 10000])
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        # One server per client: moto's DescribeInstances filters every instance it holds,
        # and its cost, not ours, would otherwise dominate the wall time.
        with moto_server() as endpoint:
            seed(endpoint, n, "benchBare")
            bare = run_client("bare", endpoint, "benchBare")
        with moto_server() as endpoint:
            seed(endpoint, n, "ec2Powercycle")
            ours = run_client("powercycle", endpoint, "ec2Powercycle")
        assert ours["acted"] == n, f"powercycle acted on {ours['acted']} of {n}"
        assert bare["acted"] == n, f"bare acted on {bare['acted']} of {n}"
        rows.append((n, bare, ours))

    print(f"python {sys.version.split()[0]}, moto server in its own process on 127.0.0.1")
    header = (
        f"{'N':>6} {'client':<10} {'calls':<62} {'CPU s':>6} {'ratio':>5} "
        f"{'wall s':>6} {'peak MB':>7}"
    )
    print(header)
    for n, bare, ours in rows:
        for name, r in (("bare", bare), ("powercycle", ours)):
            calls = ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items()))
            ratio = f"{r['cpu_s'] / bare['cpu_s']:.2f}"
            print(
                f"{n:>6} {name:<10} {calls:<62} {r['cpu_s']:>6.2f} {ratio:>5} "
                f"{r['wall_s']:>6.2f} {r['peak_mb']:>7.1f}"
            )
        if sum(ours["calls"].values()) > sum(bare["calls"].values()):
            print(f"!! N={n}: powercycle made more AWS calls than the bare script")


if __name__ == "__main__":
    main()
