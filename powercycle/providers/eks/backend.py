"""What a backend of `providers/eks` (CAST AI today) may ask of the region it serves.

A backend does not hold the provider: it holds a `Host`, the few things of one region's
pass it needs (where it is, the settings, the CAST AI access and budget, the EKS clients,
the targets it registers, and how a resource in error is spelled). `EksProvider` is one;
a test can hand a backend any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from powercycle.core.model import Resource

if TYPE_CHECKING:
    from powercycle.castai.access import CastAIAccess
    from powercycle.config import Config
    from powercycle.runtime.budget import Budget

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Target:
    """Where to act on a resource: its CAST AI id ("" for node groups), its ARN for tags."""

    castai_id: str
    arn: str | None


class Host(Protocol):
    """One region of an EKS pass, as a backend sees it."""

    kind: str
    region: str
    account: str
    config: Config
    access: CastAIAccess
    budget: Budget
    # Resource id -> where to act on it; the backend registers what it discovers.
    targets: dict[str, Target]
    # Cluster name -> ARN of a CAST AI operation judged done: its tag is removed only once
    # the resource is screened (`tidy`), never for an excluded or snoozed cluster.
    done_operations: dict[str, str]

    def eks(self, region: str) -> Any:
        """The EKS client of `region`, with the pass's credentials."""
        ...

    def region_of(self, arn: str | None) -> str:
        """The region of a cluster ARN (this region when there is none)."""
        ...

    def error(
        self, resource_id: str, tags: Mapping[str, str], error: str, *, region: str | None = None
    ) -> Resource:
        """A resource this pass cannot schedule, with why."""
        ...

    def started(self, tags: Mapping[str, str], observed: datetime | None) -> datetime | None:
        """When the cluster last started (`maxRuntime` counts from it)."""
        ...

    def each(
        self,
        items: Sequence[T],
        work: Callable[[T], R],
        deferred: Callable[[T], R],
        *,
        always: bool = False,
    ) -> list[R]:
        """work(item) for each item, a few at a time, in order; `deferred(item)` once the
        budget is spent (unless `always`)."""
        ...

    def untag(self, name: str, arn: str | None, keys: list[str]) -> None:
        """Remove tags powercycle no longer needs from the cluster (not in a dry run)."""
        ...
