"""EKS clusters for the CLI: found by name or ARN, tags removed, the node-group sizes a
cluster remembers reviewed for `powercycle seal` against each group's maximum as it is
now; and the AWS CLI command a notice offers."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from powercycle import aws
from powercycle.core.tags import NODEGROUPS, TagError
from powercycle.core.tags_sizes import remembered_sizes
from powercycle.providers.base import Found, Memory, cli_json
from powercycle.providers.eks.castai import Target

KIND = "eks"


class EksCli:
    """What `EksProvider` answers the CLI (`base.Tagger`, `base.Sealer`)."""

    region: str
    account: str
    targets: dict[str, Target]

    if TYPE_CHECKING:

        @property
        def client(self) -> Any: ...

        def eks(self, region: str) -> Any: ...

    def find(self, refs: Sequence[str]) -> dict[str, list[Found]]:
        found = {}
        for name in refs:
            try:
                cluster = self.client.describe_cluster(name=name)["cluster"]
            except aws.AWS_ERRORS as exc:
                if aws.error_code(exc) in ("ResourceNotFoundException", "ValidationException"):
                    continue
                raise
            tags = {str(k): str(v) for k, v in (cluster.get("tags") or {}).items()}
            self.targets.setdefault(name, Target("", str(cluster["arn"])))  # for `record`
            found[name] = [Found(KIND, name, self.region, self.account, cluster["arn"], tags)]
        return found

    def remove_tags(self, found: Found, keys: Sequence[str]) -> None:
        # One key per call: moto's UntagResource drops only the first of several tagKeys,
        # and a cluster carries a handful of our tags at most.
        for key in keys:
            self.eks(found.region).untag_resource(resourceArn=found.arn, tagKeys=[key])

    def memory(self, found: Found) -> Memory | None:
        """The node-group sizes a cluster remembers, never above a group's maximum now."""
        remembered, parts = remembered_sizes(found.tags)
        if remembered is None:
            return None
        tops = self._nodegroup_maxima(found)
        for group, size in remembered.items():
            if group in tops and max(size.min, size.desired) > tops[group]:
                raise TagError(
                    f"node group {group!r} {size.as_list()} asks for more than its maximum "
                    f"{tops[group]}"
                )
        held = ", ".join(f"{g} {s.as_list()}" for g, s in sorted(remembered.items()))
        shown = f"{NODEGROUPS} ({len(parts)} parts): {held}"
        return Memory(NODEGROUPS, {k: found.tags[k] for k in parts}, shown)

    def seal_arn(self, found: Found) -> str:
        return found.arn

    def _nodegroup_maxima(self, found: Found) -> Mapping[str, int]:
        eks = self.eks(found.region)
        tops: dict[str, int] = {}
        for page in eks.get_paginator("list_nodegroups").paginate(clusterName=found.id):
            for name in page.get("nodegroups", ()):
                group = eks.describe_nodegroup(clusterName=found.id, nodegroupName=name)
                tops[name] = int((group["nodegroup"].get("scalingConfig") or {}).get("maxSize", 0))
        return tops


def tag_command(region: str, rid: str, arn: str, tags: Mapping[str, str]) -> str:
    """The AWS CLI command writing `tags` on a cluster (a kind's `tag_command`)."""
    where = f"--region {region}"
    quoted = (
        shlex.quote(arn)
        if arn
        else (
            f'"$(aws eks describe-cluster {where} --name {shlex.quote(rid)} '
            '--query cluster.arn --output text)"'
        )
    )
    spec = shlex.quote(cli_json(dict(tags)))
    return f"aws eks tag-resource {where} --resource-arn {quoted} --tags {spec}"
