"""Kind `rds-cluster`: DB clusters carrying the schedule tag (Aurora MySQL and PostgreSQL,
DocumentDB, Neptune, Multi-AZ DB clusters), their member instances with them.

Stop and start: `StopDBCluster` / `StartDBCluster`. Refused before any call, with the
reason: Aurora Serverless v1 (`EngineMode` serverless), an Aurora global database member,
a cluster with cross-Region replicas (or one itself), a blue/green deployment member.
RDS starts a cluster stopped for 7 days by itself: such a cluster is stopped again, reason
`auto-restarted` (RDS-EVENT-0153). The provider is `rds_base.RdsProvider`; what it reads,
`rds_common`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from powercycle.providers.base import Kind, per_region
from powercycle.providers.rds_base import RdsProvider, Spec
from powercycle.providers.rds_common import cluster_refusal, tag_command

if TYPE_CHECKING:
    pass

KIND = "rds-cluster"


def _no_cluster(_: Mapping[str, Any]) -> str | None:
    return None


SPEC = Spec(
    kind=KIND,
    title="DB cluster",
    source_type="db-cluster",
    describe="describe_db_clusters",
    key="DBClusters",
    id_key="DBClusterIdentifier",
    arn_key="DBClusterArn",
    status_key="Status",
    filter_name="db-cluster-id",
    stop="stop_db_cluster",
    start="start_db_cluster",
    refusal=cluster_refusal,
    member_of=_no_cluster,
)


providers = per_region(partial(RdsProvider, SPEC))


def _tag_command(region: str, rid: str, arn: str, tags: Mapping[str, str]) -> str:
    return tag_command("db-cluster", region, rid, arn, tags)


DECLARATION = Kind(
    name=KIND,
    payload_key="dbClusterIdentifiers",
    title="RDS DB cluster",
    refs="a DB cluster identifier or ARN (Aurora, DocumentDB, Neptune)",
    factory=providers,
    arn_pattern=re.compile(
        r"arn:aws[a-z-]*:rds:(?P<region>[a-z0-9-]+):\d*:cluster:(?P<name>[^:]+)"
    ),
    tag_command=_tag_command,
    json_tags=False,
)
