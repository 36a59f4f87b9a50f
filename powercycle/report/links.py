"""The signed links a warning carries (design: "Extend from the warning"; docs/links.md).

With `POWERCYCLE_LINK_URL` set, each warning gets one link per `POWERCYCLE_LINK_HOURS`
entry (keep running that long past the stop) and one to skip the stop, each signed with
powercycle's key (`core.links`) for that resource and that action alone. The key is read
once per pass (`aws.sealkey.for_pass`), only when a warning is due. A warning never waits
on its links: when the key or the address cannot be had, it goes out without them and the
pass reports why.

`POWERCYCLE_LINK_URL=auto` (the template's default) is the function URL of the running
function (`AWS_LAMBDA_FUNCTION_NAME`): of its `LIVE` alias when it has one, else its own;
looked up once per warm environment. A function cannot be given its own URL through
CloudFormation: the URL is made after the function, from the function.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from powercycle import aws
from powercycle.aws.sealkey import KeyUnavailable, SealKey
from powercycle.config import Config
from powercycle.core import links
from powercycle.report.notices import Notice

LIVE_ALIAS = "LIVE"
_FOUND: dict[str, str] = {}  # function name -> its URL, per warm environment
_GUARD = threading.Lock()


class NoLinkUrl(Exception):
    """The function URL cannot be found; the message says what to set."""


def base_url(config: Config, *, client: Any = None) -> str:
    """The links' base address: `POWERCYCLE_LINK_URL`, or the function's URL for `auto`."""
    if config.link_url and config.link_url != "auto":
        return config.link_url
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    if not function:
        raise NoLinkUrl(
            "POWERCYCLE_LINK_URL=auto finds the function URL inside Lambda only: set "
            "POWERCYCLE_LINK_URL to the stack's LinkUrl output"
        )
    with _GUARD:
        if function in _FOUND:
            return _FOUND[function]
    lam = client or aws.client("lambda", os.environ.get("AWS_REGION") or config.regions[0])
    found = None
    for qualifier in (LIVE_ALIAS, None):
        ask = {"FunctionName": function} | ({"Qualifier": qualifier} if qualifier else {})
        try:
            found = lam.get_function_url_config(**ask)["FunctionUrl"]
            break
        except aws.AWS_ERRORS as exc:
            if aws.error_code(exc) != "ResourceNotFoundException":
                raise NoLinkUrl(
                    f"the function URL of {function} cannot be read: {aws.describe_error(exc)} "
                    "(grant lambda:GetFunctionUrlConfig, or set POWERCYCLE_LINK_URL)"
                ) from None
    if not found:
        raise NoLinkUrl(f"{function} has no function URL: links need one (template: Links)")
    with _GUARD:
        _FOUND[function] = str(found).rstrip("/")
    return _FOUND[function]


def with_links(
    config: Config, notices: Sequence[Notice], key: SealKey, *, base: str | None = None
) -> tuple[list[Notice], str | None]:
    """The notices with their links (when links are on), and why they have none (or None).

    A notice of a stop already due gets none: the stop is being carried out now.
    """
    if not config.link_url or not notices:
        return list(notices), None
    try:
        address = base or base_url(config)
        secret = key.get()
    except (NoLinkUrl, KeyUnavailable) as exc:
        return list(notices), f"warnings sent without links: {exc}"
    out = []
    for notice in notices:
        if notice.due_now:
            out.append(notice)
            continue
        out.append(replace(notice, links=tuple(_links(config, notice, secret, address))))
    return out, None


def _links(config: Config, notice: Notice, secret: bytes, base: str) -> list[tuple[str, str]]:
    where = {
        "account": notice.account or "",
        "region": notice.region,
        "kind": notice.kind,
        "resource": notice.id,
    }
    made = []
    for hours in config.link_hours:
        link = links.extend(**where, stop=notice.stop, hours=hours)
        until = _local(notice.stop + timedelta(hours=hours), notice)
        label = f"keep it running {hours} hour{'s' if hours != 1 else ''} more (until {until})"
        made.append((label, links.url(base, links.sign(secret, link))))
    skip = links.skip(**where, stop=notice.stop)
    made.append(("skip this stop (until its next scheduled start)", _url(base, secret, skip)))
    return made


def _url(base: str, secret: bytes, link: links.Link) -> str:
    return links.url(base, links.sign(secret, link))


def _local(moment: datetime, notice: Notice) -> str:
    return moment.astimezone(notice.tz).strftime("%H:%M %Z")
