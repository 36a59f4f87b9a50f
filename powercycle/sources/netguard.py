"""Which URLs and addresses a schedule fetch may reach, the pinned connections that
enforce it, and how a URL is shown. Used by the guarded client `powercycle.sources.http` (see
there for the rules as a whole and for time):

* `check_url`: only `https`, unless the URL is under a prefix of `POWERCYCLE_URL_ALLOWLIST`;
  with that list set, nothing outside it. Prefixes compare parsed, normalised URLs by
  whole path segments;
* `check_addresses` / `refusal`: without an allowlist, no address that is loopback,
  link-local (the instance metadata address), private, site-local (`fec0::/10`),
  unspecified, multicast, reserved or otherwise not global; an IPv4 address inside IPv6
  (mapped, 6to4, NAT64) is judged as the IPv4 address it reaches;
* `PinnedHTTPConnection` / `PinnedHTTPSConnection`: urllib3 connections that resolve the
  host once, check every address (`check_addresses`), and connect to a checked one;
* `redact_url` / `scrub` / `root_cause`: credentials and query values never shown, in
  URLs or in library errors.
"""

from __future__ import annotations

import ipaddress
import math
import re
import socket
import threading
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.util import connection as urllib3_connection
from urllib3.util import parse_url

from powercycle.core.calendars import redact
from powercycle.runtime.text import squash

ALLOWLIST_VAR = "POWERCYCLE_URL_ALLOWLIST"


class Refused(Exception):
    """A URL or an address that may not be fetched from; the message says why."""


class Unreachable(Exception):
    """The host could not be found or connected to; the message says why, one line."""


class Clock(Protocol):
    """What a pinned connection needs from the fetch it serves (`http._Fetch`)."""

    @property
    def connect_timeout(self) -> float: ...

    @property
    def read_timeout(self) -> float: ...

    def timeout(self, limit: float) -> float:
        """`limit`, or the time left if less; raises the fetch's own error when none is."""
        ...

    def out_of_time(self) -> bool: ...

    def expired(self) -> Exception: ...

    def watch(self, sock: socket.socket) -> None:
        """Have the fetch's watchdog end this connection when the time is up."""
        ...


# --- which URLs ---------------------------------------------------------------------------


def check_url(url: str, allowlist: Sequence[str]) -> bool:
    """Scheme and allowlist rules; True when the URL is allowlisted (then no address check).

    Refused says why a URL may not be fetched.
    """
    if allowlist:
        if not is_allowlisted(url, allowlist):
            raise Refused(f"not under any {ALLOWLIST_VAR} prefix")
        return True
    if urlsplit(url).scheme.lower() != "https":
        raise Refused(
            f"only https:// URLs are fetched (http:// only under a {ALLOWLIST_VAR} prefix)"
        )
    return False


def is_allowlisted(url: str, allowlist: Sequence[str]) -> bool:
    """Whether `url` is under one of the prefixes: scheme, host and port equal, and the
    prefix's path is the URL's path or whole leading segments of it.

    Compared on parsed, normalised URLs: `https://example.com` does not admit
    `https://example.com.evil.net/`, `/schedules/../secret` is `/secret`, and `/schedules`
    does not admit `/schedules-private/`.
    """
    target = _canonical(url)
    if target is None:
        return False
    for prefix in allowlist:
        allowed = _canonical(prefix)
        if allowed and allowed[:3] == target[:3]:
            path, base = target[3], allowed[3]
            if path == base or path.startswith(base if base.endswith("/") else base + "/"):
                return True
    return False


def _canonical(url: str) -> tuple[str, str, int, str] | None:
    try:
        parsed = parse_url(url)
    except ValueError:
        return None
    scheme = (parsed.scheme or "").lower()
    if scheme not in ("http", "https") or not parsed.host:
        return None
    path = parsed.path or "/"
    if re.search(r"%(2e|2f|5c)", path, re.IGNORECASE):
        return None  # encoded dots or slashes could climb out of a prefix on the server
    port = parsed.port or (443 if scheme == "https" else 80)
    return scheme, parsed.host.lower().rstrip("."), port, path


# --- which addresses ----------------------------------------------------------------------


def check_addresses(host: str, infos: Sequence[tuple[Any, ...]]) -> None:
    """Refused if any address `host` resolved to (getaddrinfo's answer) may not be reached."""
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        why = refusal(address)
        if why is not None:
            shown = host if host == address else f"{host} resolves to {address}, which"
            raise Refused(
                f"{shown} is a {why} address; such hosts are fetched only under a "
                f"{ALLOWLIST_VAR} prefix"
            )


