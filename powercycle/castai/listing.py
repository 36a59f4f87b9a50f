"""CAST AI's cluster listing, read item by item.

`parse_listing` turns the items of `GET /v1/kubernetes/external-clusters` into `Cluster`s
(only the fields scheduling reads); an item that cannot be read is a `BadItem` holding
whatever names could be salvaged from it, so that it is an error for the EKS cluster it
names and for nothing else. `castai.client` fetches the listing and re-exports these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from powercycle.runtime.text import clip

__all__ = ["GONE", "BadItem", "Cluster", "Listing", "parse_listing"]

# Statuses that mean the cluster cannot be scheduled at all (and is not a match).
GONE = frozenset({"deleted", "deleting", "archived"})


@dataclass(frozen=True)
class Cluster:
    """The fields of a CAST AI cluster that scheduling reads."""

    id: str
    name: str
    status: str
    provider_type: str
    cluster_name: str | None  # eks.clusterName
    region: str | None  # eks.region, else region.name
    account_id: str | None  # eks.accountId, else providerNamespaceId

    @classmethod
    def from_api(cls, item: Any) -> Cluster:
        """One listed item; `ValueError` naming the field when it is malformed."""
        if not isinstance(item, Mapping):
            raise ValueError(f"item is a {type(item).__name__}, not an object")
        eks = _object(item, "eks")
        region = _object(item, "region")
        cid = _text(item, "id")
        if not cid:
            raise ValueError("no 'id'")
        return cls(
            id=cid,
            name=_text(item, "name") or "",
            status=_text(item, "status") or "",
            provider_type=_text(item, "providerType") or "",
            cluster_name=_text(eks, "clusterName", "eks.") or None,
            region=_text(eks, "region", "eks.") or _text(region, "name", "region.") or None,
            account_id=_text(eks, "accountId", "eks.")
            or _text(item, "providerNamespaceId")
            or None,
        )

    @property
    def active(self) -> bool:
        """An EKS cluster CAST AI still manages (not deleted, deleting or archived)."""
        return self.provider_type == "eks" and self.status not in GONE


@dataclass(frozen=True)
class BadItem:
    """A listed item that could not be read: it matches nothing, and says why."""

    index: int
    id: str | None
    names: frozenset[str]  # whatever name-like strings could be salvaged from it
    error: str

    def describe(self) -> str:
        which = f"id {self.id}" if self.id else f"item {self.index}"
        return f"CAST AI listing {which} is malformed ({self.error})"


@dataclass(frozen=True)
class Listing:
    clusters: list[Cluster] = field(default_factory=list)
    bad: list[BadItem] = field(default_factory=list)

    def bad_naming(self, name: str) -> list[BadItem]:
        return [b for b in self.bad if name in b.names]


def parse_listing(items: Sequence[Any]) -> Listing:
    """Every item on its own: one malformed item is an error for that item only."""
    listing = Listing()
    for index, item in enumerate(items):
        try:
            listing.clusters.append(Cluster.from_api(item))
        except ValueError as exc:
            listing.bad.append(BadItem(index, *_salvage(item), error=str(exc)))
    return listing


def _object(item: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = item.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{key!r} is {clip(repr(value), 40)}, not an object")
    return value


def _text(item: Mapping[str, Any], key: str, prefix: str = "") -> str | None:
    value = item.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"'{prefix}{key}' is {clip(repr(value), 40)}, not a string")


def _salvage(item: Any) -> tuple[str | None, frozenset[str]]:
    if not isinstance(item, Mapping):
        return None, frozenset()
    eks = item.get("eks")
    candidates = [item.get("id"), item.get("name")]
    if isinstance(eks, Mapping):
        candidates.append(eks.get("clusterName"))
    cid = candidates[0] if isinstance(candidates[0], str) and candidates[0] else None
    return cid, frozenset(c for c in candidates[1:] if isinstance(c, str) and c)
