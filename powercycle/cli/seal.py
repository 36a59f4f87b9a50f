"""`powercycle seal RESOURCE...`: review a memory powercycle cannot vouch for, and seal it.

A memory (`powercycle:capacity`, `powercycle:nodegroups[:n]`, `powercycle:type`) is acted on
only when its seal checks (`core.tags.unsealed`). One written before seals existed, or by
someone else, is an error on every pass until an operator who can read powercycle's key
(`POWERCYCLE_KEY_SECRET`) reviews it here: the command prints what the memory holds, checks
sizes against the resource's current maximum (never above it) and a type's name, and seals
it: on `--yes`, or when asked on a terminal. Without a terminal and without `--yes` it asks
nothing and seals nothing.

RESOURCE is an EC2 instance id, an EKS cluster name or ARN (found as `untag` finds them),
or an Auto Scaling group name or ARN.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from powercycle import aws
from powercycle.aws.sealkey import KeyUnavailable, SealKey, secret_region
from powercycle.cli.run import settings
from powercycle.cli.tagging import Target, find, finish
from powercycle.config import Config
from powercycle.core import tags as memory
from powercycle.core.seal import sealed
from powercycle.core.tags import CAPACITY, NODEGROUPS, TYPE, Capacity, TagError

# An Auto Scaling group's MaxSize as found (ref -> size): what its memory is checked against.
_MAXIMA: dict[str, int] = {}


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    seal = sub.add_parser(
        "seal",
        parents=[common],
        help="review and seal the sizes or type powercycle remembers on a resource",
        description="Show the memory a resource carries, check it against the resource as "
        "it is now, and seal it with powercycle's key (POWERCYCLE_KEY_SECRET).",
    )
    seal.add_argument("resources", nargs="+", metavar="RESOURCE", help="instance, cluster, group")
    seal.add_argument("--yes", action="store_true", help="seal without asking")


def run(args: argparse.Namespace, now: datetime) -> int:
    config = settings(args)
    targets = _find(args.resources, config)
    key = SealKey(config.key_secret, secret_region(config.key_secret, config.regions))
    for target in targets:
        if target.error is None:
            _review(target, key, config, yes=args.yes)
    return finish(args, targets)


def _find(refs: Sequence[str], config: Config) -> list[Target]:
    """Instances and clusters as `untag` finds them; the rest as Auto Scaling groups."""
    targets = find(refs, config)
    for target in targets:
        if target.error is None and target.kind == "asg":
            _find_group(target, [target.region])  # its MaxSize, checked against its memory
        elif target.error is not None and not target.ref.startswith(("i-", "arn:aws:eks")):
            _find_group(target, config.regions)
    return targets


def _find_group(target: Target, regions: Sequence[str]) -> None:
    name, where = target.ref, list(regions)
    if target.ref.startswith("arn:"):
        parts = target.ref.split(":")
        if len(parts) < 8 or parts[2] != "autoscaling":
            return  # the lookup's own error stands
        name, where = parts[7].removeprefix("autoScalingGroupName/"), [parts[3]]
    for region in where:
        found = aws.client("autoscaling", region).describe_auto_scaling_groups(
            AutoScalingGroupNames=[name]
        )["AutoScalingGroups"]
        if found:
            group = found[0]
            target.error, target.kind, target.id, target.region = None, "asg", name, region
            target.arn = str(group["AutoScalingGroupARN"])
            target.tags = {str(t["Key"]): str(t.get("Value", "")) for t in group.get("Tags", ())}
            _MAXIMA[target.ref] = int(group["MaxSize"])
            return


def _review(target: Target, key: SealKey, config: Config, *, yes: bool) -> None:
    try:
        found = _memory(target)
    except (TagError, ValueError) as exc:
        target.error = f"not sealed: {exc}"
        return
    if found is None:
        target.done = "no memory to seal"
        return
    name, values, shown = found
    print(f"{target.ref}: {shown}", file=sys.stderr)
    if not yes:
        if not sys.stdin.isatty():
            target.error = "not sealed: pass --yes to seal it (no terminal to ask on)"
            return
        if input(f"seal {name} on {target.ref}? [y/N] ").strip().lower() not in ("y", "yes"):
            target.done = "not sealed"
            return
    try:
        tags = sealed(key.get(), _arn(target), name, values)
    except KeyUnavailable as exc:
        target.error = str(exc)
        return
    seal = {memory.seal_tag(name): tags[memory.seal_tag(name)]}
    try:
        _write(target, seal)
    except aws.AWS_ERRORS as exc:
        target.error = aws.describe_error(exc)
    else:
        target.done = f"sealed {', '.join(sorted(values))}"


def _memory(target: Target) -> tuple[str, dict[str, str], str] | None:
    """(memory, its parts, what it holds in words), checked against the resource now."""
    tags = target.tags
    if target.kind == "asg" and CAPACITY in tags:
        sizes = Capacity.parse(tags[CAPACITY])
        top = _MAXIMA.get(target.ref, 0)
        if sizes.desired > top or sizes.min > top:
            raise TagError(
                f"{CAPACITY}={tags[CAPACITY]} asks for more than the group's maximum {top}"
            )
        shown = f"{CAPACITY} min,desired,max = {sizes.tag_value()} (group maximum now {top})"
        return CAPACITY, {CAPACITY: tags[CAPACITY]}, shown
    if target.kind == "ec2" and TYPE in tags:
        if not memory.is_instance_type(tags[TYPE]):
            raise TagError(f"{TYPE}={tags[TYPE]!r} is not an instance type")
        return TYPE, {TYPE: tags[TYPE]}, f"{TYPE} = {tags[TYPE]} (its own type, to give back)"
    if target.kind == "eks":
        remembered, parts = memory.remembered_sizes(tags)
        if remembered is None:
            return None
        tops = _nodegroup_maxima(target)
        for group, size in remembered.items():
            if group in tops and max(size.min, size.desired) > tops[group]:
                raise TagError(
                    f"node group {group!r} {size.as_list()} asks for more than its maximum "
                    f"{tops[group]}"
                )
        held = ", ".join(f"{g} {s.as_list()}" for g, s in sorted(remembered.items()))
        shown = f"{NODEGROUPS} ({len(parts)} parts): {held}"
        return NODEGROUPS, {k: tags[k] for k in parts}, shown
    return None


def _nodegroup_maxima(target: Target) -> Mapping[str, int]:
    eks = aws.client("eks", target.region)
    tops: dict[str, int] = {}
    for page in eks.get_paginator("list_nodegroups").paginate(clusterName=target.id):
        for name in page.get("nodegroups", ()):
            group = eks.describe_nodegroup(clusterName=target.id, nodegroupName=name)
            tops[name] = int((group["nodegroup"].get("scalingConfig") or {}).get("maxSize", 0))
    return tops


def _arn(target: Target) -> str:
    if target.kind != "ec2":
        return target.arn
    account = aws.account_id(region=target.region)
    return f"arn:aws:ec2:{target.region}:{account}:instance/{target.id}"


def _write(target: Target, tags: Mapping[str, str]) -> None:
    if target.kind == "ec2":
        aws.client("ec2", target.region).create_tags(
            Resources=[target.id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )
    elif target.kind == "asg":
        aws.client("autoscaling", target.region).create_or_update_tags(
            Tags=[
                {
                    "ResourceId": target.id,
                    "ResourceType": "auto-scaling-group",
                    "Key": k,
                    "Value": v,
                    "PropagateAtLaunch": False,
                }
                for k, v in tags.items()
            ]
        )
    else:
        aws.client("eks", target.region).tag_resource(resourceArn=target.arn, tags=dict(tags))
