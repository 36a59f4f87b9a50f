"""A CAST AI stand-in: the few API calls powercycle makes, served on loopback.

For the tests and the local demo: no network, no account. It implements list, get,
hibernate, resume and operation (see `castai.md`), checks `X-API-Key` (401 otherwise),
and moves clusters hibernating -> hibernated and resuming -> ready once they have been
read (listed or fetched) `settle_after_reads` more times (0: the next read shows the end
state). It can be told to answer the next requests with 429 (and `Retry-After`), 500 or
401, and it counts requests per route so tests can assert what a run cost.

    with CastAIStandin(api_key="k") as castai:
        cid = castai.add_cluster("dev", region="eu-west-1")
        ...  # point CASTAI_API_URL at castai.url
        assert castai.counts["list"] == 1
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from ..castai import CLUSTERS_PATH, KEY_HEADER

DEFAULT_ACCOUNT = "123456789012"
_SETTLED = {"hibernating": "hibernated", "resuming": "ready"}
_ROUTES = [
    ("GET", re.compile(rf"^{CLUSTERS_PATH}/operations/(?P<id>[^/]+)$"), "operation"),
    ("GET", re.compile(rf"^{CLUSTERS_PATH}$"), "list"),
    ("GET", re.compile(rf"^{CLUSTERS_PATH}/(?P<id>[^/]+)$"), "get"),
    ("POST", re.compile(rf"^{CLUSTERS_PATH}/(?P<id>[^/]+)/hibernate$"), "hibernate"),
    ("POST", re.compile(rf"^{CLUSTERS_PATH}/(?P<id>[^/]+)/resume$"), "resume"),
]


@dataclass
class StandinCluster:
    id: str
    name: str
    status: str
    cluster_name: str
    region: str
    account_id: str
    provider_type: str = "eks"
    # Reads left before a transitional status settles; None: not moving.
    settle_in: int | None = None
    operation: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "providerType": self.provider_type,
            "providerNamespaceId": self.account_id,
            "region": {"name": self.region},
            "eks": {
                "clusterName": self.cluster_name,
                "region": self.region,
                "accountId": self.account_id,
            },
        }


@dataclass
class Call:
    method: str
    path: str
    route: str
    body: Any
    status: int


@dataclass
class _Fault:
    status: int
    remaining: int
    route: str | None
    retry_after: int | None


@dataclass
class _State:
    api_key: str
    settle_after_reads: int
    clusters: dict[str, StandinCluster] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[_Fault] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class CastAIStandin:
    """The stand-in server; a context manager that starts and stops it."""

    def __init__(self, api_key: str, *, settle_after_reads: int = 0) -> None:
        self._state = _State(api_key=api_key, settle_after_reads=settle_after_reads)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> CastAIStandin:
        state = self._state

        class Handler(_Handler):
            standin = state

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll
            name="castai-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> CastAIStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the CAST AI stand-in is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- arranging ---------------------------------------------------------------------

    def add_cluster(
        self,
        name: str,
        *,
        region: str,
        cluster_name: str | None = None,
        account_id: str = DEFAULT_ACCOUNT,
        status: str = "ready",
        provider_type: str = "eks",
        cluster_id: str | None = None,
    ) -> str:
        """Register a cluster (its EKS name defaults to `name`); returns its CAST AI id."""
        cid = cluster_id or str(uuid.UUID(int=next(self._ids)))
        with self._state.lock:
            self._state.clusters[cid] = StandinCluster(
                id=cid,
                name=name,
                status=status,
                cluster_name=cluster_name or name,
                region=region,
                account_id=account_id,
                provider_type=provider_type,
            )
        return cid

    def status(self, cluster_id: str) -> str:
        with self._state.lock:
            return self._state.clusters[cluster_id].status

    def set_status(self, cluster_id: str, status: str) -> None:
        with self._state.lock:
            cluster = self._state.clusters[cluster_id]
            cluster.status, cluster.settle_in = status, None

    def fail_next(
        self, count: int, status: int, *, route: str | None = None, retry_after: int | None = None
    ) -> None:
        """Answer the next `count` requests (of `route`, or any) with `status`."""
        with self._state.lock:
            self._state.faults.append(_Fault(status, count, route, retry_after))

    @property
    def counts(self) -> Counter[str]:
        """Requests received per route (list, get, hibernate, resume, operation, unknown)."""
        with self._state.lock:
            return Counter(self._state.counts)

    @property
    def calls(self) -> list[Call]:
        with self._state.lock:
            return list(self._state.calls)

    def reset_counts(self) -> None:
        with self._state.lock:
            self._state.counts.clear()
            self._state.calls.clear()


class _Handler(BaseHTTPRequestHandler):
    standin: _State
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one small answer, no 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests and the demo print what matters themselves."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        path = self.path.split("?", 1)[0].rstrip("/")
        route, cluster_id = "unknown", ""
        for route_method, pattern, name in _ROUTES:
            match = pattern.match(path)
            if match and method == route_method:
                route, cluster_id = name, match.groupdict().get("id", "")
                break
        state = self.standin
        with state.lock:
            status, answer, headers = self._answer(state, route, cluster_id, body)
            state.counts[route] += 1
            state.calls.append(Call(method, path, route, body, status))
        self._send(status, answer, headers)

    def _answer(
        self, state: _State, route: str, cluster_id: str, body: Any
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        for fault in state.faults:
            if fault.remaining > 0 and fault.route in (None, route):
                fault.remaining -= 1
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
                return fault.status, {"message": f"stand-in fault {fault.status}"}, headers
        if self.headers.get(KEY_HEADER) != state.api_key:
            return 401, {"message": "Unauthorized"}, {}
        if route == "unknown":
            return 404, {"message": f"no route {self.command} {self.path}"}, {}
        if route == "list":
            _read_all(state)
            return 200, {"items": [c.to_api() for c in state.clusters.values()]}, {}
        if route == "operation":
            operation = state.operations.get(cluster_id)
            if operation is None:
                return 404, {"message": "operation not found"}, {}
            return 200, operation, {}
        cluster = state.clusters.get(cluster_id)
        if cluster is None:
            return 404, {"message": f"cluster {cluster_id} not found"}, {}
        if route == "get":
            _read_all(state)
            return 200, cluster.to_api(), {}
        if route == "hibernate":
            if cluster.status not in ("ready", "warning"):
                message = f"cannot hibernate a cluster in status {cluster.status}"
                return 400, {"message": message}, {}
            return 200, _begin(state, cluster, "hibernating", "hibernate"), {}
        # resume
        instance_type = body.get("instanceType") if isinstance(body, dict) else None
        if not instance_type:
            return (
                400,
                {
                    "message": "invalid request",
                    "fieldViolations": [
                        {"field": "instanceType", "description": "instanceType is required"}
                    ],
                },
                {},
            )
        if cluster.status != "hibernated":
            return 400, {"message": f"cannot resume a cluster in status {cluster.status}"}, {}
        return 200, _begin(state, cluster, "resuming", "resume"), {}

    def _send(self, status: int, answer: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _begin(state: _State, cluster: StandinCluster, status: str, mode: str) -> dict[str, Any]:
    operation = uuid.uuid4().hex
    cluster.status, cluster.operation = status, operation
    cluster.settle_in = state.settle_after_reads
    state.operations[operation] = {
        "id": operation,
        "done": False,
        "createdAt": _now(),
        "finishedAt": None,
        "error": None,
    }
    return {"clusterId": cluster.id, "mode": mode, "operationId": operation}


def _read_all(state: _State) -> None:
    """A read moves every moving cluster one step closer to its end state."""
    for cluster in state.clusters.values():
        if cluster.settle_in is None or cluster.status not in _SETTLED:
            continue
        if cluster.settle_in <= 0:
            cluster.status, cluster.settle_in = _SETTLED[cluster.status], None
            if cluster.operation in state.operations:
                state.operations[cluster.operation].update(done=True, finishedAt=_now())
        else:
            cluster.settle_in -= 1
