"""Lambda entry point: `powercycle.handler.handler(event, context)`.

No AWS client is made at import: the module imports without credentials, and every run
reads its settings afresh (a changed environment takes effect on the next invocation).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from powercycle import aws, engine
from powercycle.aws import targets as tg
from powercycle.config import Config, ConfigError, parse_bool
from powercycle.core.decide import Power
from powercycle.core.document import show
from powercycle.providers import Provider, providers_for
from powercycle.report import metrics
from powercycle.report.sns import notify
from powercycle.runtime.budget import Budget

LOG = logging.getLogger("powercycle")

_PAUSE = {"pause": "stop", "hibernate": "stop", "stop": "stop"}
_RESUME = {"resume": "start", "start": "start"}
# Manual payload key -> the kind of resource it names.
MANUAL_KEYS = {"instanceIds": "ec2", "clusterNames": "eks", "autoScalingGroups": "asg"}
# EventBridge's scheduled-event envelope: a scheduled pass.
ENVELOPE_KEYS = frozenset(
    {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
)
PAYLOAD_KEYS = frozenset({"dryRun", "DryRun", "action", *MANUAL_KEYS})
MAX_REFS = 1000


class EventError(ValueError):
    """The invocation payload is not one the handler understands."""


def handler(event: Mapping[str, Any] | None, context: object = None) -> dict[str, Any]:
    """Run one pass (scheduled event or `{}`) or a manual action; return the summary."""
    setup_logging()
    now = datetime.now(UTC)
    config = Config.from_env()
    budget = Budget.for_lambda(context, default=config.budget_seconds)
    payload = event if event is not None else {}
    return run_event(payload, config, now, budget=budget, context=context)


def run_event(
    event: Mapping[str, Any],
    config: Config,
    now: datetime,
    *,
    budget: Budget | None = None,
    context: object = None,
) -> dict[str, Any]:
    """Dispatch one invocation payload; the handler minus the clock and the environment.

    The payload is checked in full before anything is called: an unknown key (a typo of
    `dryRun` above all) is refused, never ignored into a live run. `context` is Lambda's:
    a pass over more targets than `POWERCYCLE_FANOUT_THRESHOLD` dispatches one worker
    invocation per target of its own function instead of scanning them itself.
    """
    if not isinstance(event, Mapping):
        raise EventError(f"the payload must be a JSON object, got {type(event).__name__}")
    if tg.is_worker_event(event):
        return _worker(event, config, now, budget=budget)
    unknown = sorted(k for k in event if k not in PAYLOAD_KEYS | ENVELOPE_KEYS)
    if unknown:
        raise EventError(
            f"unknown payload key {unknown[0]!r}; expected some of "
            f'{", ".join(sorted(PAYLOAD_KEYS))} (dry run: {{"dryRun": true}})'
        )
    # An event can ask for a dry run, never out of one: POWERCYCLE_DRY_RUN=true is a guard
    # that a test event with "dryRun": false does not lift.
    if dry_run_asked(event):
        config = config.with_overrides(dry_run=True)
    budget = budget or Budget(config.budget_seconds)

    manual = [key for key in MANUAL_KEYS if key in event]
    if manual:
        action, kind, refs = _manual(event, manual)
    elif "action" in event:
        raise EventError(f"action needs one of {', '.join(MANUAL_KEYS)}")
    targets, target_errors = _targets(config, budget)
    function = getattr(context, "invoked_function_arn", None)
    if manual:
        providers = [p for p in providers_for(config, targets, budget=budget) if p.kind == kind]
        summary = engine.run_manual(
            config, kind=kind, refs=refs, action=action, now=now, providers=providers, budget=budget
        )
    elif isinstance(function, str) and tg.should_fan_out(config, targets, in_lambda=True):
        return _orchestrate(
            config, targets, errors=target_errors, now=now, function=function, budget=budget
        )
    else:
        summary = engine.run_pass(
            config, now, providers=providers_for(config, targets, budget=budget), budget=budget
        )
    summary.errors.extend(target_errors)
    return _finish(config, summary, now=now, scheduled=not manual)


def scanned_providers(
    config: Config, budget: Budget
) -> tuple[list[Provider], list[dict[str, str]]]:
    """The providers of a pass over every target (account x region) of the settings, and an
    error per account that cannot be reached: what a scheduled pass scans (the CLI too)."""
    targets, errors = _targets(config, budget)
    return providers_for(config, targets, budget=budget), errors


def _targets(config: Config, budget: Budget) -> tuple[list[tg.Target], list[dict[str, str]]]:
    """The (account, region) pairs of the pass. One account and listed regions need no
    call at all; roles, `all` regions or skipping the own account resolve them (STS,
    DescribeRegions), an error per account that cannot be reached."""
    if config.account_roles or config.all_regions or config.skip_own_account:
        return tg.resolve_targets(config, budget=budget)
    return [tg.Target("", region, aws.OWN) for region in config.regions], []


def _worker(
    event: Mapping[str, Any], config: Config, received: datetime, *, budget: Budget | None
) -> dict[str, Any]:
    """One target of a fanned-out pass, at the orchestrator's `now`."""
    try:
        ref, now, dry_run = tg.parse_worker_event(event, received=received)
        if dry_run:
            config = config.with_overrides(dry_run=True)
        target = tg.worker_target(config, ref)
    except tg.TargetError as exc:
        raise EventError(str(exc)) from None
    budget = budget or Budget(config.budget_seconds)
    providers = providers_for(config, [target], budget=budget)
    summary = engine.run_pass(config, now, providers=providers, budget=budget)
    return _finish(config, summary, now=now, scheduled=True)


