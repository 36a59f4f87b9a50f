"""powercycle's key, that seals its memories (`core.seal`): read from Secrets Manager.

The secret is `POWERCYCLE_KEY_SECRET` (a name or an ARN; default `powercycle/key`), in the
Lambda's own region or the ARN's, read with the scheduler's own credentials. A pass asks
for it once, and only when a memory is written or read (`SealKey.get`, lazily); a failure
is remembered for the pass too. The read goes through Powertools parameters
(`secrets`): a warm process reads it once per `POWERCYCLE_SECRET_MAX_AGE_S`, across
passes and workers. The key never leaves this object: no log line, repr, summary or
exception carries it, only the secret's name.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from powercycle.aws import secrets

if TYPE_CHECKING:
    from powercycle.config import Config
    from powercycle.runtime.budget import Budget

DEFAULT_SECRET = "powercycle/key"  # noqa: S105 - a secret's name, not a secret
MIN_LENGTH = 16


class KeyUnavailable(Exception):
    """powercycle's key cannot be read; the message names the secret, never a value."""


class SealKey:
    """The key of one pass: read on the first `get`, then kept (or its failure kept)."""

    def __init__(
        self,
        secret: str,
        region: str,
        *,
        client: Any = None,
        max_age: int = secrets.DEFAULT_MAX_AGE_S,
    ) -> None:
        self.secret = secret
        self.region = region
        self._client = client
        self._max_age = max_age
        self._lock = threading.Lock()
        self._key: bytes | None = None
        self._error: str | None = None
        self.reads = 0

    def __repr__(self) -> str:
        return f"SealKey({self.secret!r}, {self.region})"

    def get(self) -> bytes:
        with self._lock:
            if self._key is None and self._error is None:
                self._read()
            if self._key is None:
                raise KeyUnavailable(self._error or "powercycle's key not read")
            return self._key

    def _read(self) -> None:
        self.reads += 1
        where = f"secret {self.secret!r} ({self.region})"
        try:
            text = secrets.read(
                self.secret, self.region, max_age=self._max_age, client=self._client
            )
        except secrets.SecretError as exc:
            self._error = (
                f"powercycle's key ({where}) cannot be read: {exc.code}; memories are neither "
                "written nor acted on (grant secretsmanager:GetSecretValue on it, or set "
                "POWERCYCLE_KEY_SECRET)"
            )
            return
        if len(text.strip()) < MIN_LENGTH:
            self._error = (
                f"powercycle's key ({where}) is not a string of at least {MIN_LENGTH} "
                "characters"
            )
            return
        self._key = text.strip().encode()


# One key per pass: every provider of a pass shares its budget, so the budget names it.
_PASSES: weakref.WeakKeyDictionary[Budget, SealKey] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def for_pass(config: Config, budget: Budget | None) -> SealKey:
    """The key of the pass `budget` belongs to (a new one when there is no budget)."""
    def new() -> SealKey:
        region = secret_region(config.key_secret, config.regions)
        return SealKey(config.key_secret, region, max_age=config.secret_max_age_s)

    if budget is None:
        return new()
    with _GUARD:
        key = _PASSES.get(budget)
        if key is None:
            key = new()
            _PASSES[budget] = key
        return key


def secret_region(name: str, regions: Sequence[str]) -> str:
    """An ARN's region; otherwise the Lambda's own region (or the first region scanned)."""
    if name.startswith("arn:"):
        parts = name.split(":")
        if len(parts) > 3 and parts[3]:
            return parts[3]
    import boto3

    return boto3.session.Session().region_name or (regions[0] if regions else "us-east-1")
