"""AWS sessions and clients: one botocore session per credential set, clients kept warm.

Making a client parses its service model (EC2's is large: about 0.3 s and 25-40 MB), so a
client is made once per (credentials, region, service) and kept for the life of the
process: a warm Lambda invocation reuses every client of the previous one. Clients are
made on demand, never at import (the handler imports without credentials), under a lock
(a botocore session is not safe to share while it makes clients; the clients it has made
are). All sessions share one data loader, so a model is parsed once per process whatever
the number of accounts.

botocore's `standard` retry mode retries throttling and transient errors with backoff;
`AWS_ENDPOINT_URL` (honoured by botocore) points every client at a moto server in tests and
in the local demo. Region and credentials resolve as the AWS CLI resolves them: `--profile`
(see `use_profile`), `AWS_PROFILE`, the environment, the config and credentials files.

Tests start from an empty cache with `reset()` (tests/conftest.py does it for every test).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

_BOTO_CONFIG = BotoConfig(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=20,
)

# The credential set of the process itself (Lambda role, profile, environment).
OWN = ""

_lock = threading.RLock()


class _Process:
    """What the process keeps between invocations, beside the sessions and clients."""

    profile: str | None = None
    # The parsed service models: shared by every session and kept even by `reset()` (a
    # model depends on nothing a test changes).
    loader: Any = None


_sessions: dict[str, Any] = {}
_clients: dict[tuple[str, str, str], Any] = {}
# credentials key -> how to make its session (for assumed roles, added by `register`).
_makers: dict[str, Callable[[Any], Any]] = {}


def reset() -> None:
    """Forget every session, client and profile (tests start from an empty cache)."""
    with _lock:
        _Process.profile = None
        _sessions.clear()
        _clients.clear()
        _makers.clear()


def use_profile(profile: str | None) -> None:
    """Resolve the process's own credentials and region from this named profile."""
    with _lock:
        if profile != _Process.profile:
            _Process.profile = profile
            _sessions.clear()
            _clients.clear()


def register(credentials: str, make: Callable[[Any], Any]) -> None:
    """Declare a credential set: `make(own_session)` returns its botocore session.

    Used for assumed roles: the maker builds a session whose credentials refresh themselves
    (botocore's refreshable credentials), sharing the own session's loader.
    """
    with _lock:
        if credentials not in _makers:
            _makers[credentials] = make


def session(credentials: str = OWN) -> Any:
    """The botocore session of a credential set, made once."""
    with _lock:
        found = _sessions.get(credentials)
        if found is not None:
            return found
        own = _sessions.get(OWN)
        if own is None:
            own = new_session(profile=_Process.profile)
            _sessions[OWN] = own
        if credentials == OWN:
            return own
        make = _makers.get(credentials)
        if make is None:
            raise KeyError(f"no credentials registered as {credentials!r}")
        made = make(own)
        _sessions[credentials] = made
        return made


def new_session(*, profile: str | None = None) -> Any:
    """A botocore session sharing the process's data loader (models parsed once)."""
    made = botocore.session.Session(profile=profile)
    with _lock:
        if _Process.loader is None:
            _Process.loader = made.get_component("data_loader")
        else:
            made.register_component("data_loader", _Process.loader)
    return made


def default_region() -> str | None:
    """The region the AWS CLI would use: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile."""
    region = session().get_config_variable("region")
    return str(region) if region else None


def client(service: str, region: str, *, credentials: str = OWN) -> Any:
    """The client for (credentials, region, service), made on first use and kept."""
    key = (credentials, region, service)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            found = session(credentials).create_client(
                service, region_name=region, config=_BOTO_CONFIG
            )
            _clients[key] = found
        return found


def cached_clients() -> int:
    """How many clients the process keeps (for tests and the bench)."""
    return len(_clients)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message", ""))
    return str(exc)


def describe_error(exc: BaseException) -> str:
    """`Code: message` of an AWS error, for logs and summaries."""
    return f"{error_code(exc)}: {error_message(exc)}".rstrip(": ")


AWS_ERRORS = (ClientError, BotoCoreError)
