"""The one wiring of both doors: settings -> targets (accounts x regions) -> providers ->
engine -> report.

The Lambda (`handler`) and every CLI command build their passes here, so a command
reaches every account and region the Lambda does, with the same credentials.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from powercycle import aws, engine, events
from powercycle.aws import targets as tg
from powercycle.config import Config
from powercycle.core.decide import Power
from powercycle.core.schedule import Action
from powercycle.providers import REGISTRY, Found, Provider, Tagger, providers_for
from powercycle.report import metrics
from powercycle.report.sns import notify
from powercycle.runtime import logs
from powercycle.runtime.budget import Budget

LOG = logging.getLogger("powercycle")

# The worker events this process has finished, (target, now, dry run): Lambda delivers an
# asynchronous invocation at least once, so the same worker event may come twice to a warm
# environment. The second finds nothing to add: it scans nothing and publishes no metrics,
# so a redelivery never counts a pass twice. Only a finished pass is remembered: a worker
# that failed is retried in full. Bounded, oldest forgotten first.
_HANDLED: OrderedDict[tuple[tg.TargetRef, datetime, bool], None] = OrderedDict()
HANDLED_KEPT = 512


def forget_workers() -> None:
    """Forget the worker events handled in this process (tests, a new environment)."""
    _HANDLED.clear()


def settings(*, dry_run: bool | None = None, regions: Sequence[str] | None = None) -> Config:
    """Settings from the environment, with a door's overrides (`None`: as set). Regions
    given here win over every region the environment names (as the AWS CLI's `--region`
    does), so none is needed there."""
    return Config.from_env(need_region=not regions).with_overrides(
        dry_run=dry_run, regions=tuple(regions) if regions else None
    )


def targets(config: Config, budget: Budget) -> tuple[list[tg.Target], list[dict[str, str]]]:
    """The (account, region) pairs of the settings, and an error per unreachable account.

    One account and listed regions need no call at all; roles, `all` regions or skipping
    the own account resolve them (STS, DescribeRegions).
    """
    if config.account_roles or config.all_regions or config.skip_own_account:
        return tg.resolve_targets(config, budget=budget)
    return [tg.Target("", region, aws.OWN) for region in config.regions], []


def scanned_providers(
    config: Config, budget: Budget, *, kinds: Iterable[str] | None = None
) -> tuple[list[Provider], list[dict[str, str]]]:
    """The providers over every target of the settings (of `kinds`, else the settings'),
    and an error per account that cannot be reached."""
    found, errors = targets(config, budget)
    return providers_for(config, found, budget=budget, kinds=kinds), errors


def scan(config: Config, now: datetime, *, budget: Budget | None = None) -> engine.Summary:
    """A pass over every account and region of the settings."""
    budget = budget or Budget(config.budget_seconds)
    providers, errors = scanned_providers(config, budget)
    summary = engine.run_pass(config, now, providers=providers, budget=budget)
    summary.errors.extend(errors)
    return summary


def manual(
    config: Config,
    kind: str,
    refs: Sequence[str],
    action: Action,
    now: datetime,
    *,
    budget: Budget | None = None,
    providers: Sequence[Provider] | None = None,
) -> engine.Summary:
    """Act now on resources of one kind named by id, over every target (or `providers`)."""
    budget = budget or Budget(config.budget_seconds)
    errors: list[dict[str, str]] = []
    if providers is None:
        every, errors = scanned_providers(config, budget)
        providers = [p for p in every if p.kind == kind]
    summary = engine.run_manual(
        config, kind=kind, refs=refs, action=action, now=now, providers=providers, budget=budget
    )
    summary.errors.extend(errors)
    return summary


# --- the Lambda's events -----------------------------------------------------------------


def run_event(
    event: events.Event,
    config: Config,
    now: datetime,
    *,
    budget: Budget | None = None,
    function: str | None = None,
) -> dict[str, Any]:
    """One parsed invocation: a pass, a manual action or one worker's target. `function`
    is the Lambda's own ARN: a pass over more targets than `POWERCYCLE_FANOUT_THRESHOLD`
    dispatches one worker invocation per target instead of scanning them itself."""
    # An event can ask for a dry run, never out of one: POWERCYCLE_DRY_RUN=true is a guard
    # that a test event with "dryRun": false does not lift.
    if event.dry_run:
        config = config.with_overrides(dry_run=True)
    budget = budget or Budget(config.budget_seconds)
    if isinstance(event, events.Worker):
        try:
            target = tg.worker_target(config, event.target)
        except tg.TargetError as exc:
            raise events.EventError(str(exc)) from None
        key = (event.target, event.now, config.dry_run)
        if key in _HANDLED:
            return _redelivered(config, event)
        providers = providers_for(config, [target], budget=budget)
        summary = engine.run_pass(config, event.now, providers=providers, budget=budget)
        result = finish(config, summary, now=event.now, scheduled=True)
        _HANDLED[key] = None
        while len(_HANDLED) > HANDLED_KEPT:
            _HANDLED.popitem(last=False)
        return result
    if isinstance(event, events.Manual):  # an ARN names its region: it is scanned too
        config = with_arn_regions(config, event.refs, kinds=[event.kind])
    found, errors = targets(config, budget)
    if isinstance(event, events.Manual):
        providers = [p for p in providers_for(config, found, budget=budget) if p.kind == event.kind]
        summary = manual(
            config, event.kind, event.refs, event.action, now, budget=budget, providers=providers
        )
    elif function is not None and tg.should_fan_out(config, found, in_lambda=True):
        return _orchestrate(config, found, errors=errors, now=now, function=function, budget=budget)
    else:
        providers = providers_for(config, found, budget=budget)
        summary = engine.run_pass(config, now, providers=providers, budget=budget)
    summary.errors.extend(errors)
    return finish(config, summary, now=now, scheduled=isinstance(event, events.Scheduled))


def _redelivered(config: Config, event: events.Worker) -> dict[str, Any]:
    """A worker event this process already handled: nothing scanned, nothing published."""
    when = event.now.isoformat()
    LOG.info(
        {
            "message": "redelivered",
            "worker": event.target.id,
            "now": when,
            "why": f"worker event for {event.target.id} at {when} already handled in this "
            "process: nothing done again, no metrics",
        }
    )
    result = engine.Summary(now=event.now, dry_run=config.dry_run).to_dict()
    result["redelivered"] = True
    return result


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
    counts = {"dispatched": len(sent["dispatched"]), "deferred": len(sent["deferred"])}
    LOG.info(
        {
            "message": "orchestrator",
            "orchestrator": {"now": result["now"], **counts, "errors": len(result["errors"])},
        }
    )
    error = notify(config, result)
    if error:
        result["errors"].append({"id": "sns", "error": error})
    return result


def finish(
    config: Config, summary: engine.Summary, *, now: datetime, scheduled: bool
) -> dict[str, Any]:
    """The summary as the Lambda answers it, reported (SNS) and logged with its metrics."""
    result = summary.to_dict()
    error = notify(config, result)
    if error:
        result["errors"].append({"id": "sns", "error": error})
    log_summary(summary, result, now=now, scheduled=scheduled and not config.dry_run)
    return result


def log_summary(
    summary: engine.Summary, result: dict[str, Any], *, now: datetime, scheduled: bool
) -> None:
    """The summary log line, and the pass's metrics as CloudWatch EMF lines beside it.

    CloudWatch builds the metrics from the log itself (no API call): Powertools `Metrics`
    prints the totals, then the lines per kind and region (`report.metrics.publish`), from
    the Lambda door only (the CLI prints for people). `HoursOff` comes from scheduled live
    passes only (resources left stopped x the 15-minute interval), so nothing counts twice.
    """
    result["fleet"] = metrics.fleet_counts(
        (o.resource.kind, o.resource.region, _off_after(o))
        for o in summary.outcomes
        if o.resource.power is not None
    )
    interval = metrics.PASS_INTERVAL if scheduled else None
    head = {k: result[k] for k in ("now", "dryRun", "scanned", "counts")}
    LOG.info({"message": "summary", "summary": head})
    if logs.json_lines():
        metrics.publish(result, now=now, pass_interval=interval)


def _off_after(outcome: engine.Outcome) -> bool:
    """Whether the resource is off at the end of the pass."""
    if outcome.action == "stop" and outcome.result == "done":
        return True
    started = outcome.action == "start" and outcome.result == "done"
    return outcome.resource.power is Power.STOPPED and not started


# --- the CLI's names ----------------------------------------------------------------------


@dataclass
class Named:
    """A resource named on the command line: found once (with the provider that found it,
    which writes its tags), or the error saying why not."""

    ref: str
    found: Found | None = None
    tagger: Tagger | None = None
    error: str | None = None


def find(
    config: Config, refs: Sequence[str], budget: Budget, *, kinds: Iterable[str] | None = None
) -> list[Named]:
    """Each ref looked up in every target, by the kinds that may hold it (of `kinds`, else
    every registered kind): an id or ARN by its kind only, a name by every kind. A name
    found nowhere, or more than once (kinds, regions, accounts), is an error."""
    wanted = list(REGISTRY if kinds is None else kinds)
    providers, target_errors = scanned_providers(config, budget, kinds=wanted)
    taggers = [p for p in providers if isinstance(p, Tagger)]
    asks: dict[int, dict[str, str]] = {}  # provider -> {name asked: ref}
    named = [Named(ref) for ref in refs]
    for item in named:
        claims = [REGISTRY[k] for k in wanted if REGISTRY[k].claims(item.ref)]
        if item.ref.startswith("arn:") and not claims:
            item.error = "not " + _either([REGISTRY[k].refs for k in wanted])
        for index, provider in enumerate(taggers):
            kind = REGISTRY[provider.kind]
            if claims and kind not in claims:
                continue
            parts = kind.arn_parts(item.ref)
            if parts and parts[0] != provider.region:
                continue
            if item.error is None:
                asks.setdefault(index, {})[parts[1] if parts else item.ref] = item.ref

    def ask(index: int) -> dict[str, list[Found]]:
        return taggers[index].find(list(asks[index]))

    hits: dict[str, list[tuple[Found, Tagger]]] = {}
    failed: list[str] = [f"{e.get('id')}: {e.get('error')}" for e in target_errors]
    order = sorted(asks)
    for index, answer in zip(order, tg.parallel(order, ask), strict=True):
        provider = taggers[index]
        if isinstance(answer, BaseException):
            failed.append(f"{provider.kind} in {provider.region}: {aws.describe_error(answer)}")
            continue
        for name, found in answer.items():
            ref = asks[index].get(name)
            if ref is not None:
                hits.setdefault(ref, []).extend((f, provider) for f in found)
    regions = sorted({p.region for p in taggers}) or list(config.regions)
    for item in named:
        if item.error is not None:
            continue
        candidates = hits.get(item.ref, [])
        if len(candidates) == 1:
            item.found, item.tagger = candidates[0]
            continue
        if candidates:
            item.error = f"{item.ref!r} names {len(candidates)} resources, nothing changed: " + (
                "; ".join(_candidate(f) for f, _ in candidates)
            )
            continue
        claims = [REGISTRY[k] for k in wanted if REGISTRY[k].claims(item.ref)]
        titles = _either([k.title for k in claims or (REGISTRY[k] for k in wanted)])
        shown = item.ref if claims and not item.ref.startswith("arn:") else repr(item.ref)
        item.error = f"no {titles} {shown} in {', '.join(regions)}" + _accounts(taggers)
        if failed:
            item.error += f" (not read: {'; '.join(failed)})"
    return named


def route(
    config: Config, refs: Sequence[str], budget: Budget
) -> tuple[Config, dict[str, list[str]], list[dict[str, str]]]:
    """The refs of a manual action by kind (of the settings' kinds): an id or ARN goes to
    its kind as it is (an ARN's region joins the settings'; the engine asks only its own
    account and region, `providers.naming`); a name is looked up first (`find`). An error
    per ref that is none."""
    by_kind: dict[str, list[str]] = {}
    names = []
    for ref in refs:
        claims = [k for k in config.kinds if REGISTRY[k].claims(ref)]
        if not claims:
            names.append(ref)
            continue
        by_kind.setdefault(claims[0], []).append(ref)
    config = with_arn_regions(config, refs, kinds=config.kinds)
    errors = []
    for named in find(config, names, budget, kinds=config.kinds) if names else ():
        if named.found is None:
            errors.append({"id": named.ref, "error": str(named.error)})
        else:
            by_kind.setdefault(named.found.kind, []).append(named.found.id)
    return config, by_kind, errors


def with_arn_regions(config: Config, refs: Sequence[str], *, kinds: Iterable[str]) -> Config:
    """The settings with the regions the refs' ARNs (of `kinds`) name: an ARN names one."""
    if config.all_regions:
        return config
    regions = list(config.regions)
    for ref in refs:
        for kind in kinds:
            parts = REGISTRY[kind].arn_parts(ref)
            if parts and parts[0] not in regions:
                regions.append(parts[0])
    if len(regions) == len(config.regions):
        return config
    return config.with_overrides(regions=tuple(regions))


def _candidate(found: Found) -> str:
    where = f"account {found.account}, " if found.account else ""
    return f"{found.kind} {found.id} ({where}{found.region}{', ' + found.arn if found.arn else ''})"


def _accounts(providers: Sequence[Tagger]) -> str:
    accounts = sorted({getattr(p, "account", "") for p in providers} - {""})
    return f" (accounts {', '.join(accounts)})" if accounts else ""


def _either(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
