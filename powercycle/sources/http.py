"""The guarded HTTP client that fetches schedule documents: `get(url, ...)`.

A tag value is written by whoever may tag an instance and the Lambda runs inside the
account's network, so a URL is untrusted input. What may be reached is `netguard`'s
rule (https only or the allowlist; no loopback, link-local, private, site-local...
address without the allowlist); here it is enforced where the socket is opened: the host
name is resolved once, every address is checked, and the connection goes to a checked
address (pinned): no second lookup for a DNS-rebinding server to answer differently, no
connection to a refused address. TLS still verifies the certificate against the host
name. Redirects are followed by hand, at most `Limits.max_redirects` hops, each checked by
the same rules; proxies and `.netrc` from the environment are not used. Messages show
URLs redacted.

Time. A document has `Limits.total_timeout` (15 s) in all, whatever the server does: name
lookup, connect, TLS, headers, body, decoding, every redirect hop. A timeout per socket
operation cannot promise that alone: a server that sends a byte of its headers (or of a
chunk-size line) every 2 s answers every recv in time while http.client reads on. So:

* a watchdog per fetch (a timer thread) shuts the connection down when the time is up:
  `shutdown(2)` on a duplicate of the socket's descriptor wakes a recv blocked anywhere
  (TLS or not, headers, chunk line, body) without racing the reader for the socket
  object. A body that ends because the watchdog fired is an error, never a document;
* each socket operation's timeout is the read timeout, or the time left if less, set again
  before each step, so a silent server gets a precise message early;
* the name lookup (getaddrinfo cannot be interrupted) runs in a helper thread waited for
  only as long as there is time left;
* and `sources.resolve_all` waits for each fetch only for the time left: a backstop that
  depends on none of the above.

Clocks. Deadlines are `Budget`s (`budget.monotonic()`); the timer and thread waits are
lock timeouts on the real clock. Nothing here reads `time.monotonic`, which freezegun
freezes (urllib3's `Timeout(total=...)`, which does, is not used): a fetch under
`freeze_time` behaves like a real one.

Size. At most `Limits.max_bytes` (256 KB) of body, counted after decoding, as it arrives:
gzip and deflate are undone (`sources.decoding`) with zlib's `max_length`, so at most
the limit plus one byte is ever decoded, and reading stops as soon as the limit is passed
(a gzip bomb costs a few KB). Bytes received are capped at twice the limit (a stream of
endless empty gzip members decodes to nothing but is not read forever).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import math
import socket
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import certifi
from urllib3.exceptions import HTTPError, ReadTimeoutError
from urllib3.response import BaseHTTPResponse
from urllib3.util import parse_url

from powercycle.core.documents import FETCHED_MAX_BYTES
from powercycle.runtime.budget import Budget
from powercycle.sources.decoding import DecodeError, Decoder
from powercycle.sources.netguard import (
    ALLOWLIST_VAR,
    PinnedHTTPConnection,
    PinnedHTTPSConnection,
    Refused,
    Unreachable,
    check_url,
    innermost,
    is_allowlisted,
    redact_url,
    refusal,
    root_cause,
    scrub,
)

MAX_BYTES = FETCHED_MAX_BYTES
USER_AGENT = "powercycle (schedule fetch)"
_CHUNK = 16 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LONGEST = 86_400.0  # a socket or thread wait may not be infinite


@dataclass(frozen=True)
class Limits:
    """How long and how much a fetch may take; tests shorten them."""

    connect_timeout: float = 3.05
    # The longest silence of a server (no byte at all) before giving up.
    read_timeout: float = 5.0
    # Per document, everything included (see the module docstring).
    total_timeout: float = 15.0
    # Decoded body bytes; twice as many may be received (compressed).
    max_bytes: int = MAX_BYTES
    max_redirects: int = 5
    # Documents fetched at once (more wait for a free worker, inside the same 15 s).
    max_workers: int = 32


DEFAULT_LIMITS = Limits()


class FetchError(Exception):
    """A fetch failed; the message is one line, with URLs redacted."""


def get(
    url: str,
    *,
    allowlist: Sequence[str] = (),
    budget: Budget | None = None,
    limits: Limits = DEFAULT_LIMITS,
    refuse_media: Sequence[str] = (),
    accept: str = "application/json",
    expected: str = "JSON",
) -> bytes:
    """The decoded body of `url` (status 200), within `limits` and `budget`; FetchError.

    `refuse_media`: Content-Type prefixes (or `/xml`-like suffixes) refused before the body
    is read. `accept`: the Accept header; `expected`: what the body should be, for errors.
    """
    outer = budget or Budget.unlimited()
    fetch = _Fetch(outer.child(limits.total_timeout), limits)
    fetch.accept, fetch.expected = accept, expected
    fetch.total = min(limits.total_timeout, outer.seconds)  # as said: "after 15s"
    try:
        current = url
        for hop in range(limits.max_redirects + 1):
            via = f"redirected to {redact_url(current)}: " if hop else ""
            try:
                body, location = _get_once(current, allowlist, fetch, refuse_media)
            except FetchError as exc:
                raise FetchError(f"{via}{exc}") from None
            if location is None:
                return body
            current = location
        raise FetchError(f"more than {limits.max_redirects} redirects")
    finally:
        fetch.close()


# --- one fetch's clock and watchdog -----------------------------------------------------


class _Fetch:
    """The time left for one document, what it is doing, and the watchdog that ends it."""

    def __init__(self, budget: Budget, limits: Limits) -> None:
        self.budget = budget
        self.limits = limits
        self.phase = "connecting"
        self.total = budget.seconds
        self.fired = False
        self.accept, self.expected = "application/json", "JSON"
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._closed = False
        left = budget.remaining()
        self._timer = threading.Timer(left, self._fire) if math.isfinite(left) else None
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.name = "powercycle-fetch-watchdog"
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.fired = True
            for sock in self._watched:
                _shutdown(sock)

    def watch(self, sock: socket.socket) -> None:
        """Have the watchdog end this connection when the time is up."""
        dup = sock.dup()  # same socket, own descriptor: shut down, never closed under a reader
        with self._lock:
            self._watched.append(dup)
            if self.fired:
                _shutdown(dup)

    def release(self) -> None:
        """Close the duplicates (a hop is over: its connection may now really close)."""
        with self._lock:
            watched, self._watched = self._watched, []
        for sock in watched:
            sock.close()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._closed = True
        self.release()

    @property
    def connect_timeout(self) -> float:
        return self.limits.connect_timeout

    @property
    def read_timeout(self) -> float:
        return self.limits.read_timeout

    def timeout(self, limit: float) -> float:
        """A socket operation's timeout: `limit`, or the time left if less."""
        left = self.budget.remaining()
        if self.fired or left <= 0:
            raise self.expired()
        return min(limit, left, _LONGEST)

    def out_of_time(self) -> bool:
        return self.fired or self.budget.remaining() <= 0.01

    def expired(self) -> FetchError:
        return FetchError(f"timed out after {self.total:.3g}s {self.phase}")


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed or never connected
        sock.shutdown(socket.SHUT_RDWR)


