"""`powercycle stats`: what the scheduler did over a period, read back from CloudWatch.

Each pass writes its counts as CloudWatch Embedded Metric Format in its log (namespace
`powercycle`); this command sums them per kind with `GetMetricData` (one call per 500
queries): started, stopped, failed, errors, deferred and hours off.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from powercycle import aws
from powercycle.cli.output import Output, UsageError
from powercycle.cli.run import EXIT_OK, settings
from powercycle.report import metrics


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    stats = sub.add_parser(
        "stats",
        parents=[common],
        help="what the scheduler did over a period (CloudWatch metrics)",
        description="Started, stopped, failed, errors, deferred and hours off per kind, "
        "summed from the metrics each pass writes (namespace powercycle). Reads the "
        "region the function runs in (--region, else the profile's).",
    )
    stats.add_argument(
        "--since", default="7d", metavar="PERIOD", help="30m, 12h, 7d, 2w (default 7d)"
    )


def run(args: argparse.Namespace, now: datetime) -> int:
    try:
        since = metrics.parse_since(args.since)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config = settings(args)
    region = config.regions[0] if config.regions else aws.default_region()
    if not region:
        raise UsageError("no region: give --region (where the function writes its logs)")
    report = metrics.stats(aws.client("cloudwatch", region), since=since, now=now)
    out = Output.choose(args.json)
    if out.json:
        out.document(report)
    else:
        print(metrics.format_stats(report))
    return EXIT_OK
