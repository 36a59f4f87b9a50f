"""Hostile schedule servers: every one is left behind in bounded time, the rest resolve.

Each server is a raw socket on 127.0.0.1 with a thread per connection, so it can do what
no well-behaved framework would: drip its headers or a chunk-size line one byte every 2 s,
send gzip members that decode to nothing forever, a gzip bomb, or nothing at all. Most
tests use a short deadline (3 s) because their point is only "bounded"; one test uses the
real 15 s with every hostile server at once, and one goes through the real handler.
"""

from __future__ import annotations

import datetime
import functools
import gzip
import ipaddress
import json
import socket
import ssl
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from powercycle import handler, sources
from powercycle.config import Config
from powercycle.core.schedule import Schedule
from powercycle.runtime.budget import Budget, monotonic
from powercycle.sources import http
from tests.helpers import REGION, SEED, TAG, at, launch, state_of

OFFICE = {"start": "0 8 * * 1-5", "stop": "0 18 * * 1-5"}
SHORT = http.Limits(total_timeout=3.0, read_timeout=10.0)
# "Bounded" with slack for a loaded machine: the deadline, the backstop's second, and more.
SHORT_BOUND = 3.0 + 4.0
JSON_HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"

Behaviour = Callable[[socket.socket, "Hostile"], None]
Start = Callable[..., "Hostile"]  # hostile(behaviour, tls=None)


class Hostile:
    """A loopback server that answers every connection with `behaviour(conn, self)`."""

    def __init__(self, behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.tls = tls
        self.stop = threading.Event()
        self.sent = 0  # bytes of body sent, where a behaviour counts them
        self.listener = socket.create_server(("127.0.0.1", 0))
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.listener.getsockname()[1]}/schedule.json"
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn.settimeout(10)  # the handshake; then as blocking as a plain socket
                conn = self.tls.wrap_socket(conn, server_side=True)
                conn.settimeout(None)
            request = b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(4096)
                if not data:
                    return
                request += data
            self.behaviour(conn, self)
        except OSError:
            pass  # the client gave up on us: that is the point
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        for conn in self.conns:
            conn.close()


def drip(conn: socket.socket, server: Hostile, byte: bytes, every: float = 2.0) -> None:
    while not server.stop.wait(every):
        conn.sendall(byte)


