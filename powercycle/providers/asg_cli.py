"""Auto Scaling groups for the CLI: found by name or ARN, tags removed, the sizes a group
remembers reviewed for `powercycle seal` against its maximum as it is now."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from powercycle.core.tags import CAPACITY, Capacity, TagError
from powercycle.providers.asg_groups import KIND, describe, tag_spec, tags_of
from powercycle.providers.base import Found, Memory


class AsgCli:
    """What `AsgProvider` answers the CLI (`base.Tagger`, `base.Sealer`)."""

    region: str
    account: str
    _maxima: dict[str, int]  # MaxSize as found: what a memory is checked against

    if TYPE_CHECKING:

        @property
        def client(self) -> Any: ...

    def find(self, refs: Sequence[str]) -> dict[str, list[Found]]:
        found: dict[str, list[Found]] = {}
        for g in describe(self.client, names=refs):
            name, arn = str(g["AutoScalingGroupName"]), str(g.get("AutoScalingGroupARN", ""))
            found[name] = [Found(KIND, name, self.region, self.account, arn, tags_of(g))]
            self._maxima[name] = int(g["MaxSize"])
        return found

    def remove_tags(self, found: Found, keys: Sequence[str]) -> None:
        self.client.delete_tags(Tags=[tag_spec(found.id, k) for k in keys])

    def memory(self, found: Found) -> Memory | None:
        """The sizes a group remembers, never above its maximum as found."""
        value = found.tags.get(CAPACITY)
        if value is None:
            return None
        low, desired, high = Capacity.parse(value).sizes()
        top = self._maxima.get(found.id, 0)
        if desired > top or low > top:
            raise TagError(f"{CAPACITY}={value} asks for more than the group's maximum {top}")
        shown = f"{CAPACITY} min/desired/max = {low}/{desired}/{high} (group maximum now {top})"
        return Memory(CAPACITY, {CAPACITY: value}, shown)

    def seal_arn(self, found: Found) -> str:
        return found.arn
