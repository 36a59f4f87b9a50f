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

Assumed roles (`assume`): each role is a credential set of its own, with a session whose
credentials are botocore's `DeferredRefreshableCredentials` fed by an
`AssumeRoleCredentialFetcher` (session name `powercycle`, `ExternalId` when configured).
Nothing is called until a client of that set signs its first request; botocore then
assumes the role once, keeps the result in memory and assumes it again only when it nears
its expiry (the refresh is botocore's own, under its own lock). The STS client of the
fetcher comes from the process's own session, so it shares the parsed models too.

Tests start from an empty cache with `reset()` (tests/conftest.py does it for every test).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import botocore.session
from botocore.config import Config as BotoConfig
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from powercycle.core.model import ActionError
from powercycle.runtime.text import first_line

_BOTO_CONFIG = BotoConfig(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=20,
)

# The credential set of the process itself (Lambda role, profile, environment).
OWN = ""
# The role session name every assumed role carries (it shows in the member's CloudTrail).
SESSION_NAME = "powercycle"
_ROLE_PREFIX = "role:"

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
# credentials key -> the account it belongs to, once known (GetCallerIdentity, role ARN).
_accounts: dict[str, str] = {}


def reset() -> None:
    """Forget every session, client and profile (tests start from an empty cache)."""
    with _lock:
        _Process.profile = None
        _sessions.clear()
        _clients.clear()
        _makers.clear()
        _accounts.clear()


def use_profile(profile: str | None) -> None:
    """Resolve the process's own credentials and region from this named profile."""
    with _lock:
        if profile != _Process.profile:
            _Process.profile = profile
            _sessions.clear()
            _clients.clear()
            _accounts.clear()


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
    made.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=parse_timestamp
    )
    with _lock:
        if _Process.loader is None:
            _Process.loader = made.get_component("data_loader")
        else:
            made.register_component("data_loader", _Process.loader)
    return made


def parse_timestamp(value: Any) -> Any:
    """botocore's timestamp parser, with a fast path for ISO-8601 strings.

    botocore parses every timestamp of a response with dateutil, which is a tenth of the CPU
    of a pass over thousands of instances (three timestamps each). An ISO-8601 string with
    an offset, which is what EC2 sends, is parsed by `datetime.fromisoformat` instead, to the
    same instant; anything else (epoch numbers, RFC 822, no offset) goes to botocore.
    """
    if isinstance(value, str) and "T" in value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
    return botocore_parse_timestamp(value)


def default_region() -> str | None:
    """The region the AWS CLI would use: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile."""
    region = session().get_config_variable("region")
    return str(region) if region else None


def known_regions() -> set[str]:
    """Every region name the installed botocore knows, in every partition (no call)."""
    own = session()
    return {
        region
        for partition in own.get_available_partitions()
        for region in own.get_available_regions("ec2", partition_name=partition)
    }


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


def assume(role_arn: str, external_id: str | None = None) -> str:
    """The credentials key of an assumed role (registered once; nothing is called yet).

    The key names the role, never the external id (keys show up in errors and logs).
    """
    key = _ROLE_PREFIX + role_arn
    extra: dict[str, str] = {"RoleSessionName": SESSION_NAME}
    if external_id:
        extra["ExternalId"] = external_id

    def make(own: Any) -> Any:
        source = own.get_credentials()
        if source is None:
            raise NoCredentialsError()

        def sts_client(service: str, **kwargs: Any) -> Any:
            # The own session makes the fetcher's STS client, under the lock that guards
            # every client creation; botocore calls this when it (re)assumes the role.
            with _lock:
                return own.create_client(
                    service, region_name=_home_region(own), config=_BOTO_CONFIG, **kwargs
                )

        fetcher = AssumeRoleCredentialFetcher(
            client_creator=sts_client,
            source_credentials=source,
            role_arn=role_arn,
            extra_args=extra,
        )
        credentials = DeferredRefreshableCredentials(
            refresh_using=fetcher.fetch_credentials, method="assume-role"
        )
        made = new_session()
        made.register_component("credential_provider", CredentialResolver([_Given(credentials)]))
        return made

    register(key, make)
    with _lock:
        _accounts.setdefault(key, role_account(role_arn))
    return key


def role_account(role_arn: str) -> str:
    """The account id of a role ARN (`arn:aws:iam::123456789012:role/name`), or ''."""
    parts = role_arn.split(":", 5)
    return parts[4] if len(parts) == 6 else ""


def check(credentials: str = OWN) -> None:
    """Make sure a credential set works now (for a role: assume it, if not already held).

    Raises what botocore raises (`ClientError` AccessDenied for a refused role). A role
    already held costs no call: botocore keeps its credentials until they near expiry.
    """
    found = session(credentials).get_credentials()
    if found is None:
        raise NoCredentialsError()
    found.get_frozen_credentials()


def account_id(credentials: str = OWN, region: str | None = None) -> str:
    """The account of a credential set: the role's, or the caller's (`GetCallerIdentity`,
    once per process)."""
    with _lock:
        known = _accounts.get(credentials)
    if known:
        return known
    home = region or default_region() or "us-east-1"
    found = str(client("sts", home, credentials=credentials).get_caller_identity()["Account"])
    with _lock:
        _accounts[credentials] = found
    return found


class _Given(CredentialProvider):  # type: ignore[misc]
    """A credential provider that hands over credentials made elsewhere."""

    METHOD = "assume-role"
    CANONICAL_NAME = "custom-powercycle-assume-role"

    def __init__(self, credentials: Any) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials


def _home_region(own: Any) -> str:
    region = own.get_config_variable("region")
    return str(region) if region else "us-east-1"


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


def action_error(exc: BaseException) -> ActionError:
    """A failed call as a resource's answer: the AWS error code and the message's first line."""
    return ActionError(error_code(exc), first_line(error_message(exc)))


def describe_error(exc: BaseException) -> str:
    """`Code: message` of an AWS error, for logs and summaries."""
    return f"{error_code(exc)}: {error_message(exc)}".rstrip(": ")


AWS_ERRORS = (ClientError, BotoCoreError)
