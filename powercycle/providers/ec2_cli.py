"""EC2 instances for the CLI: found by id or Name tag, tags removed, the type an instance
remembers reviewed for `powercycle seal`; and the AWS CLI command a notice offers."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from powercycle import aws
from powercycle.core.tags import TYPE, TagError, is_instance_type
from powercycle.providers.base import Found, Memory, cli_json

if TYPE_CHECKING:
    from powercycle.core.model import Resource

KIND = "ec2"
ID = re.compile(r"i-[0-9a-f]+")


class Ec2Cli:
    """What `Ec2Provider` answers the CLI (`base.Tagger`, `base.Sealer`)."""

    region: str
    account: str
    _credentials: str

    if TYPE_CHECKING:

        @property
        def client(self) -> Any: ...

        def _describe(
            self, filters: list[dict[str, Any]], *, check: bool = False
        ) -> Iterator[Resource]: ...

    def find(self, refs: Sequence[str]) -> dict[str, list[Found]]:
        found: dict[str, list[Found]] = {}
        ids, names = [r for r in refs if ID.fullmatch(r)], [r for r in refs if not ID.match(r)]
        for key, wanted in (("instance-id", ids), ("tag:Name", names)):
            for r in self._describe([{"Name": key, "Values": wanted}]) if wanted else ():
                ref = r.id if key == "instance-id" else r.tags.get("Name", "")
                found.setdefault(ref, []).append(Found(KIND, r.id, r.region, r.account, "", r.tags))
        return found

    def remove_tags(self, found: Found, keys: Sequence[str]) -> None:
        self.client.delete_tags(Resources=[found.id], Tags=[{"Key": k} for k in keys])

    def memory(self, found: Found) -> Memory | None:
        """The instance type an instance remembers (its own, to give back)."""
        value = found.tags.get(TYPE)
        if value is None:
            return None
        if not is_instance_type(value):
            raise TagError(f"{TYPE}={value!r} is not an instance type")
        return Memory(TYPE, {TYPE: value}, f"{TYPE} = {value} (its own type, to give back)")

    def seal_arn(self, found: Found) -> str:
        account = found.account or aws.account_id(self._credentials, region=found.region)
        return arn(found.region, account, found.id)


def arn(region: str, account: str, instance_id: str) -> str:
    partition = {"cn": "aws-cn", "us-gov": "aws-us-gov"}.get(region.rsplit("-", 2)[0], "aws")
    return f"arn:{partition}:ec2:{region}:{account}:instance/{instance_id}"


def tag_command(region: str, rid: str, arn: str, tags: Mapping[str, str]) -> str:
    """The AWS CLI command writing `tags` on an instance (a kind's `tag_command`)."""
    spec = cli_json([{"Key": k, "Value": v} for k, v in tags.items()])
    return (
        f"aws ec2 create-tags --region {region} --resources {shlex.quote(rid)} "
        f"--tags {shlex.quote(spec)}"
    )
