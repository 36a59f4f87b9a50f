"""Resource kinds behind one small interface.

The engine sees only `Provider`: discover resources, act on a batch, record state tags.
Adding a kind is adding a module and one line in `REGISTRY`; the engine never asks
which kind it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from powercycle.core.model import DEFERRED, NOTED, ActionError, ActRequest, Resource
from powercycle.providers.base import Factory, Provider

if TYPE_CHECKING:
    from powercycle.aws.targets import Target
    from powercycle.config import Config
    from powercycle.runtime.budget import Budget

__all__ = [
    "DEFERRED",
    "NOTED",
    "REGISTRY",
    "ActRequest",
    "ActionError",
    "Factory",
    "Provider",
    "Resource",
    "all_providers",
    "providers_for",
]


def _ec2(config: Config, regions: Sequence[str], **scope: Any) -> list[Provider]:
    from powercycle.providers import ec2

    return ec2.providers(config, regions, **scope)


def _eks(config: Config, regions: Sequence[str], **scope: Any) -> list[Provider]:
    from powercycle.providers import eks

    return eks.providers(config, regions, **scope)


def _asg(config: Config, regions: Sequence[str], **scope: Any) -> list[Provider]:
    from powercycle.providers import asg

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
