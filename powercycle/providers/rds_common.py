"""RDS databases as the API shows them, for kinds `rds` (DB instances) and `rds-cluster`
(Aurora, DocumentDB and Neptune clusters): one describe answer read into power, refusals and
the verdict on an earlier action; RDS's own events read into the 7-day restart. No state of
a pass, no call but `auto_started` (one paginated `DescribeEvents`).

Power, from the status (`DBInstanceStatus`, `Status`):
- `available` running, `stopped` stopped;
- `failed`, `incompatible-*`, `inaccessible-encryption-credentials*`, `restore-error`,
  `storage-full`, `insufficient-capacity`, `cloning-failed`, `migration-failed`: an error
  naming the status (waiting does not end them);
- every other status (`starting`, `stopping`, `backing-up`, `modifying`, `maintenance`,
  `upgrading`, ...) in transition: wait, record nothing.

Refused before any call, with the reason (`Resource.skip`: `check` and `plan` show it):
what RDS cannot stop (a read replica, a source of read replicas, RDS for SQL Server
Multi-AZ, an Aurora global database member, a cluster with cross-Region replicas, a
blue/green deployment member, Aurora Serverless v1).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from powercycle.core.decide import Power
from powercycle.core.tags import Attempts
from powercycle.core.verify import PENDING, TOOK, Failed, Seen
from powercycle.providers.base import cli_json

PAGE_SIZE = 100  # DescribeDBInstances' and DescribeDBClusters' maximum MaxRecords
FILTER_VALUES = 50  # identifiers per `db-instance-id` / `db-cluster-id` filter

_ERRORS = frozenset(
    {
        "failed",
        "restore-error",
        "storage-full",
        "insufficient-capacity",
        "cloning-failed",
        "migration-failed",
    }
)
_ERROR_PREFIXES = ("incompatible-", "inaccessible-encryption-credentials")
_HINTS = {
    "inaccessible-encryption-credentials": (
        "the KMS key of its storage is disabled or not usable: enable the key, then start "
        "the database"
    ),
    "inaccessible-encryption-credentials-recoverable": (
        "the KMS key of its storage is disabled or not usable: enable the key, then start "
        "the database"
    ),
    "incompatible-network": "RDS suggests starting it again once its subnets have free IPs",
    "insufficient-capacity": "RDS had no capacity for the instance class in its zone",
    "storage-full": "its allocated storage is full",
}
# The message of RDS-EVENT-0154 (instances) and RDS-EVENT-0153 (clusters): DescribeEvents
# answers with the message, not the event id.
AUTO_START = "exceeding the maximum allowed time being stopped"
# RDS-EVENT-0087 and RDS-EVENT-0150: stopped (by anyone).
STOPPED = frozenset({"DB instance stopped", "DB cluster stopped"})


class StatusError(ValueError):
    """A status that waiting does not end: the database's error."""


def status_error(status: str) -> str | None:
    """The error a status means, or None."""
    if status in _ERRORS or status.startswith(_ERROR_PREFIXES):
        hint = _HINTS.get(status)
        return f"RDS status {status}" + (f": {hint}" if hint else "")
    return None


def power_of(status: str) -> Power:
    """Running, stopped or in transition; raises `StatusError` for an error status."""
    if status == "available":
        return Power.RUNNING
    if status == "stopped":
        return Power.STOPPED
    error = status_error(status)
    if error:
        raise StatusError(error)
    return Power.TRANSITION


def seen(attempts: Attempts, status: str) -> Seen:
    """What a database's status says about an action an earlier pass had accepted (no
    call). A start found `stopped` again, or in an error status, did not take; a stop found
    running again took (a person, or RDS's 7-day rule, started it since)."""
    error = status_error(status)
    if attempts.action == "start":
        if status == "available":
            return TOOK
        if status == "stopped":
            return Failed("RDS status stopped: the start did not take")
        return Failed(error) if error else PENDING
    if status in ("stopped", "available"):
        return TOOK
    return Failed(error) if error else PENDING


# --- what RDS cannot stop ------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    reason: str
    # Whether a blue/green deployment may be why (green is a replica of blue): then the
    # provider asks `DescribeBlueGreenDeployments` once and names it when it is.
    replication: bool = False


def instance_refusal(db: Mapping[str, Any]) -> Refusal | None:
    """Why RDS cannot stop this DB instance, or None."""
    source = db.get("ReadReplicaSourceDBInstanceIdentifier") or db.get(
        "ReadReplicaSourceDBClusterIdentifier"
    )
    if source:
        return Refusal(
            f"cannot be stopped: a read replica of {source} (RDS stops no read replica)",
            replication=True,
        )
    replicas = [
        *db.get("ReadReplicaDBInstanceIdentifiers", ()),
        *db.get("ReadReplicaDBClusterIdentifiers", ()),
    ]
    if replicas:
        return Refusal(
            f"cannot be stopped: the source of read replicas {', '.join(map(str, replicas))} "
            "(RDS stops no database that has read replicas)",
            replication=True,
        )
    if str(db.get("Engine", "")).startswith("custom-"):
        return Refusal("cannot be stopped by StopDBInstance: an RDS Custom database")
    if str(db.get("Engine", "")).startswith("sqlserver") and db.get("MultiAZ"):
        return Refusal(
            "cannot be stopped: RDS for SQL Server in a Multi-AZ deployment (RDS stops none)"
        )
    return None


