"""Kind `rds`: RDS DB instances carrying the schedule tag that belong to no DB cluster.

Stop and start: `StopDBInstance` / `StartDBInstance`. A member instance of a cluster
(Aurora, DocumentDB, Neptune: `DBClusterIdentifier` set) is left to its cluster (kind
`rds-cluster`), like an Auto Scaling group's instances. Refused before any call, with the
reason: a read replica, a source of read replicas, RDS for SQL Server Multi-AZ, a
blue/green deployment member. RDS starts a database stopped for 7 days by itself: such a
database is stopped again, reason `auto-restarted` (RDS-EVENT-0154). The provider is
`rds_base.RdsProvider`; what it reads, `rds_common`. RDS tag values hold no JSON: a
database carries the uptime form, a library name or a URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from powercycle.providers.base import Kind, per_region
from powercycle.providers.rds_base import RdsProvider, Spec
from powercycle.providers.rds_common import instance_refusal, tag_command

if TYPE_CHECKING:
    pass

KIND = "rds"


def _member_of(db: Mapping[str, Any]) -> str | None:
    cluster = db.get("DBClusterIdentifier")
    return str(cluster) if cluster else None


SPEC = Spec(
    kind=KIND,
    title="DB instance",
    source_type="db-instance",
    describe="describe_db_instances",
    key="DBInstances",
    id_key="DBInstanceIdentifier",
    arn_key="DBInstanceArn",
    status_key="DBInstanceStatus",
    filter_name="db-instance-id",
    stop="stop_db_instance",
    start="start_db_instance",
    refusal=instance_refusal,
    member_of=_member_of,
)


providers = per_region(partial(RdsProvider, SPEC))


def _tag_command(region: str, rid: str, arn: str, tags: Mapping[str, str]) -> str:
    return tag_command("db-instance", region, rid, arn, tags)


DECLARATION = Kind(
    name=KIND,
    payload_key="dbInstanceIdentifiers",
    title="RDS DB instance",
    refs="an RDS DB instance identifier or ARN",
    factory=providers,
    arn_pattern=re.compile(r"arn:aws[a-z-]*:rds:(?P<region>[a-z0-9-]+):\d*:db:(?P<name>[^:]+)"),
    tag_command=_tag_command,
    json_tags=False,
)
