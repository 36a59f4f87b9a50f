"""`powercycle tag`, `untag`, `snooze`: the tags an operator sets, written for them.

RESOURCE is an id (an EC2 instance's `i-...`), a name (an EC2 instance's Name tag, an Auto
Scaling group's or an EKS cluster's name) or an ARN (whose region is used). Each is looked
for, through the providers of every kind, in every account and region the Lambda scans
(`--region`, repeatable, narrows the regions); a name held by several resources is refused,
listing them, and nothing is written to any of them.

* `tag` validates the value first, as `check` does, and refuses one a run would refuse
  or that cannot be a tag value (over 256 characters); warnings are printed and the tag
  is still written.
* `untag` removes the schedule tag and every `powercycle:*` tag (state, snooze, the
  bookkeeping of attempts and operations): the scheduler forgets it. It refuses while the
  resource carries a memory (sizes or a type powercycle gives back at the next start),
  saying what would be lost, unless `--memories`.
* `snooze` writes `powercycle:skip-until`: the scheduler leaves it alone until then.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from powercycle import app, aws
from powercycle.cli.check import validate
from powercycle.cli.output import Output, UsageError, parse_duration, parse_time, warn
from powercycle.cli.run import EXIT_FAILED, EXIT_OK, settings
from powercycle.config import Config
from powercycle.core.schedule import ScheduleError, format_utc
from powercycle.core.tags import SEAL_PREFIX, is_memory
from powercycle.providers import REGISTRY, Found, Tagger
from powercycle.runtime.budget import Budget

STATE_PREFIX = "powercycle:"
HEADERS = ("resource", "Name", "kind", "region", "result")


@dataclass
class Target:
    """One resource named on the command line, as found."""

    ref: str
    kind: str = ""
    id: str = ""
    region: str = ""
    arn: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    done: str = ""
    found: Found | None = field(default=None, repr=False)
    tagger: Tagger | None = field(default=None, repr=False)


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    resources = {"nargs": "+", "metavar": "RESOURCE", "help": "an id, a name or an ARN"}
    tag = sub.add_parser(
        "tag",
        parents=[common],
        help="write a schedule tag (validated first)",
        description="Validate a schedule as `check` does, then write it to the resources' "
        "schedule tag.",
    )
    tag.add_argument("resources", **resources)
    tag.add_argument("--schedule", required=True, metavar="VALUE", help="the tag value")
    untag = sub.add_parser(
        "untag",
        parents=[common],
        help="remove the schedule tag and the powercycle:* tags",
        description="Remove the schedule tag and every powercycle:* tag: the scheduler "
        "forgets the resource.",
    )
    untag.add_argument("resources", **resources)
    untag.add_argument(
        "--memories",
        action="store_true",
        help="remove the sizes or type powercycle remembers too (they are then lost)",
    )
    snooze = sub.add_parser(
        "snooze",
        parents=[common],
        help="leave resources alone until a time",
        description="Write powercycle:skip-until: no scheduled action until then.",
    )
    snooze.add_argument("resources", **resources)
    until = snooze.add_mutually_exclusive_group(required=True)
    until.add_argument("--until", metavar="TIME", help="ISO-8601, e.g. 2026-11-30T08:00Z")
    until.add_argument("--for", dest="duration", metavar="DURATION", help="30m, 3h, 2d, 1w")


def tag(args: argparse.Namespace, now: datetime) -> int:
    config = settings(args)
    try:
        checked = validate(args.schedule, config)
    except ScheduleError as exc:
        print(f"refused, nothing tagged: invalid schedule: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for warning in checked.warnings:
        warn(warning)
    targets = find(args.resources, config)
    for target in targets:
        excluded = config.excluded_by(target.tags) if target.error is None else None
        if excluded:
            warn(f"{target.ref} carries {excluded}: excluded, the scheduler will not touch it")
        if target.error is None:
            target.error = tag_safe_refusal(target.kind, args.schedule)
    write(targets, {config.tag: args.schedule}, f"tagged {config.tag}")
    return finish(args, targets)


# What a tag value may hold on a service that takes no JSON in it (RDS's documented
# pattern `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`): letters, digits, spaces and these.
TAG_SAFE = frozenset("_.:/=+-@")


def tag_safe_refusal(kind: str, value: str) -> str | None:
    """Why `value` cannot be written on a resource of `kind` (its service refuses it), or
    None. Only kinds declaring `json_tags=False` are checked."""
    declared = REGISTRY.get(kind)
    if declared is None or declared.json_tags:
        return None
    bad = sorted({c for c in value if not (c.isalnum() or c.isspace() or c in TAG_SAFE)})
    if not bad:
        return None
    return (
        f"refused, nothing tagged: a {declared.title}'s tags cannot hold "
        f"{' '.join(repr(c) for c in bad)}; write the uptime form "
        "(`Mon-Fri 08:00-17:55 Europe/London`), a schedule library name or a URL"
    )


def untag(args: argparse.Namespace, now: datetime) -> int:
    config = settings(args)
    targets = find(args.resources, config)
    for target in targets:
        if target.error is not None:
            continue
        keys = [k for k in target.tags if k == config.tag or k.startswith(STATE_PREFIX)]
        held = sorted(k for k in keys if is_memory(k) and not k.startswith(SEAL_PREFIX))
        if held and not args.memories:
            lost = ", ".join(f"{k}={target.tags[k]}" for k in held)
            target.error = (
                f"refused, nothing removed: it holds {lost} (what powercycle gives back at "
                "its next start); start it first, or pass --memories to lose it"
            )
            continue
        if not keys:
            target.done = "nothing to remove"
            continue
        try:
            remove(target, keys)
        except aws.AWS_ERRORS as exc:
            target.error = aws.describe_error(exc)
        else:
            target.done = "removed " + ", ".join(sorted(keys))
    return finish(args, targets)


def snooze(args: argparse.Namespace, now: datetime) -> int:
    config = settings(args)
    until = parse_time(args.until, now) if args.until else now + parse_duration(args.duration)
    if until <= now:
        raise UsageError(f"--until {args.until!r} is not in the future")
    value = format_utc(until)
    targets = find(args.resources, config)
    write(targets, {config.skip_until_tag: value}, f"snoozed until {value}")
    return finish(args, targets)


# --- finding and tagging: through the providers of every account and region ------------


def find(refs: Sequence[str], config: Config) -> list[Target]:
    """Each ref as a Target: found (kind, id, region, tags) or with an error. Every kind
    is asked, whatever POWERCYCLE_KINDS says: a tag is written before a pass schedules."""
    targets = []
    for named in app.find(config, refs, Budget(config.budget_seconds)):
        target = Target(named.ref, error=named.error, tagger=named.tagger, found=named.found)
        if named.found is not None:
            f = named.found
            target.kind, target.id, target.region, target.arn = f.kind, f.id, f.region, f.arn
            target.tags = f.tags
        targets.append(target)
    return targets


def write(targets: Sequence[Target], tags: Mapping[str, str], done: str) -> None:
    """Write `tags` on every target found, through its provider's `record`."""
    groups: dict[int, list[Target]] = {}
    for target in targets:
        if target.error is None and target.tagger is not None:
            groups.setdefault(id(target.tagger), []).append(target)
    for group in groups.values():
        tagger = group[0].tagger
        assert tagger is not None
        errors: dict[str, str] = {}
        for key, value in tags.items():  # through the provider's own tag writing
            try:
                errors |= tagger.record(key, {t.id: value for t in group if t.id not in errors})
            except aws.AWS_ERRORS as exc:
                errors |= dict.fromkeys((t.id for t in group), aws.describe_error(exc))
        for target in group:
            target.error = errors.get(target.id)
            target.done = "" if target.error else done


def remove(target: Target, keys: Sequence[str]) -> None:
    assert target.tagger is not None and target.found is not None
    target.tagger.remove_tags(target.found, keys)


def finish(args: argparse.Namespace, targets: Sequence[Target]) -> int:
    out = Output.choose(args.json)
    if out.json:
        out.document(
            [
                {
                    "resource": t.ref,
                    "kind": t.kind or None,
                    "id": t.id or None,
                    "region": t.region or None,
                    "name": t.tags.get("Name"),
                    **({"error": t.error} if t.error else {"result": t.done}),
                }
                for t in targets
            ]
        )
    else:
        rows = [
            [
                t.ref,
                t.tags.get("Name", "-"),
                t.kind or "-",
                t.region or "-",
                f"error: {t.error}" if t.error else t.done,
            ]
            for t in targets
        ]
        out.table(HEADERS, rows)
    return EXIT_FAILED if any(t.error for t in targets) else EXIT_OK