def cluster_refusal(cluster: Mapping[str, Any]) -> Refusal | None:
    """Why RDS cannot stop this DB cluster, or None."""
    if cluster.get("EngineMode") == "serverless":
        return Refusal(
            "cannot be stopped: Aurora Serverless v1 (RDS stops none; it pauses by itself "
            "with its auto-pause setting)"
        )
    global_id = cluster.get("GlobalClusterIdentifier")
    if global_id:
        return Refusal(
            f"cannot be stopped: a member of the Aurora global database {global_id} "
            "(RDS stops no global database member)"
        )
    source = cluster.get("ReplicationSourceIdentifier")
    if source:
        return Refusal(
            f"cannot be stopped: a replica of {source} (RDS stops no replica cluster)",
            replication=True,
        )
    replicas = list(cluster.get("ReadReplicaIdentifiers", ()))
    if replicas:
        return Refusal(
            f"cannot be stopped: it has cross-Region replicas {', '.join(map(str, replicas))} "
            "(RDS stops no cluster that has them)",
            replication=True,
        )
    return None


def blue_green_members(deployments: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """ARN -> the name of the blue/green deployment it is the blue or green side of."""
    members: dict[str, str] = {}
    for deployment in deployments:
        name = str(
            deployment.get("BlueGreenDeploymentName")
            or deployment.get("BlueGreenDeploymentIdentifier")
            or "?"
        )
        for side in ("Source", "Target"):
            if deployment.get(side):
                members[str(deployment[side])] = name
    return members


def blue_green_refusal(name: str) -> str:
    return (
        f"cannot be stopped: a member of the blue/green deployment {name} "
        "(RDS stops none; switch over or delete the deployment first)"
    )


# --- RDS's 7-day restart ---------------------------------------------------------------


def auto_started(
    client: Any, source_type: str, identifier: str, since: datetime
) -> datetime | None:
    """When RDS last started the database by itself (RDS-EVENT-0154 / 0153) since `since`,
    from its own events (one paginated `DescribeEvents`), or None: none since, or it was
    stopped after that (RDS-EVENT-0087 / 0150) and is running again, so a person started
    it."""
    paginator = client.get_paginator("describe_events")
    latest: datetime | None = None
    stopped: datetime | None = None  # a stop since (RDS-EVENT-0087 / 0150): a person's
    pages = paginator.paginate(
        SourceType=source_type,
        SourceIdentifier=identifier,
        StartTime=since,
        PaginationConfig={"PageSize": PAGE_SIZE},
    )
    for page in pages:
        for event in page.get("Events", ()):
            when, message = event.get("Date"), str(event.get("Message", ""))
            if not isinstance(when, datetime):
                continue
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            if when < since:
                continue
            if AUTO_START in message:
                latest = when if latest is None else max(latest, when)
            elif message.rstrip(".") in STOPPED:
                stopped = when if stopped is None else max(stopped, when)
    if latest is not None and stopped is not None and stopped > latest:
        return None  # stopped after RDS's start, and running again: a person started it
    return latest


# --- describing and tagging ------------------------------------------------------------


def describe(
    client: Any,
    operation: str,
    key: str,
    filter_name: str,
    refs: Sequence[str] | None = None,
) -> Iterator[Mapping[str, Any]]:
    """DescribeDBInstances or DescribeDBClusters, paginated: all of them, or those `refs`
    (identifiers or ARNs) name, in chunks (an unknown one is absent, not an error)."""
    paginator = client.get_paginator(operation)
    queries: list[dict[str, Any]] = (
        [
            {"Filters": [{"Name": filter_name, "Values": list(refs[i : i + FILTER_VALUES])}]}
            for i in range(0, len(refs), FILTER_VALUES)
        ]
        if refs is not None
        else [{}]
    )
    for query in queries:
        for page in paginator.paginate(**query, PaginationConfig={"PageSize": PAGE_SIZE}):
            yield from page.get(key, ())


def tags_of(answer: Mapping[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in answer.get("TagList", ())}


def safe_tags(answer: Mapping[str, Any]) -> dict[str, str]:
    try:
        return tags_of(answer)
    except Exception:
        return {}


def tag_command(noun: str, region: str, rid: str, arn: str, tags: Mapping[str, str]) -> str:
    """The AWS CLI command writing `tags` on a database; without its ARN, the command
    reads it first (`noun`: `db-instance` or `db-cluster`)."""
    spec = cli_json([{"Key": k, "Value": v} for k, v in tags.items()])
    if arn:
        name = shlex.quote(arn)
    else:
        plural = "DBInstances" if noun == "db-instance" else "DBClusters"
        field = "DBInstanceArn" if noun == "db-instance" else "DBClusterArn"
        name = (
            f'"$(aws rds describe-{noun}s --region {region} --{noun}-identifier '
            f"{shlex.quote(rid)} --query '{plural}[0].{field}' --output text)\""
        )
    return (
        f"aws rds add-tags-to-resource --region {region} --resource-name {name} "
        f"--tags {shlex.quote(spec)}"
    )
