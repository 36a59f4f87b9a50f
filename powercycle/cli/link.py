"""`powercycle link RESOURCE --wake --days N`: a signed link that starts a stopped resource.

A bookmark for the person who needs the demo box on Saturday: opening it shows a page;
its button starts the resource now, and the schedule stops it at its next scheduled stop.
The link names that resource alone and works for `--days` (1 to 90). It is signed with
powercycle's key (`POWERCYCLE_KEY_SECRET`: the operator running this needs
`secretsmanager:GetSecretValue` on it, as for `powercycle seal`).

The address is `--url`, else `POWERCYCLE_LINK_URL`, else the `LinkUrl` output of the stack
(`--stack`, default `powercycle`). RESOURCE is found as `snooze` finds it; an excluded
(production) resource, or one without the schedule tag, gets no link.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from powercycle import aws
from powercycle.aws.sealkey import KeyUnavailable, SealKey, secret_region
from powercycle.cli.deploy import DEFAULT_STACK
from powercycle.cli.output import UsageError
from powercycle.cli.run import EXIT_FAILED, EXIT_OK, settings
from powercycle.cli.stack import describe_stack, outputs_of
from powercycle.cli.tagging import find
from powercycle.config import Config
from powercycle.core import links


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    link = sub.add_parser(
        "link",
        parents=[common],
        help="print a signed link that starts a stopped resource (until its next stop)",
        description="Print a signed wake link: opening it shows a page whose button starts "
        "the resource now; the schedule stops it at its next scheduled stop.",
    )
    link.add_argument("resource", metavar="RESOURCE", help="an id, a name or an ARN")
    link.add_argument("--wake", action="store_true", required=True, help="a wake link")
    link.add_argument(
        "--days", type=int, default=1, help=f"how long the link works (1-{links.MAX_WAKE_DAYS})"
    )
    link.add_argument("--url", default=None, help="the function URL (default: see below)")
    link.add_argument("--stack", default=DEFAULT_STACK, help="stack whose LinkUrl output to use")


def run(args: argparse.Namespace, now: datetime) -> int:
    if not 1 <= args.days <= links.MAX_WAKE_DAYS:
        raise UsageError(f"--days {args.days}: a wake link lasts 1 to {links.MAX_WAKE_DAYS} days")
    config = settings(args)
    (target,) = find([args.resource], config)
    refused = target.error
    if refused is None and config.excluded_by(target.tags):
        refused = f"carries {config.excluded_by(target.tags)}: excluded, links never act on it"
    if refused is None and config.tag not in target.tags:
        refused = f"has no schedule tag {config.tag}: links act on scheduled resources only"
    if refused is not None:
        print(f"powercycle: {target.ref}: {refused}; no link made", file=sys.stderr)
        return EXIT_FAILED
    base = _base(args, config)
    key = SealKey(config.key_secret, secret_region(config.key_secret, config.regions))
    found = target.found
    account = found.account if found is not None else ""
    link = links.wake(
        account=account,
        region=target.region,
        kind=target.kind,
        resource=target.id,
        now=now,
        days=args.days,
    )
    try:
        token = links.sign(key.get(), link)
    except KeyUnavailable as exc:
        print(f"powercycle: {exc}; no link made", file=sys.stderr)
        return EXIT_FAILED
    name = target.tags.get("Name") or target.id
    print(
        f"wake link for {target.kind} {name} in {target.region}, valid until "
        f"{link.expires:%Y-%m-%d %H:%M} UTC:",
        file=sys.stderr,
    )
    print(links.url(base, token))
    return EXIT_OK


def _base(args: argparse.Namespace, config: Config) -> str:
    given = args.url or (config.link_url if config.link_url != "auto" else None)
    if given:
        if not given.startswith("https://"):
            raise UsageError(f"--url {given[:60]!r} is not an https:// function URL")
        return str(given).rstrip("/")
    region = config.regions[0] if config.regions else None
    if region is None:
        raise UsageError("no region to find the stack in: pass --region or --url")
    stack = describe_stack(aws.client("cloudformation", region), args.stack)
    url = outputs_of(stack).get("LinkUrl") if stack else None
    if not url:
        raise UsageError(
            f"no function URL: pass --url, set POWERCYCLE_LINK_URL, or deploy stack "
            f"{args.stack!r} with links on (its LinkUrl output) in {region}"
        )
    return url.rstrip("/")
