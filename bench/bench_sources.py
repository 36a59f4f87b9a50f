"""GETs per pass for 1,000 instances sharing 10 schedule URLs (the floor is 10).

Builds the fleet in moto (in-process `mock_aws`), serves 10 schedule documents from a
loopback HTTP server that counts every GET (and answers each after a delay, so that the
time to resolve shows whether the fetches ran in parallel), runs `engine.run_pass` a few
times and prints what the server saw.

    .venv/bin/python bench/bench_sources.py [--instances 1000] [--urls 10] [--delay 0.2]
        [--hostile 0]

`--hostile N` adds N instances whose URLs drip their headers one byte every 2 s (a server
that per-read timeouts alone never end): those resolve to a timeout error after the 15 s
window, every other instance is decided as usual, and the pass time shows the bound.

Exit status 1 when a pass makes more GETs than there are distinct URLs, or when anything
but the hostile instances reports an error.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REGION = "eu-west-1"
DOCUMENT = {
    "office": {"start": "0 8 * * 1-5", "stop": "0 18 * * 1-5", "tz": "Europe/London"},
    "nightly": {"start": "0 6 * * *", "stop": "0 22 * * *"},
}
# Monday 2026-11-23 19:00 UTC.
NOW = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)


class Counting(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.delay = delay
        self.gets: Counter[str] = Counter()
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server: Counting

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.gets[self.path] += 1
        time.sleep(self.server.delay)
        body = json.dumps(DOCUMENT).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Dripping(BaseHTTPRequestHandler):
    """A status line, then one byte of a header every 2 s until the client gives up."""

    def do_GET(self) -> None:
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
            self.wfile.flush()
            for _ in range(300):
                time.sleep(2)
                self.wfile.write(b"a")
                self.wfile.flush()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--urls", type=int, default=10)
    parser.add_argument("--delay", type=float, default=0.2, help="server delay per GET (s)")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--hostile", type=int, default=0, help="instances on a dripping URL")
    args = parser.parse_args()

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)

    import boto3
    from moto import mock_aws

    from powercycle import engine, sources
    from powercycle.config import Config

    server = Counting(args.delay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    dripper = ThreadingHTTPServer(("127.0.0.1", 0), Dripping)
    dripper.daemon_threads = True
    threading.Thread(target=dripper.serve_forever, daemon=True).start()
    hostile = f"http://127.0.0.1:{dripper.server_address[1]}/drip.json"
    urls = [f"{base}team-{n:02}.json" for n in range(args.urls)]
    # Instances spread over the URLs, half on each named entry: still one GET per URL.
    values = [
        f"{urls[i % args.urls]}#{'office' if (i // args.urls) % 2 else 'nightly'}"
        for i in range(args.instances)
    ]

    # The pass resolves through a `sources.Resolution`: from its start to the last value
    # it answers.
    resolve_times: list[float] = []
    real_resolution = sources.Resolution

    class Timed(real_resolution):  # type: ignore[misc, valid-type]
        def __init__(self, *a: Any, **kw: Any) -> None:
            self.started = time.perf_counter()
            resolve_times.append(0.0)
            super().__init__(*a, **kw)

        def get(self, *a: Any, **kw: Any) -> Any:
            try:
                return super().get(*a, **kw)
            finally:
                resolve_times[-1] = max(resolve_times[-1], time.perf_counter() - self.started)

    sources.Resolution = Timed  # type: ignore[misc]
    failed = False
    try:
        with mock_aws():
            ec2 = boto3.client("ec2", region_name=REGION)
            # One run_instances call per URL and entry keeps moto fast.
            groups: Counter[str] = Counter(values + [hostile] * args.hostile)
            for value, count in groups.items():
                ec2.run_instances(
                    ImageId="ami-12c6146b",
                    MinCount=count,
                    MaxCount=count,
                    InstanceType="t3.micro",
                    TagSpecifications=[
                        {
                            "ResourceType": "instance",
                            "Tags": [{"Key": "ec2Powercycle", "Value": value}],
                        }
                    ],
                )
            config = Config(
                regions=(REGION,), kinds=("ec2",), url_allowlist=(base, hostile), dry_run=True
            )
            print(
                f"fleet: {args.instances} instances, {len(groups)} distinct tag values, "
                f"{args.urls} distinct URLs; server delay {args.delay * 1000:.0f} ms per GET; "
                f"{args.hostile} instances on a dripping URL"
            )
            for n in range(1, args.passes + 1):
                before = sum(server.gets.values())
                started = time.perf_counter()
                summary = engine.run_pass(config, NOW).to_dict()
                elapsed = time.perf_counter() - started
                made = sum(server.gets.values()) - before
                errors = summary["errors"]
                expected = [e for e in errors if "drip.json: timed out after" in e["error"]]
                failed |= made > args.urls or len(errors) != len(expected)
                failed |= len(expected) != args.hostile
                print(
                    f"pass {n}: scanned {summary['scanned']}, GETs {made} (floor {args.urls}), "
                    f"errors {len(errors)} ({len(expected)} hostile), "
                    f"resolve {resolve_times[-1]:.2f} s "
                    f"(sequential >= {args.urls * args.delay:.2f} s), pass {elapsed:.2f} s"
                )
            print(f"GETs per URL over {args.passes} passes: {sorted(set(server.gets.values()))}")
    finally:
        sources.Resolution = real_resolution  # type: ignore[misc]
        server.shutdown()
        dripper.shutdown()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
