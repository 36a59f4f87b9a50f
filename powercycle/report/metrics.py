"""Each pass's counts as CloudWatch metrics, without an API call; `stats` reads them back.

A pass writes CloudWatch Embedded Metric Format (EMF) lines beside its log lines, made and
printed by Powertools `Metrics` (no module here writes the envelope), and CloudWatch Logs
turns them into metrics in the namespace `powercycle`:

| metric | unit | per pass |
|---|---|---|
| `Scanned` | Count | resources found carrying the schedule tag |
| `Started`, `Stopped` | Count | actions carried out (`done`; a dry run's `planned` count nothing) |
| `Failed` | Count | actions that failed |
| `Errors` | Count | resources or regions the pass could not handle (see below) |
| `Deferred` | Count | resources left for the next pass when the time budget ran out |
| `HoursOff` | None | resources stopped at the end of the pass x the pass interval (0.25 h) |

An EMF document holds one value per dimension, and a pass meets several kinds and regions,
so a pass writes (`publish`):

* one document with the pass totals and no dimension (`emf_line`): the alarm on `Failed`
  watches that one metric, whatever kind failed;
* two more per (kind, region) it met (`emf_breakdown`), one under `Kind`, one under `Kind`
  + `Region`. Several lines of the same minute add up in a `Sum`, which is how `stats` reads
  them. Each document holds at most 7 metrics and 2 dimensions (EMF allows 100 and 30),
  however many kinds and regions a pass meets.

`Errors` counts the summary's `errors` less those that are a failed (or deferred) action's
own: such an action is `Failed` (or `Deferred`), not also `Errors`. Where an error names no
`kind`/`region`, they come from an id of the form `kind:region` (a provider that failed as a
whole, e.g. `ec2:eu-west-1`), else they are `unknown`: the error still counts in the totals
and under `Kind=unknown`. The `fleet` entry (`fleet_counts`) gives `Scanned` and `HoursOff`
per kind and region; without it `Scanned` comes from the summary's `scopes` and there is
no `HoursOff`.

Hours off. CloudWatch cannot integrate a gauge over time for us, so each scheduled pass
publishes the hours it accounts for: the resources it leaves stopped times the interval
between passes (`HoursOff`). Summed over a period, that is the resource-hours spent off.
Only scheduled passes publish it (`pass_interval=None` otherwise: a manual or CLI run would
count the same hours twice), and a dry run does not.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from powercycle.providers import REGISTRY

if TYPE_CHECKING:
    from aws_lambda_powertools.metrics import Metrics

NAMESPACE = "powercycle"
PASS_INTERVAL = timedelta(minutes=15)
UNKNOWN = "unknown"


def kind_names() -> tuple[str, ...]:
    """Every registered kind, and `unknown` (an error that names none)."""
    return (*REGISTRY, UNKNOWN)


COUNTS = ("Scanned", "Started", "Stopped", "Failed", "Errors", "Deferred")
HOURS_OFF = "HoursOff"
# What `stats` reads back, and the report's key for each.
STATS = {
    "Started": "started",
    "Stopped": "stopped",
    "Failed": "failed",
    "Errors": "errors",
    "Deferred": "deferred",
    HOURS_OFF: "hoursOff",
}
_QUERY_BATCH = 500  # GetMetricData's limit of queries per call
_SINCE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_SINCE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

Group = tuple[str, str]  # (kind, region)


# --- writing: EMF -------------------------------------------------------------------


def emf_line(
    summary: Mapping[str, Any], *, now: datetime, pass_interval: timedelta | None = PASS_INTERVAL
) -> dict[str, Any]:
    """The pass totals as one EMF document (no dimension)."""
    return dict(_totals(summary, now, pass_interval).serialize_metric_set())


def emf_breakdown(
    summary: Mapping[str, Any], *, now: datetime, pass_interval: timedelta | None = PASS_INTERVAL
) -> list[dict[str, Any]]:
    """Two EMF documents per (kind, region) met by the pass: under `Kind`, then under
    `Kind` + `Region`."""
    return [dict(m.serialize_metric_set()) for m in _breakdown(summary, now, pass_interval)]


def publish(
    summary: Mapping[str, Any], *, now: datetime, pass_interval: timedelta | None = PASS_INTERVAL
) -> int:
    """Print the pass's EMF documents (totals first), one line each; how many.

    Powertools `Metrics` prints them to stdout, where Lambda hands them to CloudWatch Logs
    (and `POWERTOOLS_METRICS_DISABLED=true` silences them).
    """
    documents = [_totals(summary, now, pass_interval), *_breakdown(summary, now, pass_interval)]
    for document in documents:
        document.flush_metrics()
    return len(documents)


def _totals(summary: Mapping[str, Any], now: datetime, pass_interval: timedelta | None) -> Metrics:
    groups = _groups(summary, pass_interval)
    totals: defaultdict[str, float] = defaultdict(float)
    for values in groups.values():
        for name, value in values.items():
            totals[name] += value
    # Totals are the summary's own figures where it has them: they count what no group
    # could be given (a resource scanned in a pass that reports no `fleet`).
    totals["Scanned"] = int(summary.get("scanned", 0))
    totals["Deferred"] = max(totals["Deferred"], int(summary.get("counts", {}).get("deferred", 0)))
    return _document({}, totals, _metric_names(pass_interval, summary), now)


def _breakdown(
    summary: Mapping[str, Any], now: datetime, pass_interval: timedelta | None
) -> list[Metrics]:
    names = _metric_names(pass_interval, summary)
    out = []
    for (kind, region), values in sorted(_groups(summary, pass_interval).items()):
        out.append(_document({"Kind": kind}, values, names, now))
        out.append(_document({"Kind": kind, "Region": region}, values, names, now))
    return out


def _document(
    dimensions: Mapping[str, str],
    values: Mapping[str, float],
    names: Sequence[str],
    now: datetime,
) -> Metrics:
    """One EMF document of Powertools `Metrics`, in a set of its own (not the class-wide
    one `Metrics()` shares), without Powertools' `service` dimension."""
    from aws_lambda_powertools.metrics import Metrics, MetricUnit
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
        AmazonCloudWatchEMFProvider,
    )

    # service="": no `service` dimension, even where POWERTOOLS_SERVICE_NAME is set.
    document = Metrics(provider=AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=""))
    for name, value in dimensions.items():
        document.add_dimension(name=name, value=value)
    for name in names:
        unit = MetricUnit.NoUnit if name == HOURS_OFF else MetricUnit.Count
        document.add_metric(name=name, unit=unit, value=_number(values.get(name, 0)))
    document.set_timestamp(_aware(now))
    return document


