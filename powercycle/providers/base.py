"""The provider Protocol: what the engine asks of every kind.

In a module of its own so that no kind imports the package that registers it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from powercycle.core.model import ActionError, ActRequest, Resource
from powercycle.core.schedule import Action


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
Factory = Callable[..., list["Provider"]]
