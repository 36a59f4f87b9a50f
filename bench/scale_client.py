"""One scale-benchmark client run, in a process of its own (see bench/scale.py).

    scale_client.py MODE SCENARIO JSON-ARGS      MODE: bare | powercycle

Scenarios: `passes` (one or more regions, EC2 or EC2 + EKS, several passes in this process:
the first cold, the others warm), `accounts` (the same through assumed roles) and
`dispatch` (the orchestrator's asynchronous invocations). Prints JSON: per pass the CPU
seconds of this process (`time.process_time`, every thread), wall seconds, AWS calls by
operation and the resources acted on; and the process's peak RSS.
"""

from __future__ import annotations

import contextlib
import cProfile
import json
import logging
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
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
BOTO = botocore.config.Config(read_timeout=900, retries={"mode": "standard"})
STATE_TAG = "powercycle:state"
# Daily 08:00 start and 18:00 stop; pass k runs just after the k-th event from BASE.
BASE = datetime(2026, 11, 23, 18, 5, tzinfo=UTC)


def moment(run: int, k: int) -> tuple[datetime, str, str]:
    """(now, action, event tag value) of pass k of run `run` (each run a week later)."""
    now = BASE + timedelta(days=7 * run + k // 2, hours=14 * (k % 2))
    action = "stop" if k % 2 == 0 else "start"
    event = now.replace(minute=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    return now, action, f"{action}@{event}"


# --- the bare script: only the unavoidable calls ---------------------------------------------


class Bare:
    """One boto3 session, a client per (account, region, service) made once, kept."""

    def __init__(self, args: dict[str, Any]) -> None:
        import boto3

        self.args = args
        self.boto3 = boto3
        self.sessions: dict[str, Any] = {}
        self.clients: dict[tuple[str, str, str], Any] = {}
        own = boto3.session.Session()
        self.sessions[""] = own
        for role in args.get("roles", ()):
            creds = own.client("sts", config=BOTO).assume_role(
                RoleArn=role, RoleSessionName="bare"
            )["Credentials"]
            self.sessions[role] = boto3.session.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                botocore_session=None,
            )

    def client(self, who: str, service: str, region: str) -> Any:
        key = (who, region, service)
        if key not in self.clients:
            self.clients[key] = self.sessions[who].client(service, region_name=region, config=BOTO)
        return self.clients[key]

    def run(self, k: int, run: int) -> int:
        _, action, value = moment(run, k)
        want = "running" if action == "stop" else "stopped"
        acted = 0
        who_list = list(self.args.get("roles", ())) if self.args.get("roles") else [""]
        for who in who_list:
            for region in self.args["regions"]:
                ec2 = self.client(who, "ec2", region)
                ids = []
                for page in ec2.get_paginator("describe_instances").paginate(
                    Filters=[
                        {"Name": "tag-key", "Values": [self.args["tag"]]},
                        {
                            "Name": "instance-state-name",
                            "Values": ["pending", "running", "stopping", "stopped"],
                        },
                    ],
                    PaginationConfig={"PageSize": 1000},
                ):
                    for reservation in page["Reservations"]:
                        for instance in reservation["Instances"]:
                            if instance["State"]["Name"] == want:
                                ids.append(instance["InstanceId"])
                call = ec2.stop_instances if action == "stop" else ec2.start_instances
                for i in range(0, len(ids), 50):
                    call(InstanceIds=ids[i : i + 50])
                for i in range(0, len(ids), 1000):
                    ec2.create_tags(
                        Resources=ids[i : i + 1000], Tags=[{"Key": STATE_TAG, "Value": value}]
                    )
                acted += len(ids)
                if "eks" in self.args["kinds"]:
                    eks = self.client(who, "eks", region)
                    for page in eks.get_paginator("list_clusters").paginate():
                        assert not page["clusters"], "the bench holds no clusters"
        return acted


# --- powercycle, through its public entry points ----------------------------------------------


class Powercycle:
    def __init__(self, args: dict[str, Any]) -> None:
        from powercycle import aws
        from powercycle.config import Config

        aws._BOTO_CONFIG = aws._BOTO_CONFIG.merge(BOTO)
        # The JSON decision lines are part of the work; they go to /dev/null here.
        logging.getLogger("powercycle").addHandler(logging.FileHandler("/dev/null"))
        logging.getLogger("powercycle").setLevel(logging.INFO)
        logging.getLogger("powercycle").propagate = False
        env = {
            "POWERCYCLE_TAG": args["tag"],
            "POWERCYCLE_REGIONS": ",".join(args["regions"]),
            "POWERCYCLE_KINDS": ",".join(args["kinds"]),
            "AWS_REGION": args["regions"][0],
        }
        if args.get("roles"):
            env["POWERCYCLE_ACCOUNT_ROLES"] = ",".join(args["roles"])
            env["POWERCYCLE_SKIP_OWN_ACCOUNT"] = "true"
        self.config = Config.from_env(env)

    def run(self, k: int, run: int) -> int:
        from powercycle import engine

        now, _, _ = moment(run, k)
        if self.config.account_roles:
            summary = engine.run_pass(self.config, now, providers=self._target_providers())
        else:
            summary = engine.run_pass(self.config, now)
        return int(summary.counts["done"])

    def _target_providers(self) -> list[Any]:
        """Providers per (account, region) target. Until the engine builds them itself from
        `targets.resolve_targets`, they are built here the way the engine will."""
        import inspect

        from powercycle import aws
        from powercycle.aws import targets
        from powercycle.providers.ec2 import Ec2Provider

        found, errors = targets.resolve_targets(self.config)
        assert not errors, errors
        wired = "credentials" in inspect.signature(Ec2Provider).parameters
        providers: list[Any] = []
        for t in found:
            if wired:
                providers.append(
                    Ec2Provider(self.config, t.region, credentials=t.credentials, account=t.account)
                )
            else:
                ec2 = aws.client("ec2", t.region, credentials=t.credentials)
                providers.append(Ec2Provider(self.config, t.region, client=ec2))
        return providers


# --- the orchestrator's dispatch ---------------------------------------------------------------


def dispatch_bare(args: dict[str, Any], k: int) -> int:
    import boto3

    client = _BARE_LAMBDA.setdefault(
        "c", boto3.client("lambda", region_name="eu-west-1", config=BOTO)
    )
    for i in range(args["n"]):
        payload = {
            "target": {"account": f"{100000000000 + i:012d}", "region": "eu-west-1"},
            "now": "2026-11-23T18:05:00Z",
            "dryRun": False,
        }
        client.invoke(
            FunctionName=args["function"], InvocationType="Event", Payload=json.dumps(payload)
        )
    return int(args["n"])


_BARE_LAMBDA: dict[str, Any] = {}


def dispatch_powercycle(args: dict[str, Any], k: int) -> int:
    from powercycle.aws import targets
    from powercycle.aws.targets import Target

    found = [Target(f"{100000000000 + i:012d}", "eu-west-1", "") for i in range(args["n"])]
    result = targets.dispatch(found, now=BASE, dry_run=False, function_name=args["function"])
    assert not result["errors"], result["errors"][:3]
    return len(result["dispatched"])


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    mode, scenario, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    run_index = int(args.get("run", 0))
    if scenario == "dispatch":
        one: Callable[[int], int] = (
            (lambda k: dispatch_bare(args, k))
            if mode == "bare"
            else (lambda k: dispatch_powercycle(args, k))
        )
    else:
        client = Bare(args) if mode == "bare" else Powercycle(args)
        one = lambda k: client.run(k, run_index)  # noqa: E731
    passes = []
    profile_path = args.get("profile")
    for k in range(int(args.get("passes", 2))):
        CALLS.clear()
        profiler = cProfile.Profile() if profile_path and k == 1 else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        acted = one(k)
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile_path)
        passes.append(
            {
                "cpu_s": time.process_time() - cpu,
                "wall_s": time.perf_counter() - wall,
                "calls": dict(CALLS),
                "acted": acted,
            }
        )
    print(json.dumps({"passes": passes, "peak_mb": peak_mb()}))


def peak_mb() -> float:
    """This process's peak RSS: VmHWM (ru_maxrss on Linux keeps the parent's peak across
    fork and exec, which would charge the runner's own memory to the client)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
