"""Signed links: one resource, one action, until an expiry; proven by powercycle's key.

Pure: the key is handed in (bytes), the clock too. A link names an account, a region, a
kind, a resource, an action and its hours, and when it expires; its token is those fields
and an HMAC-SHA256 over them (160 of the 256 bits kept, as for seals), both in lowercase
base32 without padding, joined by a dot: letters, digits and `.`, safe in a URL, a mail
and a tag. The MAC's message starts with its own version string, so a link's MAC can never
be taken for a seal's (`core.seal`) made with the same key, nor the other way round.

The actions (design: "Extend from the warning"):

* `extend`: keep running `hours` past the stop the warning announced;
* `skip`: skip that stop, until the next scheduled start;
* `wake`: start a stopped resource now; it runs until its next scheduled stop.

An extend or skip link expires 12 hours after the stop it postpones, so the stop is the
expiry minus 12 hours and needs no field of its own; a wake link after its days. The MAC
is checked before the expiry: a link whose expiry was changed is refused as forged (403),
never reported as expired (410).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

Action = Literal["extend", "skip", "wake"]
ACTIONS: tuple[Action, ...] = ("extend", "skip", "wake")
VERSION = b"powercycle-link-v1"
KEPT_BYTES = 20  # 160 bits of the 256
STOP_GRACE = timedelta(hours=12)  # an extend or skip link outlives its stop by this much
MAX_WAKE_DAYS = 90
MAX_FIELD = 512  # bytes: longer than any account, region, kind or resource name
PATH = "/link"
_TOKEN = re.compile(r"([a-z2-7]{8,2048})\.([a-z2-7]{32})", re.ASCII)
_SEP = "\n"


class LinkError(ValueError):
    """A link that is refused; `status` is the HTTP status its page answers with."""

    status = 403


class LinkExpired(LinkError):
    status = 410


@dataclass(frozen=True)
class Link:
    """What one link allows: `action` on one resource, until `expires` (UTC, whole seconds)."""

    account: str  # "" for the scanning account itself when its id is not known
    region: str
    kind: str
    resource: str
    action: Action
    hours: int  # extend: how long past the stop; 0 for skip and wake
    expires: datetime

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise LinkError(f"{self.action!r} is not a link action ({', '.join(ACTIONS)})")
        if (self.action == "extend") != (self.hours > 0) or self.hours < 0:
            raise LinkError(f"a {self.action} link cannot carry {self.hours} hours")
        if self.expires.tzinfo is None:
            raise ValueError("a link's expiry must be timezone-aware")
        for name in ("account", "region", "kind", "resource"):
            value = getattr(self, name)
            if _SEP in value or len(value.encode()) > MAX_FIELD:
                raise LinkError(f"a link's {name} cannot be {value[:40]!r}")
        if not (self.region and self.kind and self.resource):
            raise LinkError("a link names a region, a kind and a resource")

    @property
    def stop(self) -> datetime | None:
        """The stop an extend or skip link postpones (None for a wake link)."""
        return None if self.action == "wake" else self.expires - STOP_GRACE

    def fields(self) -> list[str]:
        expiry = str(int(self.expires.timestamp()))
        names = [self.account, self.region, self.kind, self.resource, self.action]
        return [*names, str(self.hours), expiry]


def extend(
    *, account: str, region: str, kind: str, resource: str, stop: datetime, hours: int
) -> Link:
    """Keep running `hours` past `stop`; expires 12 hours after that stop."""
    return Link(account, region, kind, resource, "extend", hours, _whole(stop) + STOP_GRACE)


def skip(*, account: str, region: str, kind: str, resource: str, stop: datetime) -> Link:
    """Skip `stop` until the next scheduled start; expires 12 hours after that stop."""
    return Link(account, region, kind, resource, "skip", 0, _whole(stop) + STOP_GRACE)


def wake(*, account: str, region: str, kind: str, resource: str, now: datetime, days: int) -> Link:
    """Start the resource now (until its next scheduled stop); valid for `days` from now."""
    if not 1 <= days <= MAX_WAKE_DAYS:
        raise LinkError(f"a wake link lasts 1 to {MAX_WAKE_DAYS} days, not {days}")
    return Link(account, region, kind, resource, "wake", 0, _whole(now) + timedelta(days=days))


def mac(key: bytes, link: Link) -> str:
    message = "\0".join(link.fields()).encode()
    digest = hmac.new(key, VERSION + b"\0" + message, hashlib.sha256).digest()[:KEPT_BYTES]
    return _b32(digest)


def sign(key: bytes, link: Link) -> str:
    """The link's token: `<fields, base32>.<mac, base32>`."""
    return f"{_b32(_SEP.join(link.fields()).encode())}.{mac(key, link)}"


def verify(key: bytes, token: str, now: datetime) -> Link:
    """The link a token carries, once its MAC checks and it has not expired.

    `LinkError` (403) for anything that is not a link signed with this key, `LinkExpired`
    (410) for a genuine link past its expiry.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    match = _TOKEN.fullmatch(token.strip())
    if match is None:
        raise LinkError("this is not a powercycle link (it may have been cut short)")
    try:
        fields = _unb32(match.group(1)).decode().split(_SEP)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise LinkError("this is not a powercycle link (it cannot be read)") from None
    if len(fields) != 7 or not fields[5].isdigit() or not fields[6].isdigit():
        raise LinkError("this is not a powercycle link (it cannot be read)")
    account, region, kind, resource, action, hours, expiry = fields
    if action not in ACTIONS:
        raise LinkError("this is not a powercycle link (unknown action)")
    try:
        link = Link(
            account,
            region,
            kind,
            resource,
            action,  # checked against ACTIONS just above
            int(hours),
            datetime.fromtimestamp(int(expiry), UTC),
        )
    except (LinkError, OverflowError, OSError, ValueError):
        raise LinkError("this is not a powercycle link (its fields are wrong)") from None
    if link.fields() != fields or not hmac.compare_digest(match.group(2), mac(key, link)):
        raise LinkError("this link's signature does not check: it was changed or not ours")
    if now >= link.expires:
        raise LinkExpired(f"this link expired at {link.expires:%Y-%m-%d %H:%M} UTC")
    return link


def url(base: str, token: str) -> str:
    """The address of a link: the function URL's `/link` page with the token."""
    return f"{base.rstrip('/')}{PATH}?t={token}"


def _whole(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a link's times must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0)


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _unb32(text: str) -> bytes:
    padded = text.upper() + "=" * (-len(text) % 8)
    return base64.b32decode(padded)
