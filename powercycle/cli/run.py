"""`powercycle run`, `start`, `stop`: the Lambda's passes, from a terminal.

`run` is one scheduling pass (the Lambda's scheduled event); `start`/`stop` are its
manual payloads (`instanceIds`, `clusterNames`), with the same guards: an excluded
resource, an unreadable one or an Auto Scaling member is refused, nothing is recorded.

Before scanning, the CLI asks STS who it is (one call): it names the account in its
report, and a missing credential or an unreachable endpoint fails there, in one line with
a hint, instead of once per region.

Exit codes (every fleet command):
  0  everything went through (or there was nothing to do)
  1  a resource failed or was refused, or an error was reported for one
  2  usage, settings, credentials or network: nothing could be done
  3  the pass ran out of time: some resources were deferred to the next pass, none failed
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from powercycle import app, aws
from powercycle.cli.output import Output, Progress, UsageError, note, warn
from powercycle.config import Config
from powercycle.engine import Outcome, Summary
from powercycle.runtime.budget import Budget
from powercycle.runtime.text import plural

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DEFERRED = 0, 1, 2, 3
# `ec2:eu-west-1`, `eks:123456789012:eu-west-1`: the id of an error that is no resource's.
_TARGET = re.compile(r"^[a-z0-9]+:[a-z0-9:-]+$")
RUN_HEADERS = ("resource", "Name", "kind", "action", "reason", "result / error")


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    run = sub.add_parser(
        "run",
        parents=[common],
        help="one scheduling pass over the tagged resources",
        description="One scheduling pass, as the Lambda makes it every 15 minutes.",
    )
    run.add_argument("--dry-run", action="store_true", help="plan only: no action, no tag")
    for action in ("start", "stop"):
        manual = sub.add_parser(
            action,
            parents=[common],
            help=f"{action} resources now, through the scheduler's guards",
            description=f"{action.capitalize()} resources now, as the "
            "Lambda's manual payload does: excluded resources are refused, nothing is "
            "recorded (the schedule carries on).",
        )
        manual.add_argument(
            "resources", nargs="+", metavar="RESOURCE", help="an id, a name or an ARN"
        )
        manual.add_argument("--dry-run", action="store_true", help="say what would be done")


def settings(args: argparse.Namespace, *, dry_run: bool = False) -> Config:
    """Settings from the environment under the command line's `--region` (which wins over
    every region the environment or profile names) and dry run; `--profile` is already in
    force (`dispatch`). Credentials are looked for here, once, before any command reads the
    fleet: none at all is one line naming credentials (exit 2), not one error per region."""
    regions = tuple(args.region) if args.region else None
    for region in regions or ():
        check_region(region)
    config = app.settings(dry_run=True if dry_run else None, regions=regions)
    require_credentials()
    return config


def require_credentials() -> None:
    """Raise botocore's NoCredentialsError when no credential source has any (no call to
    AWS: botocore's own chain, as the AWS CLI walks it)."""
    from botocore.exceptions import NoCredentialsError

    if aws.session().get_credentials() is None:
        raise NoCredentialsError()


