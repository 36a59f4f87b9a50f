"""`powercycle seal RESOURCE...`: review a memory powercycle cannot vouch for, and seal it.

A memory (`powercycle:capacity`, `powercycle:nodegroups[:n]`, `powercycle:type`) is acted on
only when its seal checks (`core.tags.unsealed`). One written before seals existed, or by
someone else, is an error on every pass until an operator who can read powercycle's key
(`POWERCYCLE_KEY_SECRET`) reviews it here: the command prints what the memory holds, checks
sizes against the resource's current maximum (never above it) and a type's name, and seals
it: on `--yes`, or when asked on a terminal. Without a terminal and without `--yes` it asks
nothing and seals nothing.

RESOURCE is found as `untag` finds it, through the providers of every kind; what a memory
holds and what it is checked against is its kind's (`providers.base.Sealer`).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from powercycle import aws
from powercycle.aws.sealkey import KeyUnavailable, SealKey, secret_region
from powercycle.cli.run import settings
from powercycle.cli.tagging import Target, find, finish
from powercycle.core.seal import sealed
from powercycle.core.tags import TagError, seal_tag
from powercycle.providers import Memory, Sealer


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
    targets = find(args.resources, config)
    region = secret_region(config.key_secret, config.regions)
    key = SealKey(config.key_secret, region, max_age=config.secret_max_age_s)
    for target in targets:
        if target.error is None:
            _review(target, key, yes=args.yes)
    return finish(args, targets)


def _review(target: Target, key: SealKey, *, yes: bool) -> None:
    sealer, found = target.tagger, target.found
    memory: Memory | None = None
    if isinstance(sealer, Sealer) and found is not None:
        try:
            memory = sealer.memory(found)
        except (TagError, ValueError) as exc:
            target.error = f"not sealed: {exc}"
            return
    if memory is None or found is None or not isinstance(sealer, Sealer):
        target.done = "no memory to seal"
        return
    print(f"{target.ref}: {memory.shown}", file=sys.stderr)
    if not yes:
        if not sys.stdin.isatty():
            target.error = "not sealed: pass --yes to seal it (no terminal to ask on)"
            return
        if input(f"seal {memory.name} on {target.ref}? [y/N] ").strip().lower() not in (
            "y",
            "yes",
        ):
            target.done = "not sealed"
            return
    name = seal_tag(memory.name)
    try:
        value = sealed(key.get(), sealer.seal_arn(found), memory.name, memory.values)[name]
        errors = sealer.record(name, {found.id: value})  # through the kind's own tag writing
    except KeyUnavailable as exc:
        target.error = str(exc)
        return
    except aws.AWS_ERRORS as exc:
        target.error = aws.describe_error(exc)
        return
    target.error = errors.get(found.id)
    if target.error is None:
        target.done = f"sealed {', '.join(sorted(memory.values))}"
