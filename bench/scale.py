"""Scale benchmark: powercycle beside a bare boto3 script, in the same run.

    .venv/bin/python bench/scale.py                       # every scenario, 3 runs each
    .venv/bin/python bench/scale.py --scenarios a d --runs 5
    .venv/bin/python bench/scale.py --scenarios a --profile /tmp/warm.prof

Scenarios (each client in fresh processes of its own, against its own moto server on
127.0.0.1, `fleet_server.py`):

* a: one region, 2,000 tagged instances; several passes in one process (stop, start,
  stop...): the first cold, the others warm, as warm Lambda invocations are.
* b: 16 regions, EC2 + EKS, empty, then with 200 tagged instances per region.
* c: 3 accounts through assumed roles (moto maps each role's keys to its account), 100
  instances each.
* d: the orchestrator dispatching 100 targets: asynchronous Invoke calls, recorded by a
  loopback stand-in of the Lambda API.

Figures: CPU seconds of the pass (`time.process_time` of the client process, every thread),
the median over the warm passes of each run, then the median over the runs; the ratio
powercycle / bare; the client process's peak RSS. The bare script makes one client per
(account, region, service), keeps it across passes, and makes only the calls the work
needs: filtered DescribeInstances pages, Start/StopInstances per 50, CreateTags per 1000,
ListClusters per region, one Invoke per target.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import boto3

from bench import moto_server  # bench/bench.py: this directory is sys.path[0]

ROOT = Path(__file__).resolve().parent.parent
SCHEDULE = '{"start": "0 8 * * *", "stop": "0 18 * * *"}'
REGIONS16 = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1",
    "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1",
    "ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "sa-east-1",
]  # fmt: skip
ROLES = [f"arn:aws:iam::{n}:role/powercycle-member" for n in
         ("111111111111", "222222222222", "333333333333")]  # fmt: skip
FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:powercycle:LIVE"
CREDS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}


def seed(endpoint: str, tag: str, regions: list[str], per_region: int, roles: list[str]) -> None:
    """`per_region` running instances carrying `tag`, one per reservation, in each region
    (of each role's account when roles are given)."""
    sessions = [boto3.session.Session(**CREDS)]
    if roles:
        sts = sessions[0].client("sts", region_name=regions[0], endpoint_url=endpoint)
        sessions = []
        for role in roles:
            c = sts.assume_role(RoleArn=role, RoleSessionName="seed")["Credentials"]
            sessions.append(
                boto3.session.Session(
                    aws_access_key_id=c["AccessKeyId"],
                    aws_secret_access_key=c["SecretAccessKey"],
                    aws_session_token=c["SessionToken"],
                )
            )
    for session in sessions:
        for region in regions:
            ec2 = session.client("ec2", region_name=region, endpoint_url=endpoint)
            for _ in range(per_region):  # one at a time: moto is not safe for concurrent launches
                ec2.run_instances(
                    ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                    TagSpecifications=[
                        {"ResourceType": "instance", "Tags": [{"Key": tag, "Value": SCHEDULE}]}
                    ],
                )  # fmt: skip


def client(mode: str, scenario: str, endpoint: str, args: dict[str, Any],
           extra_env: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": args.get("regions", ["eu-west-1"])[0],
        "AWS_DEFAULT_REGION": args.get("regions", ["eu-west-1"])[0],
        "PYTHONPATH": str(ROOT),
        **(extra_env or {}),
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale_client.py"), mode, scenario,
         json.dumps(args)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{mode} {scenario} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


class Recorder(BaseHTTPRequestHandler):
    """The Lambda API's Invoke, as far as an asynchronous invocation needs: 202, recorded."""

    seen: ClassVar[list[tuple[str, str, bytes]]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with Recorder.lock:
            Recorder.seen.append((self.path, self.headers.get("X-Amz-Invocation-Type", ""), body))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@contextlib.contextmanager
def recorder() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over runs: cold pass CPU, warm pass CPU (each run's median warm pass)."""
    warm = [statistics.median(p["cpu_s"] for p in r["passes"][1:]) for r in results]
    return {
        "cold_cpu": statistics.median(r["passes"][0]["cpu_s"] for r in results),
        "warm_cpu": statistics.median(warm),
        "warm_wall": statistics.median(
            statistics.median(p["wall_s"] for p in r["passes"][1:]) for r in results
        ),
        "peak_mb": statistics.median(r["peak_mb"] for r in results),
        "calls": results[0]["passes"][1]["calls"],
        "acted": [p["acted"] for p in results[0]["passes"]],
        "runs": len(results),
    }


def passes_scenario(name: str, regions: list[str], kinds: list[str], per_region: int,
                    runs: int, passes: int, roles: list[str] | None = None,
                    profile: str | None = None) -> list[tuple[str, dict[str, Any]]]:  # fmt: skip
    out = []
    for mode, tag in (("bare", "benchBare"), ("powercycle", "ec2Powercycle")):
        # One server per client: moto filters every instance it holds, and that server
        # cost would otherwise depend on the other client's fleet.
        with moto_server() as endpoint:
            seed(endpoint, tag, regions, per_region, roles or [])
            results = []
            for run in range(runs):
                args = {"tag": tag, "regions": regions, "kinds": kinds, "passes": passes,
                        "run": run, "roles": roles or []}  # fmt: skip
                if profile and mode == "powercycle" and run == 0:
                    args["profile"] = profile
                result = client(mode, "passes", endpoint, args)
                expected = per_region * len(regions) * max(1, len(roles or []))
                assert all(p["acted"] == expected for p in result["passes"]), (
                    mode, [p["acted"] for p in result["passes"]], expected)  # fmt: skip
                results.append(result)
        out.append((mode, summarise(results)))
    return [(name, {"bare": out[0][1], "powercycle": out[1][1]})]


def dispatch_scenario(runs: int, passes: int, n: int = 100) -> list[tuple[str, dict[str, Any]]]:
    out = {}
    with moto_server() as endpoint, recorder() as lam:
        for mode in ("bare", "powercycle"):
            results = []
            for _ in range(runs):
                Recorder.seen.clear()
                result = client(mode, "dispatch", endpoint,
                                {"n": n, "function": FUNCTION, "passes": passes},
                                {"AWS_ENDPOINT_URL_LAMBDA": lam})  # fmt: skip
                seen = list(Recorder.seen)
                assert len(seen) == n * passes, (mode, len(seen))
                assert {kind for _, kind, _ in seen} == {"Event"}
                targets = [json.loads(body)["target"]["account"] for _, _, body in seen]
                assert len(set(targets)) == n and all(targets.count(t) == passes for t in targets)
                results.append(result)
            summary = summarise(results)
            summary["recorded"] = f"{n} targets x {passes} passes, each target once per pass"
            summary["payload_max_bytes"] = max(len(body) for _, _, body in seen)
            out[mode] = summary
    return [("d: dispatch 100 targets", out)]


def report(rows: list[tuple[str, dict[str, Any]]]) -> None:
    print(f"python {sys.version.split()[0]}; CPU = client process time of one pass "
          "(median of warm passes, then of runs)")  # fmt: skip
    print(f"{'scenario':<34} {'client':<10} {'cold CPU':>8} {'warm CPU':>8} {'ratio':>6} "
          f"{'warm wall':>9} {'peak MB':>7}  calls per warm pass")  # fmt: skip
    for name, pair in rows:
        bare = pair["bare"]
        for mode in ("bare", "powercycle"):
            r = pair[mode]
            calls = ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items()))
            ratio = r["warm_cpu"] / bare["warm_cpu"] if bare["warm_cpu"] else float("nan")
            figures = f"{r['cold_cpu']:>8.3f} {r['warm_cpu']:>8.3f} {ratio:>5.2f}x"
            print(
                f"{name:<34} {mode:<10} {figures} {r['warm_wall']:>9.3f} "
                f"{r['peak_mb']:>7.1f}  {calls}"
            )
        extra = {
            k: v for k, v in pair["powercycle"].items() if k in ("recorded", "payload_max_bytes")
        }
        if extra:
            print(f"{'':<34} {json.dumps(extra)}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", default=["a", "b", "c", "d"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--passes", type=int, default=4, help="per process: 1 cold + N-1 warm")
    parser.add_argument("--instances", type=int, default=2000, help="scenario a's fleet")
    parser.add_argument(
        "--profile", help="cProfile the first warm powercycle pass of a into this file"
    )
    args = parser.parse_args()
    rows: list[tuple[str, dict[str, Any]]] = []
    if "a" in args.scenarios:
        rows += passes_scenario(f"a: 1 region, {args.instances} inst, EC2", ["eu-west-1"],
                                ["ec2"], args.instances, args.runs, args.passes,
                                profile=args.profile)  # fmt: skip
        report(rows[-1:])
    if "b" in args.scenarios:
        for per in (0, 200):
            rows += passes_scenario(f"b: 16 regions x {per} inst, EC2+EKS", REGIONS16,
                                    ["ec2", "eks"], per, args.runs, args.passes)  # fmt: skip
            report(rows[-1:])
    if "c" in args.scenarios:
        rows += passes_scenario("c: 3 accounts (roles) x 100 inst", ["eu-west-1"], ["ec2"],
                                100, args.runs, args.passes, roles=ROLES)  # fmt: skip
        report(rows[-1:])
    if "d" in args.scenarios:
        rows += dispatch_scenario(args.runs, args.passes)
        report(rows[-1:])
    print("\n== all ==")
    report(rows)


if __name__ == "__main__":
    main()