def fleet_counts(items: Iterable[tuple[str, str, bool]]) -> list[dict[str, Any]]:
    """The summary's `fleet` entry from (kind, region, stopped at the end of the pass)."""
    counts: dict[Group, list[int]] = {}
    for kind, region, stopped in items:
        entry = counts.setdefault((kind, region), [0, 0])
        entry[0] += 1
        entry[1] += int(stopped)
    return [
        {"kind": kind, "region": region, "scanned": scanned, "stopped": stopped}
        for (kind, region), (scanned, stopped) in sorted(counts.items())
    ]


def _metric_names(pass_interval: timedelta | None, summary: Mapping[str, Any]) -> list[str]:
    names = list(COUNTS)
    if pass_interval is not None and not summary.get("dryRun") and "fleet" in summary:
        names.append(HOURS_OFF)
    return names


def _groups(
    summary: Mapping[str, Any], pass_interval: timedelta | None
) -> dict[Group, defaultdict[str, float]]:
    groups: dict[Group, defaultdict[str, float]] = {}

    def group(kind: object, region: object) -> defaultdict[str, float]:
        key = (str(kind or UNKNOWN), str(region or UNKNOWN))
        return groups.setdefault(key, defaultdict(float))

    hours = pass_interval.total_seconds() / 3600 if pass_interval is not None else 0.0
    if "fleet" not in summary:  # the scopes still say how many each region had
        for scope in summary.get("scopes") or ():
            group(scope.get("kind"), scope.get("region"))["Scanned"] += int(
                scope.get("resources", 0)
            )
    for entry in summary.get("fleet") or ():
        values = group(entry.get("kind"), entry.get("region"))
        values["Scanned"] += int(entry.get("scanned", 0))
        values[HOURS_OFF] += int(entry.get("stopped", 0)) * hours

    failed: set[tuple[str, str | None, str | None]] = set()
    for action in summary.get("actions") or ():
        values = group(action.get("kind"), action.get("region"))
        result = action.get("result")
        if result == "done" and action.get("action") in ("start", "stop"):
            values["Started" if action["action"] == "start" else "Stopped"] += 1
        elif result == "failed":
            values["Failed"] += 1
        elif result == "deferred":
            values["Deferred"] += 1
        if result in ("failed", "deferred"):
            failed.add((str(action.get("id")), action.get("kind"), action.get("region")))
            failed.add((str(action.get("id")), None, None))

    for error in summary.get("errors") or ():
        kind, region = _error_place(error)
        if (str(error.get("id")), error.get("kind"), error.get("region")) in failed:
            continue  # the action's own failure, counted as Failed
        group(kind, region)["Errors"] += 1
    return groups


