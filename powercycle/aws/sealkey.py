"""powercycle's key, that seals its memories (`core.seal`): read from Secrets Manager.

The secret is `POWERCYCLE_KEY_SECRET` (a name or an ARN; default `powercycle/key`), in the
Lambda's own region or the ARN's, read with the scheduler's own credentials. It is read
once per pass, and only when a memory is written or read (`SealKey.get`, lazily); a
failure is remembered for the pass too. The key never leaves this object: no log line,
repr, summary or exception carries it, only the secret's name.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from powercycle import aws

if TYPE_CHECKING:
    from powercycle.config import Config
    from powercycle.runtime.budget import Budget

DEFAULT_SECRET = "powercycle/key"  # noqa: S105 - a secret's name, not a secret
MIN_LENGTH = 16


class KeyUnavailable(Exception):
    """powercycle's key cannot be read; the message names the secret, never a value."""


class SealKey:
    """The key of one pass: read on the first `get`, then kept (or its failure kept)."""

    def __init__(self, secret: str, region: str, *, client: Any = None) -> None:
        self.secret = secret
        self.region = region
        self._client = client
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
            client = self._client or aws.client("secretsmanager", self.region)
            answer = client.get_secret_value(SecretId=self.secret)
        except aws.AWS_ERRORS as exc:
            code = aws.error_code(exc)
            self._error = (
                f"powercycle's key ({where}) cannot be read: {code}; memories are neither "
                "written nor acted on (grant secretsmanager:GetSecretValue on it, or set "
                "POWERCYCLE_KEY_SECRET)"
            )
            return
        except Exception as exc:  # never the value: only what kind of failure it was
            self._error = f"powercycle's key ({where}) cannot be read: {type(exc).__name__}"
            return
        text = answer.get("SecretString")
        if not isinstance(text, str) or len(text.strip()) < MIN_LENGTH:
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
    if budget is None:
        return SealKey(config.key_secret, secret_region(config.key_secret, config.regions))
    with _GUARD:
        key = _PASSES.get(budget)
        if key is None:
            key = SealKey(config.key_secret, secret_region(config.key_secret, config.regions))
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