def _orchestrate(
    config: Config,
    targets: list[tg.Target],
    *,
    errors: list[dict[str, str]],
    now: datetime,
    function: str,
    budget: Budget,
) -> dict[str, Any]:
    """Dispatch one worker per target; scan nothing here (no metrics: workers publish)."""
    if any(not t.account for t in targets):  # the own account's id, for the worker event
        targets, errors = tg.resolve_targets(config, budget=budget)
    sent = tg.dispatch(
        targets, now=now, dry_run=config.dry_run, function_name=function, budget=budget
    )
    result = engine.Summary(now=now, dry_run=config.dry_run).to_dict()
    result["errors"] = errors + sent["errors"]
    result["dispatched"] = sent["dispatched"]
    result["deferredTargets"] = sent["deferred"]
    LOG.info(
        json.dumps(
            {
                "orchestrator": {
                    "now": result["now"],
                    "dispatched": len(sent["dispatched"]),
                    "deferred": len(sent["deferred"]),
                    "errors": len(result["errors"]),
                }
            }
        )
    )
    error = notify(config, result)
    if error:
        result["errors"].append({"id": "sns", "error": error})
    return result


def _finish(
    config: Config, summary: engine.Summary, *, now: datetime, scheduled: bool
) -> dict[str, Any]:
    result = summary.to_dict()
    error = notify(config, result)
    if error:
        result["errors"].append({"id": "sns", "error": error})
    log_summary(summary, result, now=now, scheduled=scheduled and not config.dry_run)
    return result


def log_summary(
    summary: engine.Summary, result: dict[str, Any], *, now: datetime, scheduled: bool
) -> None:
    """The summary log line, carrying the pass's metrics as CloudWatch EMF.

    CloudWatch builds the metrics from the log itself (no API call): the totals on the
    summary line, one more line per kind and region. `HoursOff` comes from scheduled live
    passes only (resources left stopped x the 15-minute interval), so nothing counts twice.
    """
    result["fleet"] = metrics.fleet_counts(
        (o.resource.kind, o.resource.region, _off_after(o))
        for o in summary.outcomes
        if o.resource.power is not None
    )
    interval = metrics.PASS_INTERVAL if scheduled else None
    head = {k: result[k] for k in ("now", "dryRun", "scanned", "counts")}
    LOG.info(
        json.dumps({"summary": head, **metrics.emf_line(result, now=now, pass_interval=interval)})
    )
    for document in metrics.emf_breakdown(result, now=now, pass_interval=interval):
        LOG.info(json.dumps(document))


def _off_after(outcome: engine.Outcome) -> bool:
    """Whether the resource is off at the end of the pass."""
    if outcome.action == "stop" and outcome.result == "done":
        return True
    started = outcome.action == "start" and outcome.result == "done"
    return outcome.resource.power is Power.STOPPED and not started


def dry_run_asked(event: Mapping[str, Any]) -> bool:
    """`dryRun` (true/false, or the strings) or ec2-powercycle's `DryRun` ("True", any case).

    Only a clear true or false is accepted (and the words true/false/1/0/yes/no/on/off):
    `""`, `null`, `"maybe"` are refused, never read as a live run.
    """
    asked = False
    for key in ("dryRun", "DryRun"):
        if key not in event:
            continue
        value = event[key]
        if isinstance(value, str) and value.strip():
            with contextlib.suppress(ConfigError):  # not a word: refused just below
                value = parse_bool(key, value)
        if not isinstance(value, bool):
            raise EventError(f"{key} must be true or false, got {show(value)}")
        asked = asked or value
    return asked


def _manual(event: Mapping[str, Any], keys: list[str]) -> tuple[Any, str, list[str]]:
    if len(keys) > 1:
        raise EventError(f"one of {' or '.join(keys)} per payload, not both")
    key = keys[0]
    refs = event[key]
    if (
        not isinstance(refs, list)
        or not refs
        or len(refs) > MAX_REFS
        or not all(isinstance(r, str) and 0 < len(r) <= 256 for r in refs)
    ):
        raise EventError(
            f"{key} must be a list of 1 to {MAX_REFS} names or ids, got {show(refs)}"
        )
    raw_action = event.get("action")
    action = _PAUSE.get(raw_action.lower()) if isinstance(raw_action, str) else None
    if action is None and isinstance(raw_action, str):
        action = _RESUME.get(raw_action.lower())
    if action is None:
        raise EventError(
            f"action {show(raw_action)} is not one of "
            "start/stop (and pause/hibernate/resume for clusters)"
        )
    return action, MANUAL_KEYS[key], list(dict.fromkeys(refs))


def setup_logging() -> None:
    # Lambda's runtime installs a root handler; elsewhere give our JSON lines a plain one.
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    LOG.setLevel(logging.INFO)
    # botocore's INFO lines ("Found credentials...") would drown the decisions.
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


__all__ = ["ConfigError", "EventError", "handler", "run_event"]