# --- one request --------------------------------------------------------------------------


def _get_once(
    url: str, allowlist: Sequence[str], fetch: _Fetch, refuse_media: Sequence[str]
) -> tuple[bytes, str | None]:
    """(body, None), or (b"", the next URL) for a redirect."""
    try:
        parsed = parse_url(url)
    except ValueError:
        raise FetchError("not a valid URL") from None
    if (parsed.scheme or "").lower() not in ("http", "https") or not parsed.host:
        raise FetchError("not a valid http(s) URL")
    try:
        allowlisted = check_url(url, allowlist)
    except Refused as exc:
        raise FetchError(f"refused: {exc}") from None
    fetch.phase = "connecting"
    conn: PinnedHTTPConnection | PinnedHTTPSConnection
    if parsed.scheme == "https":
        conn = PinnedHTTPSConnection(
            parsed.host, parsed.port, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where()
        )
    else:
        conn = PinnedHTTPConnection(parsed.host, parsed.port)
    conn.clock, conn.check_addresses = fetch, not allowlisted
    try:
        conn.connect()
        sock = conn.sock  # kept: http.client may drop it from conn while the body is read
        assert sock is not None
        fetch.phase = "waiting for the headers"
        conn.timeout = fetch.timeout(fetch.limits.read_timeout)
        headers = _headers(parsed.auth, fetch.accept)
        conn.request("GET", parsed.request_uri, headers=headers, preload_content=False)
        conn.timeout = fetch.timeout(fetch.limits.read_timeout)
        response = conn.getresponse()
        if fetch.fired:  # headers cut short by the watchdog look complete to http.client
            raise fetch.expired()
        return _answer(url, response, sock, fetch, refuse_media)
    except FetchError:
        raise
    except Refused as exc:
        raise FetchError(f"refused: {exc}") from None
    except Unreachable as exc:
        raise FetchError(str(exc)) from None
    except Exception as exc:  # every library error of a fetch: described, one line
        raise _describe(exc, fetch) from None
    finally:
        conn.close()
        fetch.release()


