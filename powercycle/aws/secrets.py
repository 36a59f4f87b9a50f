"""Secrets Manager values through Powertools parameters, kept for a maximum age.

A warm Lambda environment keeps what it read: each secret (the CAST AI key, powercycle's
sealing key) is read at most once per `POWERCYCLE_SECRET_MAX_AGE_S` seconds (default 300;
0 reads on every need), whether the environment runs whole passes or fan-out workers, one
`SecretsProvider` (and its cache) per region. A failed read is not kept: the next need asks
again (each pass still remembers its own failure, see `SealKey`, `CastAIAccess`).

Nothing here logs, keeps in an error or repeats a value: a failure is a `SecretError` with
the AWS error code (or the exception's class) only.
"""

from __future__ import annotations

import threading
from typing import Any

from powercycle import aws

DEFAULT_MAX_AGE_S = 300

_lock = threading.Lock()
_providers: dict[str, Any] = {}  # region -> SecretsProvider over the own credentials


class SecretError(Exception):
    """A secret could not be read; `code` says why (never the value)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def read(name: str, region: str, *, max_age: int, client: Any = None) -> str:
    """The secret's string (`SecretString`), from the cache while younger than `max_age`.

    `client` (tests) reads through a provider of its own, kept for no longer than the call.
    """
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    provider: Any
    if client is not None:
        provider = SecretsProvider(boto3_client=client)
    else:
        with _lock:
            provider = _providers.get(region)
            if provider is None:
                provider = SecretsProvider(boto3_client=aws.client("secretsmanager", region))
                _providers[region] = provider
    try:
        # 0: read now, whatever another setting kept (Powertools keeps nothing for 0).
        value = provider.get(name, max_age=max_age, force_fetch=max_age <= 0)
    except GetParameterError as exc:
        # Powertools wraps the SDK's error; its code is on the original, never a value.
        cause = exc.__context__
        raise SecretError(aws.error_code(cause) if cause else "GetParameterError") from None
    except Exception as exc:  # never the value: only what kind of failure it was
        raise SecretError(type(exc).__name__) from None
    if not isinstance(value, str):
        raise SecretError("NotAString")  # SecretBinary: powercycle's secrets are strings
    return value


def reset() -> None:
    """Forget every provider and what it kept (tests start from an empty cache)."""
    with _lock:
        for provider in _providers.values():
            provider.clear_cache()
        _providers.clear()
