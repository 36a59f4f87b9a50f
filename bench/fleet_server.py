"""The benchmark's local AWS: a moto server in a process of its own, `fleet_server.py PORT`.

moto finds an instance by copying and scanning every reservation it holds, and an
instance's tags by scanning every tag of the region, so launching, stopping, tagging or
describing one instance costs O(fleet) on the server, and a 10,000-instance benchmark
would spend hours inside moto. Here instances and their tags are looked up by id instead.
Answers are unchanged (same instances, same tags, same errors); only the server gets
faster. Nothing here runs in the measured client processes.
"""

from __future__ import annotations

import itertools
import sys
import time
from typing import Any

from moto.ec2.exceptions import InvalidInstanceIdError
from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix
from moto.server import ThreadedMotoServer


def _index(backend: Any, instance_id: str) -> dict[str, Any]:
    index: dict[str, Any] = backend.__dict__.setdefault("_bench_index", {})
    if instance_id not in index:
        # New instances land in the newest reservations: look there first.
        for reservation in itertools.islice(reversed(backend.reservations.values()), 4):
            index.update((i.id, i) for i in reservation.instances)
        if instance_id not in index:
            index.update((i.id, i) for r in backend.reservations.values() for i in r.instances)
    return index


def get_instance(self: Any, instance_id: str) -> Any:
    found = _index(self, instance_id).get(instance_id)
    if found is None:
        raise InvalidInstanceIdError(instance_id)
    return found


def get_instance_by_id(self: Any, instance_id: str) -> Any:
    return _index(self, instance_id).get(instance_id)


def get_multi_instances_by_id(self: Any, instance_ids: list[str], filters: Any = None) -> Any:
    missing = []
    result = []
    for instance_id in instance_ids:
        instance = _index(self, instance_id).get(instance_id)
        if instance is None:
            missing.append(instance_id)
        elif instance.applies(filters):
            result.append(instance)
    if missing:
        raise InvalidInstanceIdError(missing)
    return result


def get_tags(self: Any) -> list[dict[str, str]]:
    """`describe_tags(filters={"resource-id": [id]})` without scanning every tag."""
    if not self.id:
        return []
    tags = self.ec2_backend.tags
    found = tags.get(self.id, {})
    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(self.id), "")
    return [
        {"resource_id": self.id, "key": k, "value": v, "resource_type": kind}
        for k, v in found.items()
    ]


def main() -> None:
    TaggedEC2Resource.get_tags = get_tags  # type: ignore[method-assign]
    InstanceBackend.get_instance = get_instance  # type: ignore[method-assign]
    InstanceBackend.get_multi_instances_by_id = get_multi_instances_by_id  # type: ignore[method-assign]
    InstanceBackend.get_instance_by_id = get_instance_by_id  # type: ignore[method-assign]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
    server.start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