def slow_headers(conn: socket.socket, server: Hostile) -> None:
    """The status line, then one byte of a header every 2 s, forever."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
    drip(conn, server, b"a")


def slow_chunk_size(conn: socket.socket, server: Hostile) -> None:
    """Headers of a chunked body, then a chunk-size line that never ends (a byte each 2 s)."""
    conn.sendall(JSON_HEADERS + b"Transfer-Encoding: chunked\r\n\r\n")
    drip(conn, server, b"0")


def hang(conn: socket.socket, server: Hostile) -> None:
    """Reads the request, answers nothing, keeps the connection open."""
    server.stop.wait(60)


def well_behaved(conn: socket.socket, server: Hostile) -> None:
    body = json.dumps({"office": OFFICE}).encode()
    head = f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
    conn.sendall(JSON_HEADERS + head + body)


def not_found(conn: socket.socket, server: Hostile) -> None:
    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


EMPTY_MEMBER = gzip.compress(b"")


def endless_empty_members(conn: socket.socket, server: Hostile) -> None:
    """A valid gzip member with a schedule, then empty members as fast as the socket takes."""
    conn.sendall(JSON_HEADERS + b"Content-Encoding: gzip\r\nConnection: close\r\n\r\n")
    conn.sendall(gzip.compress(json.dumps(OFFICE).encode()))
    block = EMPTY_MEMBER * 1000
    while not server.stop.is_set():
        conn.sendall(block)
        server.sent += len(block)


def slow_empty_members(conn: socket.socket, server: Hostile) -> None:
    """The same, one empty member every 0.2 s: small, valid, never finished."""
    conn.sendall(JSON_HEADERS + b"Content-Encoding: gzip\r\nConnection: close\r\n\r\n")
    conn.sendall(gzip.compress(json.dumps(OFFICE).encode()))
    drip(conn, server, EMPTY_MEMBER, every=0.2)


@functools.cache
def bomb() -> bytes:
    """About 64 KB of gzip that decodes to 64 MB of spaces (made without holding 64 MB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    megabyte = b" " * (1024 * 1024)
    return b"".join([*(packer.compress(megabyte) for _ in range(64)), packer.flush()])


def gzip_bomb(conn: socket.socket, server: Hostile) -> None:
    body = bomb()
    head = f"Content-Encoding: gzip\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    conn.sendall(JSON_HEADERS + head + body)
    server.stop.wait(30)


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def hostile() -> Iterator[Start]:
    started: list[Hostile] = []

    def start(behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> Hostile:
        server = Hostile(behaviour, tls)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1: (certificate file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "powercycle test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


@pytest.fixture
def tls(certificate: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def trusted(monkeypatch: pytest.MonkeyPatch, certificate: tuple[str, str]) -> None:
    """The client trusts the test certificate (instead of certifi's bundle)."""
    monkeypatch.setattr(http.certifi, "where", lambda: certificate[0])


@pytest.fixture
def good(httpserver: HTTPServer) -> str:
    """A well-behaved document server, used beside the hostile one."""
    httpserver.expect_request("/office.json").respond_with_json({"office": OFFICE})
    return httpserver.url_for("/office.json#office")


def trusting(*urls: str) -> Config:
    """Loopback is refused unless allowlisted, as an operator would list their own hosts."""
    return Config(url_allowlist=tuple(u.partition("#")[0] for u in urls))


def resolve(values: list[str], limits: http.Limits = SHORT) -> tuple[dict[str, Any], float]:
    config = trusting(*(v for v in values if v.startswith("http")))
    started = monotonic()
    resolved = sources.resolve_all(values, config, budget=Budget(600), limits=limits)
    return resolved, monotonic() - started


INLINE = json.dumps(OFFICE)


# --- one hostile server at a time, a short deadline -------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "cause"),
    [
        (slow_headers, "timed out after 3s waiting for the headers"),
        (slow_chunk_size, "timed out after 3s reading the body"),
        (slow_empty_members, "timed out after 3s reading the body"),
        (hang, "timed out after 3s waiting for the headers"),
        (not_found, "HTTP 404 Not Found"),
        (gzip_bomb, "too big: more than 262144 bytes once decoded"),
    ],
    ids=["slow-headers", "slow-chunk-size", "slow-gzip-members", "hang", "404", "gzip-bomb"],
)
def test_hostile_source_is_bounded_and_alone(
    hostile: Start, good: str, behaviour: Behaviour, cause: str
) -> None:
    """The hostile document is an error within its deadline; the others still resolve."""
    server = hostile(behaviour)

    resolved, elapsed = resolve([server.url, good, INLINE])

    assert resolved[server.url] == f"{server.url}: {cause}"
    assert isinstance(resolved[good], Schedule)
    assert isinstance(resolved[INLINE], Schedule)
    assert elapsed < SHORT_BOUND


def test_endless_empty_gzip_members_are_cut_off(hostile: Start, good: str) -> None:
    """A gzip stream that decodes to nothing is not read for long, nor accepted."""
    server = hostile(endless_empty_members)

    resolved, elapsed = resolve([server.url, good])

    assert resolved[server.url] == (
        f"{server.url}: too big: more than 524288 compressed bytes received"
    )
    assert isinstance(resolved[good], Schedule)
    assert elapsed < SHORT_BOUND
    assert server.sent < 20 * 1024 * 1024  # the client stopped reading: the server's sends block


def test_gzip_bomb_never_inflates(hostile: Start) -> None:
    """64 MB decoded from 64 KB sent: refused with a few hundred KB of memory at most."""
    server = hostile(gzip_bomb)
    tracemalloc.start()
    try:
        resolved, _ = resolve([server.url])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "too big: more than 262144 bytes once decoded" in resolved[server.url]
    assert peak < 4 * 1024 * 1024


def test_a_document_stuck_in_name_lookup_is_left_behind(
    monkeypatch: pytest.MonkeyPatch, good: str
) -> None:
    """getaddrinfo cannot be interrupted: the fetch waits for it only while it has time."""
    real = socket.getaddrinfo
    release = threading.Event()

    def stuck(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "stuck.example":
            release.wait(30)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    url = "https://stuck.example/s.json"
    try:
        resolved, elapsed = resolve([url, good])
    finally:
        release.set()
    assert resolved[url] == f"{url}: timed out after 3s connecting"
    assert isinstance(resolved[good], Schedule)
    assert elapsed < SHORT_BOUND


def test_the_pass_budget_bounds_the_window(hostile: Start) -> None:
    """With less than 15 s left in the pass, a document gets what is left, no more."""
    server = hostile(slow_headers)
    started = monotonic()
    resolved = sources.resolve_all([server.url], trusting(server.url), budget=Budget(2.0))
    assert resolved[server.url] == f"{server.url}: timed out after 2s waiting for the headers"
    assert monotonic() - started < 2.0 + 4.0


# --- the same over TLS (the production path: https, pinned, certificate checked) -------------


def test_https_document_is_fetched(hostile: Start, tls: ssl.SSLContext, trusted: None) -> None:
    """A trusted https server: the pinned connection verifies it and the schedule resolves."""
    server = hostile(well_behaved, tls)
    resolved, _ = resolve([f"{server.url}#office"])
    assert isinstance(resolved[f"{server.url}#office"], Schedule), resolved


def test_https_slow_headers_are_bounded(
    hostile: Start, tls: ssl.SSLContext, trusted: None, good: str
) -> None:
    """The watchdog ends a dripping server inside TLS as well."""
    server = hostile(slow_headers, tls)
    resolved, elapsed = resolve([server.url, good])
    assert resolved[server.url] == f"{server.url}: timed out after 3s waiting for the headers"
    assert isinstance(resolved[good], Schedule)
    assert elapsed < SHORT_BOUND


def test_https_untrusted_certificate_is_refused(hostile: Start, tls: ssl.SSLContext) -> None:
    """A certificate that does not verify is a TLS error, not a document."""
    server = hostile(well_behaved, tls)
    resolved, _ = resolve([server.url])
    assert resolved[server.url].startswith(f"{server.url}: TLS error: ")
    assert "CERTIFICATE_VERIFY_FAILED" in resolved[server.url]


# --- the contract: 15 s in all, every hostile server at once ----------------------------------


@pytest.mark.slow
def test_every_hostile_server_at_once_within_the_real_15s(hostile: Start, good: str) -> None:
    """Default limits: all hostile documents end within 15 s (+ slack); the others resolve."""
    servers = {
        name: hostile(behaviour)
        for name, behaviour in [
            ("slow-headers", slow_headers),
            ("slow-chunk-size", slow_chunk_size),
            ("slow-gzip-members", slow_empty_members),
            ("hang", hang),
            ("404", not_found),
            ("gzip-bomb", gzip_bomb),
        ]
    }
    values = [s.url for s in servers.values()] + [good, INLINE]

    resolved, elapsed = resolve(values, http.DEFAULT_LIMITS)

    errors = {name: resolved[s.url].removeprefix(f"{s.url}: ") for name, s in servers.items()}
    assert errors == {
        "slow-headers": "timed out after 15s waiting for the headers",
        "slow-chunk-size": "timed out after 15s reading the body",
        "slow-gzip-members": "timed out after 15s reading the body",
        "hang": "timed out: no answer within 5s",  # silence: the read timeout, before 15 s
        "404": "HTTP 404 Not Found",
        "gzip-bomb": "too big: more than 262144 bytes once decoded",
    }
    assert isinstance(resolved[good], Schedule) and isinstance(resolved[INLINE], Schedule)
    assert 14.0 < elapsed < 17.0


# --- through the real handler ----------------------------------------------------------------


@pytest.mark.slow
def test_a_hostile_url_does_not_stall_the_pass(
    ec2: Any, shared_client: Any, hostile: Start
) -> None:
    """One instance's URL drips its headers; the canary's inline schedule still acts, and the
    pass ends well inside a Lambda's time."""
    server = hostile(slow_headers)
    (victim,) = launch(ec2, {TAG: server.url, "Name": "hostile-url"})
    (canary,) = launch(ec2, {TAG: SEED, "Name": "canary"})
    config = Config(regions=(REGION,), kinds=("ec2",), url_allowlist=(server.url,))

    started = monotonic()
    result = handler.run_event({}, config, at("2026-11-23 18:00"))
    elapsed = monotonic() - started
    print(f"pass wall time with a hostile URL: {elapsed:.2f} s")

    assert elapsed < 25
    assert state_of(ec2, canary) == "stopped"  # 17:55 stop of SEED, on a Monday
    assert state_of(ec2, victim) == "running"
    errors = {e["id"]: e["error"] for e in result["errors"]}
    assert errors[victim].startswith(TAG)
    assert errors[victim].endswith(f"{server.url}: timed out after 15s waiting for the headers")