def check_region(region: str) -> None:
    """Refuse a region name no AWS partition knows (a typo scans nothing, silently)."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        return  # a local endpoint (moto) takes any name
    known = aws.known_regions()
    if known and region not in known:
        raise UsageError(
            f"unknown region {region!r} (hint: `aws ec2 describe-regions` lists the regions "
            "of your account)"
        )


def accounts(config: Config) -> list[str]:
    """The accounts a pass covers: ours (asked of STS, which also proves the credentials
    work) and those of the roles it assumes."""
    from botocore.config import Config as BotoConfig

    found = []
    if not config.skip_own_account:
        sts = aws.session().create_client(
            "sts",
            region_name=config.regions[0] if config.regions else "us-east-1",
            config=BotoConfig(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5),
        )
        found.append(str(sts.get_caller_identity()["Account"]))
    found += [arn.split(":")[4] for arn in config.account_roles]
    return found


def scope(config: Config, account_ids: Sequence[str]) -> str:
    regions = "all enabled regions" if config.all_regions else ", ".join(config.regions)
    return (
        f"account {', '.join(account_ids) or '-'}, regions {regions}, kinds "
        f"{', '.join(config.kinds)}, tag {config.tag}"
    )


def run(args: argparse.Namespace, now: datetime) -> int:
    config = settings(args, dry_run=args.dry_run)
    account_ids = accounts(config)
    where = scope(config, account_ids)
    with Progress(f"scanning {where}"):
        summary = scan(config, now)
    return report(args, config, summary, where)


def scan(config: Config, now: datetime) -> Summary:
    """A pass over every account and region of the settings, as the Lambda makes it."""
    return app.scan(config, now)


def manual(args: argparse.Namespace, now: datetime) -> int:
    """Act on each resource named, over every account and region of the settings: an id or
    ARN goes to its kind; a name is looked up first (refused when several hold it)."""
    config = settings(args, dry_run=args.dry_run)
    account_ids = accounts(config)
    budget = Budget(config.budget_seconds)
    summaries: list[Summary] = []
    with Progress(f"{args.command} in {scope(config, account_ids)}"):
        config, by_kind, errors = app.route(config, args.resources, budget)
        every, target_errors = app.scanned_providers(config, budget) if by_kind else ([], [])
        for kind, refs in by_kind.items():
            mine = [p for p in every if p.kind == kind]
            summaries.append(
                app.manual(config, kind, refs, args.command, now, budget=budget, providers=mine)
            )
    summary = merge(summaries, now, config.dry_run)
    summary.errors.extend(errors + target_errors)
    return report(args, config, summary, scope(config, account_ids))


def merge(summaries: Sequence[Summary], now: datetime, dry_run: bool) -> Summary:
    if len(summaries) == 1:
        return summaries[0]
    merged = Summary(now=now, dry_run=dry_run)
    for summary in summaries:
        merged.scanned += summary.scanned
        merged.actions += summary.actions
        merged.errors += summary.errors
        merged.warnings += summary.warnings
        merged.scopes += summary.scopes
        merged.counts.update(summary.counts)
        merged.reasons.update(summary.reasons)
        merged.outcomes += summary.outcomes
    return merged


def report(args: argparse.Namespace, config: Config, summary: Summary, where: str) -> int:
    """The summary as a table (terminal) or JSON; the exit code."""
    out = Output.choose(args.json)
    data = summary.to_dict()
    note(f"{'dry run: ' if config.dry_run else ''}{where}")
    if out.json:
        out.document(data)
    else:
        out.table(RUN_HEADERS, [run_row(o) for o in sorted(summary.outcomes, key=_order)])
        for error in unplaced_errors(summary):  # a region's, or a name found nowhere
            print(f"error: {error['id']}: {error['error']}")
        for warning in summary.warnings:
            warn(f"{warning.get('id', '')}: {warning.get('warning') or warning.get('error', '')}")
        counts = ", ".join(f"{n} {k}" for k, n in sorted(summary.counts.items()))
        print(f"{plural(summary.scanned, 'resource')}: {counts or 'nothing done'}")
    if summary.scanned == 0 and not summary.errors and args.command == "run":
        warn(f"found nothing tagged {config.tag} in {where}; check the region and the tag")
    return exit_code(summary)


def exit_code(summary: Summary) -> int:
    deferred = deferred_scopes(summary)
    errors = [e for e in summary.errors if e.get("id") not in deferred]
    if errors or any(o.result in ("failed", "error") for o in summary.outcomes):
        reached = summary.scanned or any(s.get("status") == "ok" for s in summary.scopes)
        if not reached and len(target_errors(summary)) == len(summary.errors):
            return EXIT_USAGE  # not one region could be read: settings or access
        return EXIT_FAILED
    if deferred or any(o.result == "deferred" for o in summary.outcomes):
        return EXIT_DEFERRED
    return EXIT_OK


def deferred_scopes(summary: Summary) -> set[str]:
    """Ids of the error entries of regions the pass had no time left to scan."""
    return {
        ":".join(filter(None, (s.get("kind"), s.get("account"), s.get("region"))))
        for s in summary.scopes
        if s.get("status") == "deferred"
    }


def target_errors(summary: Summary) -> list[dict[str, Any]]:
    """Errors that belong to no resource: a region, account or kind that failed whole."""
    ids = {o.resource.id for o in summary.outcomes}
    return [
        e for e in summary.errors if e.get("id") not in ids and _TARGET.match(str(e.get("id", "")))
    ]


def unplaced_errors(summary: Summary) -> list[dict[str, Any]]:
    """Errors on no resource's line: a region's, an account's, or a resource named on the
    command line and not found (`stop i-0123...`), each once."""
    ids = {o.resource.id for o in summary.outcomes}
    return [e for e in summary.errors if e.get("id") not in ids]


def _order(outcome: Outcome) -> tuple[int, str, str]:
    acted = 0 if outcome.decision is not None and outcome.decision.action else 1
    return (acted, outcome.resource.kind, name_of(outcome))


def name_of(outcome: Outcome) -> str:
    return str(outcome.resource.tags.get("Name", ""))


def run_row(outcome: Outcome) -> list[str]:
    action = outcome.decision.action if outcome.decision is not None else None
    result = outcome.result + (f": {outcome.error}" if outcome.error else "")
    if outcome.warning and not outcome.error:  # a start on a fallback type, a clamped size
        result += f" ({outcome.warning})"
    return [
        outcome.resource.id,
        name_of(outcome) or "-",
        outcome.resource.kind,
        action or "-",
        outcome.reason or "-",
        result,
    ]
