"""`powercycle tag`, `untag`, `snooze`: the tags an operator sets, written for them.

RESOURCE is an id (an EC2 instance's `i-...`), a name (an EC2 instance's Name tag, an Auto
Scaling group's or an EKS cluster's name) or an ARN (whose region is used). Each is looked
for, through the providers of every kind, in every account and region the Lambda scans
(`--region`, repeatable, narrows the regions); a name held by several resources is refused,
listing them, and nothing is written to any of them.

* `tag` validates the value first, as `check` does, and refuses one a run would refuse
  or that cannot be a tag value (over 256 characters); warnings are printed and the tag
  is still written. On a kind whose service refuses JSON in a tag (`Kind.json_tags`
  False: RDS, ECS), or on every kind with `--tag-safe`, a value that is not tag-safe is
  written as a form the service takes: an inline JSON schedule with an uptime twin (the
  same transitions, `core.uptime.to_uptime`) as that twin, saying so; any other is
  refused, naming the forms that are: before any call when every ref can only be such a
  kind (an ARN) or with `--tag-safe`, else once the resources are found, before anything
  is written.
* `untag` removes the schedule tag and every `powercycle:*` tag (state, snooze, the
  bookkeeping of attempts and operations): the scheduler forgets it. It refuses while the
  resource carries a memory (sizes or a type powercycle gives back at the next start),
  saying what would be lost, unless `--memories`.
* `snooze` writes `powercycle:skip-until`: the scheduler leaves it alone until then
  (`--until TIME`, `--for 3h`, or `--until-next-start`: each resource's own next start).
* `unsnooze` removes `powercycle:skip-until`: the next pass schedules it again.

Each ends with what the next pass will do to each resource and when (`cli.preview`: a
dry-run pass over just those resources, with their tags read back, in `plan`'s words).
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
from powercycle.cli.preview import NextPass, describe, next_passes, next_start, untagged
from powercycle.cli.run import EXIT_FAILED, EXIT_OK, settings
from powercycle.config import Config
from powercycle.core import uptime
from powercycle.core.schedule import ScheduleError, format_utc
from powercycle.core.tags import SEAL_PREFIX, is_memory, tag_safe
from powercycle.engine import Outcome
from powercycle.providers import REGISTRY, Found, Kind, Provider, Tagger
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
    next: NextPass | None = None


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
    tag.add_argument(
        "--tag-safe",
        action="store_true",
        help="write only tag-safe values on every kind (a tagging policy that imposes "
        "RDS's characters everywhere): inline JSON as its uptime twin, else refused",
    )
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
    until.add_argument(
        "--until-next-start",
        action="store_true",
        help="until each resource's next scheduled start (no stop before it)",
    )
    unsnooze = sub.add_parser(
        "unsnooze",
        parents=[common],
        help="end a snooze: the next pass schedules the resources again",
        description="Remove powercycle:skip-until: the next pass follows the schedule again.",
    )
    unsnooze.add_argument("resources", **resources)


def tag(args: argparse.Namespace, now: datetime) -> int:
    config = settings(args)
    try:
        checked = validate(args.schedule, config)
    except ScheduleError as exc:
        print(f"refused, nothing tagged: invalid schedule: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for warning in checked.warnings:
        warn(warning)
    value, twin = args.schedule, checked.uptime  # inline JSON's tag-safe twin, if any
    if not tag_safe(value) and twin is None:
        if args.tag_safe:
            print(f"refused, nothing tagged: {_not_taken(None, value)}", file=sys.stderr)
            return EXIT_FAILED
        kinds = [_kinds_of(ref) for ref in args.resources]
        if all(k and not any(kind.json_tags for kind in k) for k in kinds):
            print(f"refused, nothing tagged: {_not_taken(kinds[0][0], value)}", file=sys.stderr)
            return EXIT_FAILED
    targets = find(args.resources, config)
    safe: list[Target] = []
    for target in targets:
        refuses = target.error is None and (args.tag_safe or not REGISTRY[target.kind].json_tags)
        if refuses and not tag_safe(value):
            if twin is None:
                target.error = (
                    f"refused, nothing tagged: {_not_taken(REGISTRY[target.kind], value)}"
                )
                continue
            safe.append(target)
        excluded = config.excluded_by(target.tags) if target.error is None else None
        if excluded:
            warn(f"{target.ref} carries {excluded}: excluded, the scheduler will not touch it")
    written = f"tagged {config.tag}"
    write([t for t in targets if t not in safe], {config.tag: value}, written)
    if twin is not None:
        write(safe, {config.tag: twin}, f"{written}: written as `{twin}`, its tag-safe twin")
    foresee(config, targets, now)
    return finish(args, targets)


def _kinds_of(ref: str) -> list[Kind]:
    """The kinds `ref` can only name (its ARN or id shape); empty: a name, any kind."""
    return [kind for kind in REGISTRY.values() if kind.claims(ref)]


def _not_taken(kind: Kind | None, value: str) -> str:
    """Why `value` is refused on a kind whose service refuses JSON in a tag (None: on
    every kind, `--tag-safe`)."""
    where = f"{kind.title} tags take" if kind else "with --tag-safe, tags take"
    what = (
        "an inline JSON schedule without an uptime twin (one with skip dates, enforce, "
        "maxRuntime, calendars or crons the uptime form cannot say)"
        if uptime.shape(value) == "json"
        else "this value"
    )
    return (
        f"{where} only letters, digits, spaces and _ . : / = + - @, so {what} cannot be "
        "written there; use the uptime form (`Mon-Fri 08:00-17:55 Europe/London`), a "
        "schedule library name (`office-hours`, from POWERCYCLE_SCHEDULES) or a URL "
        "(https:// or s3://, without #name)"
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
            target.next = untagged(config)
    return finish(args, targets)


def snooze(args: argparse.Namespace, now: datetime) -> int:
    config = settings(args)
    if args.until_next_start:
        targets = find(args.resources, config)
        for target, until in next_starts(config, targets, now):
            value = format_utc(until)
            write([target], {config.skip_until_tag: value}, f"snoozed until {value}")
        foresee(config, targets, now)
        return finish(args, targets)
    until = parse_time(args.until, now) if args.until else now + parse_duration(args.duration)
    if until <= now:
        raise UsageError(f"--until {args.until!r} is not in the future")
    value = format_utc(until)
    targets = find(args.resources, config)
    write(targets, {config.skip_until_tag: value}, f"snoozed until {value}")
    foresee(config, targets, now)
    return finish(args, targets)


def unsnooze(args: argparse.Namespace, now: datetime) -> int:
    config = settings(args)
    targets = find(args.resources, config)
    for target in targets:
        if target.error is not None:
            continue
        if config.skip_until_tag not in target.tags:
            target.done = "not snoozed, nothing removed"
            continue
        try:
            remove(target, [config.skip_until_tag])
        except aws.AWS_ERRORS as exc:
            target.error = aws.describe_error(exc)
        else:
            target.done = f"unsnoozed (was until {target.tags[config.skip_until_tag]})"
    foresee(config, targets, now)
    return finish(args, targets)


# --- what the next pass will do ----------------------------------------------------------


def foresee(config: Config, targets: Sequence[Target], now: datetime) -> None:
    """Set each written target's `next`: what the next pass will do to it, and when."""
    for target, outcome in _passes(config, targets, now):
        target.next = outcome if isinstance(outcome, NextPass) else (describe(outcome, now))