def _answer(
    url: str,
    response: BaseHTTPResponse,
    sock: socket.socket,
    fetch: _Fetch,
    refuse_media: Sequence[str],
) -> tuple[bytes, str | None]:
    location = response.headers.get("Location")
    if response.status in _REDIRECTS and location:
        try:
            return b"", urlunsplit(urlsplit(urljoin(url, location))._replace(fragment=""))
        except ValueError:
            raise FetchError(f"HTTP {response.status} to an invalid Location") from None
    if response.status != 200:
        reason = scrub((response.reason or "")[:60])
        raise FetchError(f"HTTP {response.status} {reason}".rstrip())
    media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media.startswith(tuple(refuse_media)) or media.endswith(("/xml", "+xml")):
        raise FetchError(f"not {fetch.expected}: Content-Type is {media[:60]}")
    fetch.phase = "reading the body"
    return _read_body(response, sock, fetch), None


def _headers(auth: str | None, accept: str = "application/json") -> dict[str, str]:
    headers = {
        "Accept": accept,
        "Accept-Encoding": "gzip, deflate",
        "User-Agent": USER_AGENT,
    }
    if auth:
        user, _, password = auth.partition(":")
        token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return headers


def _read_body(response: BaseHTTPResponse, sock: socket.socket, fetch: _Fetch) -> bytes:
    try:
        return _decoded_body(response, sock, fetch)
    except DecodeError as exc:
        raise FetchError(str(exc)) from None


def _decoded_body(response: BaseHTTPResponse, sock: socket.socket, fetch: _Fetch) -> bytes:
    limits = fetch.limits
    decoder = Decoder(response.headers.get("Content-Encoding", ""), limits.max_bytes)
    cap = limits.max_bytes if decoder.identity else 2 * limits.max_bytes
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > cap:
        raise FetchError(f"too big: {int(declared)} bytes declared, the limit is {cap}")
    # read1 returns after one socket read (urllib3 >= 2.3); the watchdog bounds either.
    read = getattr(response, "read1", None) or response.read
    received = 0
    while True:
        timeout = fetch.timeout(limits.read_timeout)
        if sock.fileno() != -1:  # closed once http.client has read a body of known length
            sock.settimeout(timeout)
        chunk: bytes = read(_CHUNK, decode_content=False)
        if fetch.fired:
            raise fetch.expired()  # the end of a body cut by the watchdog is no end
        if not chunk:
            break
        received += len(chunk)
        if received > cap:
            kind = "bytes" if decoder.identity else "compressed bytes received"
            raise FetchError(f"too big: more than {cap} {kind}")
        decoder.feed(chunk)
    return decoder.finish()


# --- errors -------------------------------------------------------------------------------


def _describe(exc: BaseException, fetch: _Fetch) -> FetchError:
    if fetch.out_of_time():
        return fetch.expired()
    inner, read_timeout = innermost(exc), fetch.limits.read_timeout
    if isinstance(exc, TimeoutError | ReadTimeoutError) or isinstance(inner, TimeoutError):
        if fetch.phase == "reading the body":
            return FetchError(f"timed out: no data for {read_timeout:g}s")
        return FetchError(f"timed out: no answer within {read_timeout:g}s")
    cause = root_cause(exc)
    if isinstance(exc, ssl.SSLError) or isinstance(inner, ssl.SSLError):
        return FetchError(f"TLS error: {cause}")
    if isinstance(exc, OSError | http.client.HTTPException | HTTPError):
        if fetch.phase == "reading the body":
            return FetchError(f"connection broken while reading: {cause}")
        return FetchError(f"connection failed: {cause}")
    return FetchError(f"request failed: {type(exc).__name__}")


__all__ = [
    "ALLOWLIST_VAR",
    "DEFAULT_LIMITS",
    "FetchError",
    "Limits",
    "get",
    "is_allowlisted",
    "redact_url",
    "refusal",
    "scrub",
]
