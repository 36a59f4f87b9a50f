"""A CAST AI stand-in: the few API calls powercycle makes, served on loopback.

For the tests and the local demo: no network, no account. It implements list, get,
hibernate, resume and operation (see `castai.md`), checks `X-API-Key` (401 otherwise),
and moves clusters hibernating -> hibernated and resuming -> ready once they have been
read (listed or fetched) `settle_after_reads` more times (0: the next read shows the end
state). It counts requests per route and per path so tests can assert what a run cost.

Faults, each for the next `count` requests (of one route, or any): `fail_next` answers a
status (429 with `Retry-After`, 500, 401...), `redirect_next` a 307 to another server,
`drop_next` reads (and by default carries out) the request and closes the connection
without an answer, `hang_next` holds the request without an answer. `fail_operations`
makes the next operations end in an error (the cluster goes back to where it was);
`add_raw_item` puts any JSON value in the listing (malformed items).

    with CastAIStandin(api_key="k") as castai:
        cid = castai.add_cluster("dev", region="eu-west-1")
        ...  # point CASTAI_API_URL at castai.url
        assert castai.counts["list"] == 1
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import socket
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from powercycle.castai.client import CLUSTERS_PATH, KEY_HEADER

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
    # The error the running operation will end with (and the status it falls back to).
    failure: dict[str, str] | None = None
    before: str = "ready"

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
    status: int  # 0: no answer (dropped or held)
    api_key: str | None = None  # the X-API-Key header received, if any


@dataclass
class _Fault:
    status: int
    remaining: int
    route: str | None
    retry_after: int | None
    kind: str = "status"  # status | redirect | drop | hang
    location: str = ""
    seconds: float = 0.0
    process: bool = True


@dataclass
class _OperationFault:
    remaining: int
    reason: str
    details: str
    cluster_id: str | None


@dataclass
class _State:
    api_key: str
    settle_after_reads: int
    clusters: dict[str, StandinCluster] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[_Fault] = field(default_factory=list)
    operation_faults: list[_OperationFault] = field(default_factory=list)
    raw_items: list[Any] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    path_counts: Counter[str] = field(default_factory=Counter)
    stopping: threading.Event = field(default_factory=threading.Event)
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
        self._state.stopping.set()  # release held requests
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

    def redirect_next(
        self, count: int, location: str, *, status: int = 307, route: str | None = None
    ) -> None:
        """Answer `status` with `Location: <location><the request's path>`."""
        with self._state.lock:
            fault = _Fault(status, count, route, None, kind="redirect", location=location)
            self._state.faults.append(fault)

    def drop_next(self, count: int = 1, *, route: str | None = None, process: bool = True) -> None:
        """Read the request, carry it out (unless `process` is false), close without answer."""
        with self._state.lock:
            fault = _Fault(0, count, route, None, kind="drop", process=process)
            self._state.faults.append(fault)

    def hang_next(self, count: int, seconds: float, *, route: str | None = None) -> None:
        """Hold the request `seconds` (or until the stand-in stops), then close, no answer."""
        with self._state.lock:
            fault = _Fault(0, count, route, None, kind="hang", seconds=seconds)
            self._state.faults.append(fault)

    def fail_operations(
        self,
        count: int = 1,
        *,
        reason: str = "HibernationFailed",
        details: str = "",
        cluster_id: str | None = None,
    ) -> None:
        """The next `count` accepted operations (of one cluster, or any) end with this error."""
        with self._state.lock:
            fault = _OperationFault(count, reason, details, cluster_id)
            self._state.operation_faults.append(fault)

    def add_raw_item(self, item: Any) -> None:
        """Append any JSON value to the listing's items (a malformed cluster, say)."""
        with self._state.lock:
            self._state.raw_items.append(item)

    def operation(self, operation_id: str) -> dict[str, Any]:
        with self._state.lock:
            return dict(self._state.operations[operation_id])

    @property
    def path_counts(self) -> Counter[str]:
        """Requests received per path (method and path, e.g. `GET /v1/...`)."""
        with self._state.lock:
            return Counter(self._state.path_counts)

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
            self._state.path_counts.clear()
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
            fault = _take_fault(state, route)
            kind = fault.kind if fault else "status"
            if fault is not None and kind in ("status", "redirect"):
                status, answer, headers = _fault_answer(fault, path)
            elif kind == "hang" or (fault is not None and not fault.process):
                status, answer, headers = 0, {}, {}
            else:
                status, answer, headers = self._answer(state, route, cluster_id, body)
                if kind == "drop":
                    status = 0
            state.counts[route] += 1
            state.path_counts[f"{method} {path}"] += 1
            key = self.headers.get(KEY_HEADER)
            state.calls.append(Call(method, path, route, body, status, key))
        if kind == "hang" and fault is not None:
            state.stopping.wait(fault.seconds)
        if kind in ("hang", "drop"):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(status, answer, headers)

    def _answer(
        self, state: _State, route: str, cluster_id: str, body: Any
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if self.headers.get(KEY_HEADER) != state.api_key:
            return 401, {"message": "Unauthorized"}, {}
        if route == "unknown":
            return 404, {"message": f"no route {self.command} {self.path}"}, {}
        if route == "list":
            _read_all(state)
            items = [c.to_api() for c in state.clusters.values()]
            return 200, {"items": [*items, *state.raw_items]}, {}
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


def _take_fault(state: _State, route: str) -> _Fault | None:
    for fault in state.faults:
        if fault.remaining > 0 and fault.route in (None, route):
            fault.remaining -= 1
            return fault
    return None


def _fault_answer(fault: _Fault, path: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    if fault.kind == "redirect":
        return fault.status, {"message": "moved"}, {"Location": fault.location + path}
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
    return fault.status, {"message": f"stand-in fault {fault.status}"}, headers


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _begin(state: _State, cluster: StandinCluster, status: str, mode: str) -> dict[str, Any]:
    operation = uuid.uuid4().hex
    failing = next(
        (
            f
            for f in state.operation_faults
            if f.remaining > 0 and f.cluster_id in (None, cluster.id)
        ),
        None,
    )
    if failing is not None:
        failing.remaining -= 1
        cluster.failure = {"reason": failing.reason, "details": failing.details}
        cluster.before = cluster.status
    else:
        cluster.failure = None
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
            end = cluster.before if cluster.failure else _SETTLED[cluster.status]
            cluster.status, cluster.settle_in = end, None
            if cluster.operation in state.operations:
                state.operations[cluster.operation].update(
                    done=True, finishedAt=_now(), error=cluster.failure
                )
            cluster.failure = None
        else:
            cluster.settle_in -= 1