def _error_place(error: Mapping[str, Any]) -> tuple[str, str]:
    if error.get("kind"):
        return str(error["kind"]), str(error.get("region") or UNKNOWN)
    ident = str(error.get("id", ""))
    kind, sep, region = ident.partition(":")
    if sep and (kind in REGISTRY or kind == UNKNOWN) and region:
        return kind, region
    return UNKNOWN, UNKNOWN


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(float(value), 4)


# --- reading: stats -----------------------------------------------------------------


def parse_since(text: str) -> timedelta:
    """`30m`, `12h`, `7d`, `2w` -> a timedelta (at least one minute)."""
    match = _SINCE.match(text)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"--since {text!r} is not a duration like 30m, 12h, 7d or 2w")
    return timedelta(**{_SINCE_UNITS[match.group(2)]: int(match.group(1))})


def stats(
    cloudwatch_client: Any,
    *,
    since: timedelta,
    now: datetime,
    kinds: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Sums over the period of each kind's metrics, with GetMetricData.

    One query per (kind, metric), batched 500 to a call and paginated by `NextToken`; one
    period spanning the whole window, so each query answers with one or two sums.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    end = _ceil(now.astimezone(UTC), timedelta(minutes=1))
    # CloudWatch keeps hour-aligned data for old periods: an hour-aligned start reads the
    # same at any age (and is what it would round to itself).
    step = timedelta(hours=1) if since >= timedelta(hours=1) else timedelta(minutes=1)
    start = _floor(end - since, step)
    # One period over the whole window (a multiple of the step, as CloudWatch wants).
    period = math.ceil((end - start) / step) * int(step.total_seconds())

    queries: list[dict[str, Any]] = []
    index: dict[str, tuple[str, str]] = {}
    for kind in kinds if kinds is not None else kind_names():
        for metric in STATS:
            query_id = f"q{len(queries)}"
            index[query_id] = (kind, metric)
            queries.append(
                {
                    "Id": query_id,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": NAMESPACE,
                            "MetricName": metric,
                            "Dimensions": [{"Name": "Kind", "Value": kind}],
                        },
                        "Period": period,
                        "Stat": "Sum",
                    },
                    "ReturnData": True,
                }
            )

    sums: defaultdict[str, float] = defaultdict(float)
    calls = 0
    for first in range(0, len(queries), _QUERY_BATCH):
        batch = queries[first : first + _QUERY_BATCH]
        token: str | None = None
        while True:
            params: dict[str, Any] = {
                "MetricDataQueries": batch,
                "StartTime": start,
                "EndTime": end,
            }
            if token:
                params["NextToken"] = token
            answer = cloudwatch_client.get_metric_data(**params)
            calls += 1
            for result in answer.get("MetricDataResults", []):
                sums[result["Id"]] += sum(float(v) for v in result.get("Values", []))
            token = answer.get("NextToken")
            if not token:
                break

    by_kind: dict[str, dict[str, int | float]] = {}
    total: defaultdict[str, float] = defaultdict(float)
    for query_id, (kind, metric) in index.items():
        row = by_kind.setdefault(kind, {key: 0 for key in STATS.values()})
        row[STATS[metric]] = _number(sums[query_id])
        total[STATS[metric]] += sums[query_id]
    return {
        "namespace": NAMESPACE,
        "since": _iso(start),
        "until": _iso(end),
        "kinds": {k: row for k, row in by_kind.items() if any(row.values())},
        "total": {key: _number(total[key]) for key in STATS.values()},
        "calls": calls,
    }


def format_stats(report: Mapping[str, Any]) -> str:
    """A table: one row per kind seen in the period, and the total."""
    headers = ["kind", "started", "stopped", "failed", "errors", "deferred", "hours off"]
    keys = list(STATS.values())
    rows = [[kind, *_cells(values, keys)] for kind, values in report["kinds"].items()]
    rows.append(["total", *_cells(report["total"], keys)])
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    out = [f"powercycle stats {report['since']} .. {report['until']}", line(headers)]
    if not report["kinds"]:
        out.append("(no powercycle metrics in this period)")
    out += [line(r) for r in rows]
    return "\n".join(out)


def _cells(values: Mapping[str, float], keys: Sequence[str]) -> list[str]:
    return [
        f"{float(values.get(k, 0)):.1f}" if k == "hoursOff" else str(values.get(k, 0)) for k in keys
    ]


def _floor(moment: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((moment - epoch) // step) * step


def _ceil(moment: datetime, step: timedelta) -> datetime:
    floored = _floor(moment, step)
    return floored if floored == moment else floored + step


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
