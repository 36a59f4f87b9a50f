"""Seals: an HMAC that proves a memory tag holds what powercycle wrote.

Pure: the key is handed in (bytes), nothing is read here. A seal is HMAC-SHA256 over the
resource's ARN, the memory's tag key, the number of parts and every part's value, with
powercycle's key; 160 of its 256 bits are kept, written in lowercase base32 (32 letters
and digits, tag-safe). The seal tag's value is `<parts>:<mac>`, so a memory split over
several tags is read only when exactly that many parts are there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence

VERSION = b"powercycle-seal-v1"
KEPT_BYTES = 20  # 160 bits of the 256
_SEAL = re.compile(r"([1-9][0-9]?):([a-z2-7]{32})", re.ASCII)


def mac(key: bytes, arn: str, tag: str, values: Sequence[str]) -> str:
    """The MAC of a memory's values (in part order) on one resource."""
    message = b"\0".join(
        [VERSION, arn.encode(), tag.encode(), str(len(values)).encode()]
        + [v.encode() for v in values]
    )
    digest = hmac.new(key, message, hashlib.sha256).digest()[:KEPT_BYTES]
    return base64.b32encode(digest).decode("ascii").lower()


def seal(key: bytes, arn: str, tag: str, values: Sequence[str]) -> str:
    """The seal tag's value for these values: `<parts>:<mac>`."""
    return f"{len(values)}:{mac(key, arn, tag, values)}"


def parts_of(value: str | None) -> int | None:
    """How many parts a seal covers (None: no seal, or not one powercycle wrote)."""
    match = _SEAL.fullmatch((value or "").strip())
    return int(match.group(1)) if match else None


def matches(key: bytes, arn: str, tag: str, values: Sequence[str], value: str | None) -> bool:
    """True when `value` is the seal of exactly these values on this resource."""
    match = _SEAL.fullmatch((value or "").strip())
    if match is None or int(match.group(1)) != len(values):
        return False
    return hmac.compare_digest(match.group(2), mac(key, arn, tag, values))
