"""`powercycle tag`, `untag`, `snooze`: the tags an operator sets, written for them.

RESOURCE is an EC2 instance id (`i-...`), an EKS cluster name, or an EKS cluster ARN
(whose region is used). Instances and clusters are looked for in every region of the
command (`--region`, repeatable, else the profile's region).

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

from powercycle import aws
from powercycle.cli.check import validate
from powercycle.cli.output import Output, UsageError, parse_duration, parse_time, warn
from powercycle.cli.run import EXIT_FAILED, EXIT_OK, settings
from powercycle.config import Config
from powercycle.core.schedule import ScheduleError, format_utc
from powercycle.core.tags import SEAL_PREFIX, is_memory

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
    tags: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    done: str = ""


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    resources = {"nargs": "+", "metavar": "RESOURCE", "help": "EC2 instance id, EKS name or ARN"}
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
    write(targets, {config.tag: args.schedule}, f"tagged {config.tag}")
    return finish(args, targets)


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


# --- finding and tagging ----------------------------------------------------------------


def find(refs: Sequence[str], config: Config) -> list[Target]:
    """Each ref as a Target: found (kind, id, region, tags) or with an error."""
    targets = [Target(ref) for ref in refs]
    instances = [t for t in targets if t.ref.startswith("i-")]
    if instances:
        _find_instances(instances, config.regions)
    for target in targets:
        if not target.ref.startswith("i-"):
            _find_cluster(target, config.regions)
    return targets


def _find_instances(targets: Sequence[Target], regions: Sequence[str]) -> None:
    wanted = {t.ref: t for t in targets}
    for region in regions:
        missing = [ref for ref, t in wanted.items() if not t.kind]
        if not missing:
            break
        paginator = aws.client("ec2", region).get_paginator("describe_instances")
        # A filter, not InstanceIds=: an unknown id then means "not here", not a failure.
        for page in paginator.paginate(Filters=[{"Name": "instance-id", "Values": missing}]):
            for reservation in page.get("Reservations", ()):
                for instance in reservation.get("Instances", ()):
                    target = wanted[instance["InstanceId"]]
                    target.kind, target.id, target.region = "ec2", instance["InstanceId"], region
                    target.tags = {t["Key"]: t.get("Value", "") for t in instance.get("Tags", ())}
    for target in targets:
        if not target.kind:
            target.error = f"no EC2 instance {target.ref} in {', '.join(regions)}"


def _find_cluster(target: Target, regions: Sequence[str]) -> None:
    name, where = target.ref, list(regions)
    if target.ref.startswith("arn:"):
        parts = target.ref.split(":")
        if len(parts) < 6 or parts[2] != "eks" or not parts[5].startswith("cluster/"):
            target.error = "not an EC2 instance id, an EKS cluster name or an EKS cluster ARN"
            return
        name, where = parts[5].removeprefix("cluster/"), [parts[3]]
    for region in where:
        try:
            cluster = aws.client("eks", region).describe_cluster(name=name)["cluster"]
        except aws.AWS_ERRORS as exc:
            if aws.error_code(exc) == "ResourceNotFoundException":
                continue
            target.error = f"DescribeCluster {name} in {region}: {aws.describe_error(exc)}"
            return
        target.kind, target.id, target.region = "eks", name, region
        target.arn, target.tags = str(cluster["arn"]), dict(cluster.get("tags") or {})
        return
    target.error = f"no EKS cluster {name!r} in {', '.join(where)}"


def write(targets: Sequence[Target], tags: Mapping[str, str], done: str) -> None:
    ec2: dict[str, list[Target]] = {}
    for target in targets:
        if target.error is not None:
            continue
        if target.kind == "ec2":
            ec2.setdefault(target.region, []).append(target)
            continue
        try:
            aws.client("eks", target.region).tag_resource(resourceArn=target.arn, tags=dict(tags))
        except aws.AWS_ERRORS as exc:
            target.error = aws.describe_error(exc)
        else:
            target.done = done
    for region, group in ec2.items():
        try:
            aws.client("ec2", region).create_tags(
                Resources=[t.id for t in group],
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
        except aws.AWS_ERRORS as exc:
            for target in group:
                target.error = aws.describe_error(exc)
        else:
            for target in group:
                target.done = done


def remove(target: Target, keys: Sequence[str]) -> None:
    if target.kind == "ec2":
        aws.client("ec2", target.region).delete_tags(
            Resources=[target.id], Tags=[{"Key": k} for k in keys]
        )
    else:
        # One key per call: moto's UntagResource drops only the first of several tagKeys,
        # and a cluster carries a handful of our tags at most.
        eks = aws.client("eks", target.region)
        for key in keys:
            eks.untag_resource(resourceArn=target.arn, tagKeys=[key])


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
