"""Resource kinds behind one small interface.

The engine sees only `Provider`: discover resources, act on a batch, record state tags.
Adding a kind is adding a module and one line in `REGISTRY`; the engine never asks
which kind it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..decide import Power
from ..schedule import Action, Schedule

if TYPE_CHECKING:
    from ..budget import Budget
    from ..config import Config
    from ..targets import Target

# The code of an ActionError for a resource the provider did not reach before the pass
# budget ran out: the engine reports it as `deferred` and records nothing.
DEFERRED = "Deferred"
# The code of an ActionError for an action that was accepted with something to report (a
# node group deleted since the stop, so not restored): the engine reports it as `done` with
# the message as its warning.
NOTED = "Noted"


@dataclass(frozen=True)
class Resource:
    """One schedulable thing, as discovered: everything `decide` needs and nothing more."""

    kind: str
    id: str
    region: str
    tags: Mapping[str, str] = field(repr=False)
    power: Power | None
    running_since: datetime | None = None
    # The provider's own reason never to touch it (e.g. an Auto Scaling group member).
    skip: str | None = None
    # The provider could not make it schedulable (e.g. unknown to CAST AI).
    error: str | None = None
    # An action accepted by an earlier pass that did not take (a CAST AI operation that
    # ended in an error, an EC2 start that bounced): reported as failed, and the provider
    # hands over `tags` without the state tag, so the event is unhandled and retried. Once
    # the event has had its `POWERCYCLE_MAX_ATTEMPTS` attempts, the state tag is kept (the
    # event stays handled, nothing is retried) and the failure is reported on every pass
    # until the next event is recorded (`providers.verify`).
    unhandled: str | None = None
    # The AWS account it lives in ("" when the pass scans only its own account).
    account: str = ""


@dataclass(frozen=True)
class ActionError:
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


@dataclass(frozen=True)
class ActRequest:
    resource: Resource
    # None for manual actions (payload): no schedule options apply.
    schedule: Schedule | None
    # The state tag value the action will be recorded as (`start@2026-11-23T08:00:00Z`);
    # None for manual actions. Providers check accepted actions by it (`providers.verify`).
    event: str | None = None


class Provider(Protocol):
    kind: str
    region: str

    def discover(self, tag: str) -> Iterable[Resource]:
        """Resources carrying the schedule tag `tag`."""
        ...

    def lookup(self, refs: Sequence[str]) -> dict[str, Resource]:
        """Resources named by a manual payload, by the ref that found them (absent: unknown)."""
        ...

    def act(self, action: Action, requests: Sequence[ActRequest]) -> dict[str, ActionError | None]:
        """Start or stop; returns, for every resource id, None when accepted or the error."""
        ...

    def record(self, key: str, values: Mapping[str, str]) -> dict[str, str]:
        """Write tag `key` (id -> value); returns an error message per id that failed."""
        ...


# kind -> its providers for a pass:
# `(config, regions, *, budget, credentials, account) -> [Provider, ...]`.
Factory = Callable[..., list[Provider]]


def _ec2(config: Config, regions: Sequence[str], **scope: Any) -> list[Provider]:
    from . import ec2

    return ec2.providers(config, regions, **scope)


def _eks(config: Config, regions: Sequence[str], **scope: Any) -> list[Provider]:
    from . import eks

    return eks.providers(config, regions, **scope)


def _asg(config: Config, regions: Sequence[str], **scope: Any) -> list[Provider]:
    from . import asg

    return asg.providers(config, regions, **scope)


# The registry: adding a kind is adding a module and one line here (and its name to
# config.KINDS). Modules are imported on first use: a pass imports only its kinds.
REGISTRY: dict[str, Factory] = {"ec2": _ec2, "eks": _eks, "asg": _asg}


def all_providers(
    config: Config, regions: Sequence[str], *, budget: Budget | None = None
) -> list[Provider]:
    """Every provider of the kinds `config.kinds` names, in registry order."""
    return [
        provider
        for kind, factory in REGISTRY.items()
        if kind in config.kinds
        for provider in factory(config, regions, budget=budget)
    ]


def providers_for(
    config: Config, targets: Iterable[Target], *, budget: Budget | None = None
) -> list[Provider]:
    """The providers of a pass over targets (account x region), each with its credentials."""
    regions: dict[tuple[str, str], list[str]] = {}
    for target in targets:
        regions.setdefault((target.account, target.credentials), []).append(target.region)
    return [
        provider
        for (account, credentials), scanned in regions.items()
        for kind, factory in REGISTRY.items()
        if kind in config.kinds
        for provider in factory(
            config, scanned, budget=budget, credentials=credentials, account=account
        )
    ]
