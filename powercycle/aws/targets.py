"""Targets: which (account, region) pairs a pass covers, and the fan-out over them.

A target is one account in one region, with the credentials that reach it: the function's
own (unless `POWERCYCLE_SKIP_OWN_ACCOUNT`) and one assumed role per ARN of
`POWERCYCLE_ACCOUNT_ROLES`. With `POWERCYCLE_REGIONS=all` each account's regions are the
ones enabled for it (`DescribeRegions`, opt-in regions only once opted in), asked of each
account in parallel. A role that cannot be assumed, or an account whose regions cannot be
listed, is an error for that account only; the others are scanned.

Fan-out. Above `POWERCYCLE_FANOUT_THRESHOLD` targets, and only inside Lambda, a pass scans
nothing itself: it invokes its own function asynchronously once per target with the worker
event `{"target": {"account", "region"}, "now", "dryRun"}`, and each worker scans exactly
that target at that `now`. An invocation that fails to dispatch is reported; nothing is
recorded for its target, so the next pass dispatches it again. Lambda then spreads the
work over as many execution environments as the reserved concurrency allows, and each
worker has the full 15 minutes for one account-region.

A worker accepts only a target this function is configured for (an account of its roles or
its own, a region of its list), and a `now` close to its own clock: an old event replayed
with `enforce` schedules could otherwise re-assert yesterday's state.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from powercycle import aws
from powercycle.core.schedule import format_utc
from powercycle.runtime.budget import Budget
from powercycle.runtime.pool import Deferred, map_guarded

if TYPE_CHECKING:
    from powercycle.config import Config

LOG = logging.getLogger("powercycle")

# Parallel calls for DescribeRegions/AssumeRole (per account) and for dispatching.
POOL = 16
# A worker refuses an event whose `now` is further than this from its own clock (the
# template's LIVE alias drops events older than 600 s anyway).
MAX_EVENT_AGE = timedelta(minutes=15)
MAX_EVENT_AHEAD = timedelta(minutes=2)
WORKER_KEYS = frozenset({"target", "now", "dryRun"})
TARGET_KEYS = frozenset({"account", "region"})
# Enabled regions: not opt-in ones, or opt-in ones the account opted in to.
ENABLED = ["opt-in-not-required", "opted-in"]

_ACCOUNT = re.compile(r"^[0-9]{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")

T = TypeVar("T")
R = TypeVar("R")


class TargetError(ValueError):
    """A worker event or target this function does not accept; the message says why."""


@dataclass(frozen=True, order=True)
class TargetRef:
    """An (account, region) pair as a worker event names it."""

    account: str
    region: str

    @property
    def id(self) -> str:
        return f"{self.account}/{self.region}"


@dataclass(frozen=True, order=True)
class Target:
    """One account in one region, and the credentials key (`aws.client(...,
    credentials=)`) that reaches it."""

    account: str
    region: str
    credentials: str

    @property
    def id(self) -> str:
        return f"{self.account}/{self.region}"

    def ref(self) -> TargetRef:
        return TargetRef(self.account, self.region)


@dataclass(frozen=True)
class _Account:
    account: str
    credentials: str


# --- resolving --------------------------------------------------------------------------


def home_region(config: Config) -> str:
    """Where account-wide calls go (STS, DescribeRegions, Lambda Invoke)."""
    return config.regions[0] if config.regions else aws.default_region() or "us-east-1"


def resolve_targets(
    config: Config, *, budget: Budget | None = None
) -> tuple[list[Target], list[dict[str, str]]]:
    """Every (account, region) this pass covers, and an error per account it cannot reach.

    Costs per pass: one `GetCallerIdentity` per process (cached), one `AssumeRole` per role
    per hour (botocore's refreshable credentials), and with `all` one `DescribeRegions`
    per account, all of them in parallel.
    """
    budget = budget or Budget.unlimited()
    home = home_region(config)
    errors: list[dict[str, str]] = []
    accounts: list[_Account] = []
    if not config.skip_own_account:
        try:
            accounts.append(_Account(aws.account_id(aws.OWN, home), aws.OWN))
        except Exception as exc:  # one account's failure is its error only
            errors.append(_error("self", f"own account not reachable: {_why(exc)}"))
    for role in config.account_roles:
        account = aws.role_account(role)
        if not _ACCOUNT.match(account):
            errors.append(_error(account or role, f"{role} names no 12-digit account"))
            continue
        accounts.append(_Account(account, aws.assume(role, config.external_id)))

    seen: dict[str, _Account] = {}
    unique: list[_Account] = []
    for item in accounts:
        if item.account in seen:
            errors.append(
                _error(
                    item.account,
                    f"{_label(item)} ignored: the account is already "
                    f"scanned with {_label(seen[item.account])}",
                )
            )
            continue
        seen[item.account] = item
        unique.append(item)

    def regions_of(item: _Account) -> list[str]:
        if not budget.open():
            raise TimeoutError("pass budget spent before reaching this account (deferred)")
        if item.credentials != aws.OWN:
            aws.check(item.credentials)  # assume the role now: a refusal is this account's
        if not config.all_regions:
            return list(config.regions)
        return enabled_regions(item.credentials, home)

    targets: list[Target] = []
    for item, found in zip(unique, parallel(unique, regions_of), strict=True):
        if isinstance(found, BaseException):
            errors.append(_error(item.account, _why(found)))
            continue
        targets.extend(Target(item.account, region, item.credentials) for region in found)
    return targets, errors


def enabled_regions(credentials: str, home: str) -> list[str]:
    """The regions enabled for the account of `credentials`, sorted."""
    answer = aws.client("ec2", home, credentials=credentials).describe_regions(
        AllRegions=False, Filters=[{"Name": "opt-in-status", "Values": ENABLED}]
    )
    return sorted(
        r["RegionName"]
        for r in answer.get("Regions", ())
        if r.get("OptInStatus", ENABLED[0]) in ENABLED
    )


def worker_target(config: Config, ref: TargetRef) -> Target:
    """The target a worker event names, if this function is configured for it.

    The account must be one of `POWERCYCLE_ACCOUNT_ROLES`' or (unless skipped) the
    function's own; the region one of `POWERCYCLE_REGIONS` (any region with `all`).
    """
    if not config.all_regions and ref.region not in config.regions:
        raise TargetError(
            f"region {ref.region} is not in POWERCYCLE_REGIONS ({', '.join(config.regions)})"
        )
    for role in config.account_roles:
        if aws.role_account(role) == ref.account:
            return Target(ref.account, ref.region, aws.assume(role, config.external_id))
    if not config.skip_own_account and aws.account_id(aws.OWN, home_region(config)) == ref.account:
        return Target(ref.account, ref.region, aws.OWN)
    raise TargetError(f"account {ref.account} is not one this function schedules")


# --- fan-out ----------------------------------------------------------------------------


def should_fan_out(config: Config, targets: Sequence[Target], in_lambda: bool) -> bool:
    """True when the pass should dispatch one worker per target instead of scanning."""
    return in_lambda and len(targets) > config.fanout_threshold


def worker_event(target: Target | TargetRef, *, now: datetime, dry_run: bool) -> dict[str, Any]:
    """The payload of one worker invocation (about 120 bytes, far below Event's 256 KB)."""
    return {
        "target": {"account": target.account, "region": target.region},
        "now": format_utc(now),
        "dryRun": dry_run,
    }


def dispatch(
    targets: Sequence[Target],
    *,
    now: datetime,
    dry_run: bool,
    function_name: str,
    lambda_client: Any = None,
    budget: Budget | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Invoke `function_name` asynchronously once per target; report what went out.

    `function_name` is the ARN the orchestrator was invoked as (alias included), so the
    workers run the same version under the same invoke configuration. Returns
    `{"dispatched": [{"account", "region"}], "errors": [{"id", "account", "region",
    "error"}], "deferred": [...]}`; what failed or was deferred is dispatched again by the
    next pass.
    """
    budget = budget or Budget.unlimited()
    client = lambda_client or aws.client("lambda", _function_region(function_name))
    unique = sorted(set(targets))

    def invoke(target: Target) -> str:
        if not budget.open():
            return "deferred"
        payload = json.dumps(worker_event(target, now=now, dry_run=dry_run)).encode()
        answer = client.invoke(FunctionName=function_name, InvocationType="Event", Payload=payload)
        status = int(answer.get("StatusCode", 0))
        if status != 202:
            raise RuntimeError(f"Invoke answered {status}, not 202")
        return "dispatched"

    result: dict[str, list[dict[str, str]]] = {"dispatched": [], "errors": [], "deferred": []}
    for target, outcome in zip(unique, parallel(unique, invoke), strict=True):
        entry = {"account": target.account, "region": target.region}
        if isinstance(outcome, BaseException):
            result["errors"].append(
                {"id": f"target:{target.id}", **entry, "error": f"not dispatched: {_why(outcome)}"}
            )
        else:
            result[outcome].append(entry)
    return result


def parse_worker_event(
    event: Mapping[str, Any], *, received: datetime | None = None
) -> tuple[TargetRef, datetime, bool]:
    """`(target, now, dry_run)` of a worker event, checked strictly (TargetError if not).

    With `received` (the worker's clock), a `now` older than 15 minutes or more than two
    ahead is refused.
    """
    _keys(event, WORKER_KEYS, "worker event")
    target = event.get("target")
    if not isinstance(target, Mapping):
        raise TargetError(f"target must be an object with account and region, got {target!r}")
    _keys(target, TARGET_KEYS, "target")
    account, region = target.get("account"), target.get("region")
    if not isinstance(account, str) or not _ACCOUNT.match(account):
        raise TargetError(f"target.account must be a 12-digit account id, got {account!r}")
    if not isinstance(region, str) or not _REGION.match(region):
        raise TargetError(f"target.region must be a region name like eu-west-1, got {region!r}")
    raw_now = event.get("now")
    if not isinstance(raw_now, str):
        raise TargetError(f"now must be an ISO-8601 time string, got {raw_now!r}")
    try:
        now = datetime.fromisoformat(raw_now)
    except ValueError:
        raise TargetError(f"now must be an ISO-8601 time, got {raw_now!r}") from None
    if now.tzinfo is None or now.utcoffset() is None:
        raise TargetError(f"now must carry its offset (e.g. Z), got {raw_now!r}")
    if received is not None and not (received - MAX_EVENT_AGE <= now <= received + MAX_EVENT_AHEAD):
        raise TargetError(f"now {raw_now} is too far from this worker's clock; event refused")
    dry_run = event.get("dryRun")
    if not isinstance(dry_run, bool):
        raise TargetError(f"dryRun must be true or false, got {dry_run!r}")
    return TargetRef(account, region), now, dry_run


def is_worker_event(event: Mapping[str, Any]) -> bool:
    """Whether a payload is meant as a worker event (then `parse_worker_event` judges it)."""
    return "target" in event


# --- helpers ----------------------------------------------------------------------------


def parallel(items: Sequence[T], work: Callable[[T], R]) -> list[R | BaseException]:
    """work(item) on a bounded pool; an exception is returned in its item's place."""
    answers = map_guarded(items, work, workers=POOL)
    return [a for a in answers if not isinstance(a, Deferred)]  # no budget: none deferred


def _keys(given: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(str(k) for k in given if k not in allowed)
    if unknown:
        raise TargetError(
            f"{what}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )
    missing = sorted(allowed - set(given))
    if missing:
        raise TargetError(f"{what}: missing key {missing[0]!r}")


def _function_region(function_name: str) -> str:
    parts = function_name.split(":")
    if len(parts) >= 7 and parts[0] == "arn":
        return parts[3]
    return aws.default_region() or "us-east-1"


def _label(item: _Account) -> str:
    return "the function's own credentials" if item.credentials == aws.OWN else item.credentials


def _error(account: str, error: str) -> dict[str, str]:
    return {"id": f"account:{account}", "account": account, "error": error}


def _why(exc: BaseException) -> str:
    return (
        aws.describe_error(exc)
        if isinstance(exc, aws.AWS_ERRORS)
        else str(exc) or type(exc).__name__
    )