def next_starts(
    config: Config, targets: Sequence[Target], now: datetime
) -> list[tuple[Target, datetime]]:
    """Each target's next scheduled start (from the pass's own schedule resolution); a
    target without one gets the error saying why, and nothing is written to it."""
    found: list[tuple[Target, datetime]] = []
    for target, outcome in _passes(config, targets, now):
        if isinstance(outcome, NextPass):
            target.error = f"refused, nothing written: {outcome.sentence}"
            continue
        start = next_start(outcome, now)
        if isinstance(start, str):
            target.error = f"refused, nothing written: {start}"
        else:
            found.append((target, start))
    return found


def _passes(
    config: Config, targets: Sequence[Target], now: datetime
) -> list[tuple[Target, Outcome | NextPass]]:
    """A dry-run pass over the targets found (by the provider that found each): each
    target's outcome, or the NextPass saying why there is none."""
    done = [t for t in targets if t.error is None and t.tagger is not None]
    by_provider: dict[Provider, list[str]] = {}
    for target in done:
        assert target.tagger is not None
        by_provider.setdefault(target.tagger, []).append(target.id)
    outcomes = next_passes(config, by_provider, now)
    answers: list[tuple[Target, Outcome | NextPass]] = []
    for target in done:
        assert target.tagger is not None
        found = outcomes.get((target.tagger, target.id))
        answers.append((target, untagged(config) if found is None else found))
    return answers


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
                    **({"next_pass": t.next.to_dict()} if t.next else {}),
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
        for t in targets:
            if t.next is not None and not t.error:
                print(f"{t.ref}: {t.next.sentence}")
    return EXIT_FAILED if any(t.error for t in targets) else EXIT_OK
