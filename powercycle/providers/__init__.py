"""Resource kinds behind one small interface, and the registry of kinds.

The engine sees only `Provider`: discover resources, act on a batch, record state tags.
A kind is one module here declaring a `KIND` (`base.Kind`: its name, payload key, refs,
provider factory); `REGISTRY` is the only list of kinds, filled from those declarations.
Nothing outside this package names a kind.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from powercycle.core.model import DEFERRED, NOTED, ActionError, ActRequest, Resource
from powercycle.providers.base import Factory, Found, Kind, Memory, Provider, Sealer, Tagger

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
    "Found",
    "Kind",
    "Memory",
    "Provider",
    "Resource",
    "Sealer",
    "Tagger",
    "all_providers",
    "providers_for",
    "register",
]

# The modules declaring a kind, in registry order; imported on first use of REGISTRY.
_MODULES = ("ec2", "eks", "asg", "ecs", "rds", "rds_cluster")


class Registry(Mapping[str, Kind]):
    """kind name -> Kind, in order; the kind modules are imported on first use."""

    def __init__(self, modules: Sequence[str]) -> None:
        self._modules = modules
        self._kinds: dict[str, Kind] = {}
        self._loaded = False
        self._lock = threading.Lock()

    def _all(self) -> dict[str, Kind]:
        if not self._loaded:
            with self._lock:
                if not self._loaded:
                    declared = {}
                    for name in self._modules:
                        kind: Kind = importlib.import_module(f"{__name__}.{name}").DECLARATION
                        declared[kind.name] = kind
                    self._kinds = declared | self._kinds
                    self._loaded = True
        return self._kinds

    def __getitem__(self, name: str) -> Kind:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def register(self, kind: Kind) -> None:
        """Add a kind declared outside this package (a test's fake kind)."""
        self._all()[kind.name] = kind

    def unregister(self, name: str) -> None:
        self._all().pop(name, None)

    def by_payload_key(self) -> dict[str, Kind]:
        return {kind.payload_key: kind for kind in self.values()}


REGISTRY = Registry(_MODULES)
register = REGISTRY.register


def all_providers(
    config: Config, regions: Sequence[str], *, budget: Budget | None = None
) -> list[Provider]:
    """Every provider of the kinds `config.kinds` names, in registry order."""
    return [
        provider
        for name, kind in REGISTRY.items()
        if name in config.kinds
        for provider in kind.factory(config, regions, budget=budget)
    ]


def providers_for(
    config: Config,
    targets: Iterable[Target],
    *,
    budget: Budget | None = None,
    kinds: Iterable[str] | None = None,
) -> list[Provider]:
    """The providers of a pass over targets (account x region), each with its credentials;
    of the kinds `config.kinds` names, or of `kinds`."""
    wanted = set(config.kinds if kinds is None else kinds)
    regions: dict[tuple[str, str], list[str]] = {}
    for target in targets:
        regions.setdefault((target.account, target.credentials), []).append(target.region)
    return [
        provider
        for (account, credentials), scanned in regions.items()
        for name, kind in REGISTRY.items()
        if name in wanted
        for provider in kind.factory(
            config, scanned, budget=budget, credentials=credentials, account=account
        )
    ]
