"""A moto server that answers repeated reads from a cache until the next write.

moto renders every DescribeInstances answer afresh, instance by instance (about 10 ms
each on a small machine); the simulated week asks the same questions every 15 simulated
minutes while the answers change only when something is written. A read is a GET, or a
query-protocol POST whose `Action` starts with Describe, List or Get; its answer is kept
under (method, path, query, body) and served again until any other request arrives, which
empties the cache. Answers are those moto gave: only repeated work is saved.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from io import BytesIO
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

_READS = ("Describe", "List", "Get")

StartResponse = Callable[..., Any]
Answer = tuple[str, list[tuple[str, str]], bytes]


class ReadCache:
    """WSGI middleware: cached reads, any write empties the cache."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self._app = app
        self._answers: dict[tuple[str, str, str, bytes], Answer] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = BytesIO(body)
        method = environ.get("REQUEST_METHOD", "GET")
        key = (method, environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""), body)
        read = method == "GET" or _action(body).startswith(_READS)
        with self._lock:
            if not read:
                self._answers.clear()
            elif key in self._answers:
                self.hits += 1
                status, headers, data = self._answers[key]
                start_response(status, headers)
                return [data]
        self.misses += read
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            captured["status"], captured["headers"] = status, headers
            return start_response(status, headers, *exc)

        data = b"".join(self._app(environ, capture))
        if read and str(captured.get("status", "")).startswith("200"):
            with self._lock:
                self._answers[key] = (captured["status"], captured["headers"], data)
        return [data]


def _action(body: bytes) -> str:
    if not body or b"Action=" not in body:
        return ""
    values = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])
    return values[0]


class CachingMotoServer(ThreadedMotoServer):
    """`ThreadedMotoServer` with `ReadCache` in front of moto's application."""

    cache: ReadCache | None = None

    def _server_entry(self) -> None:
        self.cache = ReadCache(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address,
            self._port,
            self.cache,
            True,
            request_handler=MotoRequestHandler,
        )
        self._server_ready_event.set()
        self._server.serve_forever()
