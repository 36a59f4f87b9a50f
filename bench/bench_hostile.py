"""Worst-case pass time with a hostile URL, a hostile CAST AI and a hostile document at once.

One pass through the real handler on an in-process moto, with:

- a URL whose server drips its headers one byte every 2 s, forever;
- a URL serving the worst valid document (50 crons, 500 skip dates, firing only on
  skipped days for years);
- a CAST AI stand-in that answers 429 `Retry-After: 600` to the first hibernate and holds
  the second for 60 s without answering (three clusters hibernate concurrently, so which
  cluster meets which fault varies from run to run);
- canaries (an inline EC2 schedule, the third cluster) that must still be acted on.

It prints the pass's wall time (median of `--runs`) and what each resource got.

    .venv/bin/python bench/bench_hostile.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SEED = '{ "start": "0 8 * * 1-5", "stop": "55 17 * * 1-5" }'
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)  # Monday: the 17:55 stop is due
REGION = "eu-west-1"
KEY = "bench-key-not-a-secret"


def worst_document() -> bytes:
    adjacent = [(date(2025, 7, 12) + timedelta(days=i)).isoformat() for i in range(500)]
    crons = [f"{m} {h} * * *" for m in (0, 30) for h in range(24)][:49]
    crons.append("0 12 1 * *")
    return json.dumps({"start": crons[:25], "stop": crons[25:], "skip": adjacent}).encode()


class Dripper:
    """Answers every connection with a status line, then one header byte every 2 s."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/schedule.json"
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
            while not self.stop.wait(2.0):
                conn.sendall(b"a")
        except OSError:
            pass
        finally:
            conn.close()


def serve_document(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def one_pass() -> tuple[float, dict[str, Any]]:
    import boto3
    from moto import mock_aws

    from powercycle import aws
    from powercycle.config import Config
    from powercycle.handler import run_event
    from powercycle.local.castai_standin import CastAIStandin
    from powercycle.runtime.budget import Budget

    aws.reset()
    dripper = Dripper()
    document = serve_document(worst_document())
    doc_url = f"http://127.0.0.1:{document.server_address[1]}/worst.json"
    with mock_aws(), CastAIStandin(api_key=KEY) as castai:
        ec2 = boto3.client("ec2", region_name=REGION)
        image = ec2.register_image(Name="bench", RootDeviceName="/dev/sda1")["ImageId"]

        def launch(name: str, value: str) -> None:
            ec2.run_instances(
                ImageId=image,
                MinCount=1,
                MaxCount=1,
                TagSpecifications=[
                    {
                        "ResourceType": "instance",
                        "Tags": [
                            {"Key": "ec2Powercycle", "Value": value},
                            {"Key": "Name", "Value": name},
                        ],
                    }
                ],
            )

        launch("drip-url", dripper.url)
        launch("worst-document", doc_url)
        launch("canary", SEED)
        eks = boto3.client("eks", region_name=REGION)
        for name in ("eks-a", "eks-b", "eks-c"):
            eks.create_cluster(
                name=name,
                roleArn="arn:aws:iam::123456789012:role/eks",
                resourcesVpcConfig={},
                tags={"ec2Powercycle": SEED},
            )
            castai.add_cluster(name, region=REGION)
        castai.fail_next(1, 429, route="hibernate", retry_after=600)
        castai.hang_next(1, 60.0, route="hibernate")

        config = Config(
            regions=(REGION,),
            castai_api_url=castai.url,
            castai_api_key=KEY,
            url_allowlist=(dripper.url.rsplit("/", 1)[0], doc_url.rsplit("/", 1)[0]),
        )
        started = time.perf_counter()
        # A Lambda with the template's 5-minute timeout: 300 s less the 20 s margin.
        summary = run_event({}, config, NOW, budget=Budget(280.0, reserve=10.0))
        took = time.perf_counter() - started
    dripper.stop.set()
    dripper.listener.close()
    document.shutdown()
    return took, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    import logging

    logging.basicConfig(level=logging.ERROR)
    times = []
    summary: dict[str, Any] = {}
    for _ in range(args.runs):
        took, summary = one_pass()
        times.append(took)
        print(f"pass: {took:.2f} s", flush=True)
    print(f"median pass with every hostile input at once: {statistics.median(times):.2f} s")
    print("counts:", json.dumps(summary["counts"]))
    for entry in summary["actions"]:
        print(f"  action {entry['id']:<22} {entry['action']:<5} {entry['result']}")
    for entry in summary["errors"]:
        print(f"  error  {entry['id']:<22} {entry['error'][:110]}")


if __name__ == "__main__":
    main()