def refusal(address: str) -> str | None:
    """Why an IP address must not be fetched from without an allowlist, or None."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
        address.split("%", 1)[0]
    )
    site_local = False
    if isinstance(ip, ipaddress.IPv6Address):
        site_local = ip.is_site_local  # fec0::/10, deprecated but still routed inside some networks
        # An IPv4 address wrapped in IPv6 reaches the IPv4 host: judge that one.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("site-local", site_local),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),
    )
    return next((what for what, hit in checks if hit), None)


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


# --- showing URLs ---------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """The URL with credentials and query values hidden (names and fragment kept)."""
    return redact(url)


def scrub(text: str) -> str:
    """Redact anything URL-like inside free text (exception messages from libraries):
    userinfo, and the value of every `name=value` (query strings and loose pairs alike)."""
    text = re.sub(r"//[^/\s@'\"]*@", "//***@", text)
    return re.sub(r"((?:^|[?&;\s(])[^=&;\s'\"#()]+)=[^&;\s'\"#)]*", r"\1=***", text)


def innermost(exc: BaseException) -> BaseException:
    """The exception at the bottom of a chain of wrappers (urllib3 -> socket)."""
    chain: list[BaseException] = [exc]
    while len(chain) < 10 and (inner := _wrapped(chain[-1])) is not None and inner not in chain:
        chain.append(inner)
    return chain[-1]


def root_cause(exc: BaseException) -> str:
    """The innermost reason of a wrapped error (urllib3 -> socket), without URLs."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        if isinstance(current, OSError) and current.strerror:
            return scrub(current.strerror)[:200]  # "Connection refused"
        chain.append(current)
        current = _wrapped(current)
    # urllib3 prefixes "<HTTPSConnection(host=..., port=...)>: "; the cause follows.
    text = str(chain[-1]).rpartition(">: ")[2]
    return scrub(squash(text))[:200] or type(chain[-1]).__name__


def _wrapped(exc: BaseException) -> BaseException | None:
    first = exc.args[0] if exc.args else None
    for candidate in (getattr(exc, "reason", None), first, exc.__cause__, exc.__context__):
        if isinstance(candidate, BaseException):
            return candidate
    return None


# --- pinned connections ---------------------------------------------------------------------


def _lookup(host: str, port: int, clock: Clock) -> list[tuple[Any, ...]]:
    """getaddrinfo(host), waited for only as long as the fetch has time."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["infos"] = socket.getaddrinfo(
                host, port, urllib3_connection.allowed_gai_family(), socket.SOCK_STREAM
            )
        except Exception as exc:
            box["error"] = exc

    worker = threading.Thread(target=run, name="powercycle-dns", daemon=True)
    worker.start()
    worker.join(clock.timeout(math.inf))
    if worker.is_alive():
        raise clock.expired()
    error = box.get("error")
    if isinstance(error, socket.gaierror):
        raise Unreachable(f"host {host} not found ({error.strerror})")
    if error is not None:
        raise error
    infos: list[tuple[Any, ...]] = box["infos"]
    return infos


def connect(host: str, port: int, clock: Clock, *, check: bool) -> socket.socket:
    """Resolve once, check every address (when `check`), connect only to a checked one.

    Stands in for urllib3's `_new_conn`, which would resolve the name again inside
    `create_connection`; TLS still uses the host name for SNI and certificate checks.
    """
    host = host.strip("[]")
    infos = _lookup(host, port, clock)
    if check:
        check_addresses(host, infos)
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(clock.timeout(clock.connect_timeout))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(sockaddr)
            sock.settimeout(clock.timeout(clock.read_timeout))
            clock.watch(sock)
            return sock
        except TimeoutError:
            sock.close()
            if clock.out_of_time():
                raise clock.expired() from None
            raise Unreachable(
                f"timed out: no connection within {clock.connect_timeout:g}s"
            ) from None
        except OSError as exc:
            sock.close()
            error = exc  # e.g. no route for IPv6: try the next address
        except BaseException:
            sock.close()
            raise
    reason = (error.strerror or str(error)) if error else "no address"
    raise Unreachable(f"connection failed: {scrub(reason)}")


class PinnedHTTPConnection(HTTPConnection):
    clock: Clock | None = None
    check_addresses = True

    def _new_conn(self) -> socket.socket:
        assert self.clock is not None, "set clock before connecting"
        return connect(self.host, self.port, self.clock, check=self.check_addresses)


class PinnedHTTPSConnection(HTTPSConnection):
    clock: Clock | None = None
    check_addresses = True

    def _new_conn(self) -> socket.socket:
        assert self.clock is not None, "set clock before connecting"
        return connect(self.host, self.port, self.clock, check=self.check_addresses)
