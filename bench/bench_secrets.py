"""Benchmark: GetSecretValue calls of a fan-out pass, secrets read at every need or kept.

    .venv/bin/python bench/bench_secrets.py                        # 400, 1,000, 2,000 targets
    .venv/bin/python bench/bench_secrets.py --targets 20000 --per-environment 200

A fan-out pass sends one worker event per target (account x region); each worker that meets
a CAST AI cluster reads the CAST AI key (`CASTAI_SECRET_NAME`). Lambda runs the workers in
warm environments (about a hundred at the documented concurrency), each handling many
events in turn. Simulated here in one process, in-process moto (`mock_aws`) and the CAST AI
stand-in on loopback (`powercycle/local/castai_standin.py`):

* each target's region holds one EKS cluster tagged with the seed schedule, known to CAST AI;
  the clock is Monday 18:05 UTC, so every worker plans the cluster's hibernation (dry run:
  the same work every time, nothing changes between workers);
* every worker event goes through the real door (`handler.run_event`: the event is parsed,
  the target scanned, CAST AI listed with the key read through `aws.secrets`);
* a new warm environment is a Secrets Manager cache emptied (`secrets.reset()`), each
  handling `--per-environment` events; the process's redelivery guard is cleared before
  each event, since every event stands for another target;
* GetSecretValue is counted with a botocore `before-call` hook on the function's client.

Before: `POWERCYCLE_SECRET_MAX_AGE_S=0` (read at every need: what main did before
Powertools, once per worker that meets a CAST AI cluster). After: the default 300 s (once per
warm environment). Cost: $0.05 per 10,000 calls, 96 passes a day (every 15 minutes).
The sealing key (`POWERCYCLE_KEY_SECRET`) goes through the same cache and counts the same
way for workers that act on a sealed memory.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import time
from datetime import UTC, datetime
from typing import Any

os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # 20,000 passes print nothing
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "CASTAI_API_KEY", "CASTAI_API_URL"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from powercycle import app, aws  # noqa: E402
from powercycle.aws import secrets  # noqa: E402
from powercycle.aws import targets as tg  # noqa: E402
from powercycle.config import Config  # noqa: E402
from powercycle.handler import run_event  # noqa: E402
from powercycle.local.castai_standin import CastAIStandin  # noqa: E402

HOME = "eu-west-1"
REGIONS = ("eu-west-1", "eu-central-1", "us-east-1", "us-west-2")
ACCOUNT = "123456789012"  # moto's
KEY = "bench-castai-key-0000"
NOW = datetime(2026, 11, 23, 18, 5, tzinfo=UTC)  # a Monday, after the seed's 17:55 stop
PASSES_PER_DAY = 96
PRICE_PER_CALL = 0.05 / 10_000


class Reads:
    """GetSecretValue calls sent by the function's Secrets Manager client."""

    def __init__(self) -> None:
        self.count = 0
        client = aws.client("secretsmanager", HOME)
        client.meta.events.register("before-call.secrets-manager.GetSecretValue", self.hook)

    def hook(self, **_: Any) -> None:
        self.count += 1


def seed(standin: CastAIStandin) -> None:
    # moto validates each CreateCluster role against a fresh boto3 session: not measured here.
    import moto.eks.models

    moto.eks.models.validate_role_arn = lambda arn: None  # type: ignore[attr-defined]
    boto3.client("secretsmanager", region_name=HOME).create_secret(
        Name="CastAI-API", SecretString=json.dumps({"CastAIKey": KEY})
    )
    for region in REGIONS:
        boto3.client("eks", region_name=region).create_cluster(
            name=f"dev-{region}",
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
            resourcesVpcConfig={},
            tags={"ec2Powercycle": '{"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5"}'},
        )
        standin.add_cluster(f"dev-{region}", region=region)


def fan_out(*, targets: int, per_environment: int, max_age: int, config: Config) -> int:
    """The GetSecretValue calls of `targets` worker events in warm environments."""
    reads = Reads()
    for n in range(targets):
        if n % per_environment == 0:
            secrets.reset()  # a new warm environment: nothing kept
        app._HANDLED.clear()  # every event stands for another target
        ref = tg.TargetRef(ACCOUNT, REGIONS[n % len(REGIONS)])
        event = tg.worker_event(ref, now=NOW, dry_run=True)
        result = run_event(event, dataclasses.replace(config, secret_max_age_s=max_age), NOW)
        if result["errors"] or result["counts"] != {"planned": 1}:
            raise SystemExit(f"worker {n} did not plan its cluster: {result}")
    return reads.count


def dollars(calls_per_pass: int) -> float:
    return calls_per_pass * PASSES_PER_DAY * PRICE_PER_CALL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, nargs="+", default=[400, 1000, 2000])
    parser.add_argument("--per-environment", type=int, default=200)
    parser.add_argument(
        "--extrapolate", type=int, default=20_000, help="a row scaled from the largest run"
    )
    args = parser.parse_args()
    rows = []
    with mock_aws(), CastAIStandin(api_key=KEY) as standin:
        seed(standin)
        config = Config(
            regions=REGIONS,
            kinds=("eks",),
            castai_api_url=standin.url,
            retry_delay_s=0.0,
        )
        for targets in args.targets:
            environments = -(-targets // args.per_environment)
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                before = fan_out(
                    targets=targets,
                    per_environment=args.per_environment,
                    max_age=0,
                    config=config,
                )
                after = fan_out(
                    targets=targets,
                    per_environment=args.per_environment,
                    max_age=secrets.DEFAULT_MAX_AGE_S,
                    config=config,
                )
            seconds = time.perf_counter() - started
            rows.append((f"{targets:,}", environments, before, after, f"{seconds:.0f} s"))
    largest = max(args.targets)
    if args.extrapolate > largest:
        scale = args.extrapolate / largest
        before_big = round(rows[-1][2] * scale)
        environments = -(-args.extrapolate // args.per_environment)
        after_big = round(rows[-1][3] * scale)
        rows.append((f"{args.extrapolate:,}*", environments, before_big, after_big, "-"))
    head = (
        "targets",
        "environments",
        "reads before",
        "reads after",
        "$/day before",
        "$/day after",
        "time (both)",
    )
    table = [
        (t, str(e), f"{b:,}", f"{a:,}", f"{dollars(b):.2f}", f"{dollars(a):.3f}", s)
        for t, e, b, a, s in rows
    ]
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(len(head))]
    print("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    for row in table:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    print(
        f"reads per pass; $ at $0.05 per 10,000 GetSecretValue, {PASSES_PER_DAY} passes a day; "
        f"before: max age 0, after: {secrets.DEFAULT_MAX_AGE_S} s; "
        f"{args.per_environment} worker events per warm environment"
        + (f"; * scaled from {largest:,}" if args.extrapolate > largest else "")
    )


if __name__ == "__main__":
    main()
