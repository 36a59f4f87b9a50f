"""ECS services for the CLI: found by `cluster/service` or ARN, tags removed, the sizes a
service remembers reviewed for `powercycle seal` against its scaling target as it is now."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from powercycle import aws
from powercycle.core.tags import CAPACITY, Capacity, TagError
from powercycle.providers.base import Found, Memory
from powercycle.providers.ecs_services import (
    KIND,
    describe,
    scalable_targets,
    service_id,
    split_ref,
    tags_of,
)

# What DescribeServices answers for a cluster that does not exist.
_NO_CLUSTER = ("ClusterNotFoundException", "InvalidParameterException")


class EcsCli:
    """What `EcsProvider` answers the CLI (`base.Tagger`, `base.Sealer`)."""

    region: str
    account: str
    _arns: dict[str, str]

    if TYPE_CHECKING:

        @property
        def client(self) -> Any: ...

        @property
        def scaling(self) -> Any: ...

    def described(self, refs: Sequence[str]) -> dict[str, dict[str, Any]]:
        """`cluster/service` -> its description, for the refs naming a service ECS knows."""
        by_cluster: dict[str, list[str]] = {}
        for ref in refs:
            parts = split_ref(ref)
            if parts is not None:
                by_cluster.setdefault(parts[0], []).append(parts[1])
        found: dict[str, dict[str, Any]] = {}
        for cluster, services in by_cluster.items():
            try:
                for service in describe(self.client, cluster, services):
                    sid = service_id(service)
                    found[sid] = dict(service)
                    self._arns[sid] = str(service.get("serviceArn", ""))
            except aws.AWS_ERRORS as exc:
                if aws.error_code(exc) not in _NO_CLUSTER:
                    raise
        return found

    def find(self, refs: Sequence[str]) -> dict[str, list[Found]]:
        return {
            sid: [Found(KIND, sid, self.region, self.account, self._arns[sid], tags_of(s))]
            for sid, s in self.described(refs).items()
        }

    def remove_tags(self, found: Found, keys: Sequence[str]) -> None:
        self.client.untag_resource(resourceArn=found.arn, tagKeys=list(keys))

    def memory(self, found: Found) -> Memory | None:
        """The sizes a service remembers, never above its scaling target's maximum now."""
        value = found.tags.get(CAPACITY)
        if value is None:
            return None
        sizes = Capacity.parse(value)
        target = scalable_targets(self.scaling, [found.id]).get(found.id)
        if target is not None and max(sizes.min or 0, sizes.desired) > target.max:
            raise TagError(
                f"{CAPACITY}={value} asks for more than the service's maximum {target.max}"
            )
        now = f"scaling maximum now {target.max}" if target else "no scaling target now"
        shown = f"{CAPACITY} min/desired/max = {sizes.tag_value()} ({now})"
        return Memory(CAPACITY, {CAPACITY: value}, shown)

    def seal_arn(self, found: Found) -> str:
        return found.arn
