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
from collections.abc import Mapping, Sequence

from powercycle.core.tags import (
    NODEGROUPS,
    TagError,
    is_nodegroups_part,
    nodegroups_part,
    quote,
    seal_tag,
)

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


# --- memories: their parts and seal tag ----------------------------------------------


def _part_keys(memory: str, count: int) -> list[str]:
    return [nodegroups_part(i) for i in range(1, count + 1)] if memory == NODEGROUPS else [memory]


def sealed(key: bytes, arn: str, memory: str, values: Mapping[str, str]) -> dict[str, str]:
    """The tags to write for a memory (tag -> value, its parts) with its seal."""
    keys = _part_keys(memory, len(values))
    if sorted(keys) != sorted(values):
        raise TagError(f"{memory}: parts {sorted(values)} are not {keys}")
    value = seal(key, arn, memory, [values[k] for k in keys])
    return {**values, seal_tag(memory): value}


def unsealed(key: bytes, arn: str, memory: str, tags: Mapping[str, str]) -> dict[str, str]:
    """The memory's parts (tag -> value), once every part is there and its seal checks.

    A `TagError` naming the tag otherwise: the memory is then not acted on, every tag kept.
    """
    present = [k for k in tags if k == memory or (memory == NODEGROUPS and is_nodegroups_part(k))]
    seal_key = seal_tag(memory)
    raw = tags.get(seal_key)
    count = parts_of(raw)
    review = "nothing changed, every tag kept; review it and run `powercycle seal` on it"
    if raw is None:
        raise TagError(f"{memory} has no seal ({seal_key}): not written by powercycle; {review}")
    if count is None:
        raise TagError(f"{seal_key} {quote(raw, 40)} is not a seal; {review}")
    keys = _part_keys(memory, count)
    missing = [k for k in keys if k not in tags]
    if missing:
        raise TagError(
            f"{', '.join(missing)} missing (its seal covers {count} parts); {review}"
        )
    extra = sorted(set(present) - set(keys))
    if extra:
        raise TagError(f"{', '.join(extra)} not covered by {seal_key}; {review}")
    if not matches(key, arn, memory, [tags[k] for k in keys], raw):
        raise TagError(f"{memory}: its seal ({seal_key}) does not check; {review}")
    return {k: tags[k] for k in keys}
