"""Kinds `rds` and `rds-cluster` on moto, through the real handler: DB instances and
Aurora clusters stopped and started on an uptime schedule, cluster members left to their
cluster, what RDS cannot stop refused before any call, statuses read into power, RDS's
7-day restart stopped again (judged from its events) and a person's start respected,
verified starts, production and dry run untouched, and the calls a pass costs.

moto emits no RDS-EVENT-0154 / 0153 (its DescribeEvents knows creation and backup events
only): `rds_restarted_itself` adds the automatic start's event to moto's RDS backend, with
RDS's documented message, as RDS would write it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.rds.models import Event, rds_backends

from powercycle import aws
from powercycle.config import Config
from powercycle.engine import run_pass
from powercycle.handler import run_event
from powercycle.providers import REGISTRY
from powercycle.providers import rds_common as common
from powercycle.providers.rds_common import cluster_refusal, instance_refusal, power_of
from tests.helpers import REGION, STATE_TAG, TAG, at, client_error

UPTIME = "Mon-Fri 08:00-17:55"  # UTC: the uptime form RDS tags can hold
MONDAY_EVENING = at("2026-11-23 18:00")
TUESDAY_MORNING = at("2026-11-24 08:00")
RDS_KINDS = Config(regions=(REGION,), kinds=("rds", "rds-cluster"), retry_delay_s=0.0)
PASSWORD = "not-a-secret-0123"


@pytest.fixture
def rds(moto: None) -> Any:
    """The RDS client the handler's providers use (clients are cached per process), so
    hooks registered on it see the scheduler's calls."""
    return aws.client("rds", REGION)


@pytest.fixture
def calls(rds: Any) -> Counter[str]:
    seen: Counter[str] = Counter()
    rds.meta.events.register(
        "provide-client-params.rds.*", lambda model, **_: seen.update([model.name])
    )
    return seen


def backend() -> Any:
    return rds_backends[DEFAULT_ACCOUNT_ID][REGION]


def database(rds: Any, name: str, tags: dict[str, str] | None = None, **extra: Any) -> str:
    rds.create_db_instance(
        DBInstanceIdentifier=name,
        Engine=extra.pop("Engine", "postgres"),
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword=PASSWORD,
        Tags=[
            {"Key": k, "Value": v} for k, v in (tags if tags is not None else {TAG: UPTIME}).items()
        ],
        **extra,
    )
    return name


def cluster(rds: Any, name: str, tags: dict[str, str] | None = None, **extra: Any) -> str:
    rds.create_db_cluster(
        DBClusterIdentifier=name,
        Engine=extra.pop("Engine", "aurora-postgresql"),
        MasterUsername="admin",
        MasterUserPassword=PASSWORD,
        Tags=[
            {"Key": k, "Value": v} for k, v in (tags if tags is not None else {TAG: UPTIME}).items()
        ],
        **extra,
    )
    return name


def status(rds: Any, name: str) -> str:
    (db,) = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"]
    return str(db["DBInstanceStatus"])


def cluster_status(rds: Any, name: str) -> str:
    (found,) = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"]
    return str(found["Status"])


def tags(rds: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn)["TagList"]}


def db_arn(name: str) -> str:
    return f"arn:aws:rds:{REGION}:{DEFAULT_ACCOUNT_ID}:db:{name}"


def cluster_arn(name: str) -> str:
    return f"arn:aws:rds:{REGION}:{DEFAULT_ACCOUNT_ID}:cluster:{name}"


def acted(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(a["id"], a["action"], a["reason"], a["result"]) for a in result["actions"]]


def restarted_itself(
    resource: Any, moment: datetime, message: str, source_type: str, arn: str
) -> None:
    """RDS's automatic start after 7 days, as RDS does it: the database running again and
    the event RDS-EVENT-0154 (0153 for a cluster) in its events, with RDS's message."""
    resource.status = "available"
    event = object.__new__(Event)  # moto's own event record, filled as RDS would
    event.source_identifier = arn.rsplit(":", 1)[1]
    event.source_type = source_type
    event.message = message
    event.event_categories = ["notification"]
    event.source_arn = arn
    event.date = moment.astimezone(UTC).replace(tzinfo=None)  # moto keeps naive UTC
    backend().events.append(event)


INSTANCE_AUTO_START = (
    "DB instance is being started due to it exceeding the maximum allowed time being stopped."
)
CLUSTER_AUTO_START = (
    "DB cluster is being started due to it exceeding the maximum allowed time being stopped."
)


# --- round trips -----------------------------------------------------------------------


def test_an_instance_stops_in_the_evening_and_starts_in_the_morning(
    rds: Any, calls: Counter[str]
) -> None:
    database(rds, "dev-db")
    result = run_event({}, RDS_KINDS, MONDAY_EVENING)
    assert acted(result) == [("dev-db", "stop", "first-sight", "done")]
    assert result["actions"][0]["kind"] == "rds"
    assert status(rds, "dev-db") == "stopped"
    written = tags(rds, db_arn("dev-db"))
    assert written[STATE_TAG] == "stop@2026-11-23T17:55:00Z"
    assert written["powercycle:attempts"] == "stop@2026-11-23T17:55:00Z/1"

    calls.clear()
    result = run_event({}, RDS_KINDS, MONDAY_EVENING + timedelta(minutes=15))
    assert result["actions"] == [] and result["errors"] == []
    # A quiet pass: one describe per kind, nothing written, no events read.
    assert calls == Counter({"DescribeDBInstances": 1, "DescribeDBClusters": 1})

    result = run_event({}, RDS_KINDS, TUESDAY_MORNING)
    assert acted(result) == [("dev-db", "start", "new-event", "done")]
    assert status(rds, "dev-db") == "available"
    assert tags(rds, db_arn("dev-db"))[STATE_TAG] == "start@2026-11-24T08:00:00Z"


def test_a_cluster_stops_and_starts_and_its_members_are_left_to_it(rds: Any) -> None:
    cluster(rds, "aurora-dev")
    # Tagged like its cluster (Terraform's default_tags): still the cluster's.
    database(rds, "aurora-dev-1", Engine="aurora-postgresql", DBClusterIdentifier="aurora-dev")
    result = run_event({}, RDS_KINDS, MONDAY_EVENING)
    assert acted(result) == [("aurora-dev", "stop", "first-sight", "done")]
    assert result["actions"][0]["kind"] == "rds-cluster"
    assert cluster_status(rds, "aurora-dev") == "stopped"
    assert tags(rds, cluster_arn("aurora-dev"))[STATE_TAG] == "stop@2026-11-23T17:55:00Z"
    assert STATE_TAG not in tags(rds, db_arn("aurora-dev-1"))

    result = run_event({}, RDS_KINDS, TUESDAY_MORNING)
    assert acted(result) == [("aurora-dev", "start", "new-event", "done")]
    assert cluster_status(rds, "aurora-dev") == "available"

    # A member named by hand is refused, naming its cluster.
    result = run_event(
        {"dbInstanceIdentifiers": ["aurora-dev-1"], "action": "stop"}, RDS_KINDS, TUESDAY_MORNING
    )
    assert result["actions"] == []
    (error,) = result["errors"]
    assert "a member of DB cluster aurora-dev" in error["error"]


def test_a_neptune_cluster_is_a_cluster(rds: Any) -> None:
    """(moto's RDS knows Neptune among the cluster engines, not DocumentDB: its clusters go
    through the same DescribeDBClusters and StopDBCluster.)"""
    cluster(rds, "graph", Engine="neptune")
    result = run_event({}, RDS_KINDS, MONDAY_EVENING)
    assert acted(result) == [("graph", "stop", "first-sight", "done")]


# --- what RDS cannot stop ----------------------------------------------------------------


def test_each_refusal_is_said_before_any_call(rds: Any, calls: Counter[str]) -> None:
    database(rds, "source")
    rds.create_db_instance_read_replica(
        DBInstanceIdentifier="replica", SourceDBInstanceIdentifier="source"
    )
    rds.add_tags_to_resource(ResourceName=db_arn("replica"), Tags=[{"Key": TAG, "Value": UPTIME}])
    database(rds, "mssql", Engine="sqlserver-se", MultiAZ=True, LicenseModel="license-included")
    cluster(rds, "v1", EngineMode="serverless", Engine="aurora-mysql")
    rds.create_global_cluster(GlobalClusterIdentifier="world", Engine="aurora-mysql")
    cluster(rds, "global-member", Engine="aurora-mysql", GlobalClusterIdentifier="world")
    cluster(rds, "with-replica", Engine="aurora-mysql")
    backend().clusters["with-replica"].read_replica_identifiers.append(
        "arn:aws:rds:us-east-1:123456789012:cluster:far-replica"
    )
    calls.clear()

    summary = run_pass(RDS_KINDS, MONDAY_EVENING)
    assert summary.actions == [] and summary.errors == []
    skipped = {o.resource.id: o.reason for o in summary.outcomes if o.result == "skipped"}
    assert "read replica of source" in skipped["replica"]
    assert "source of read replicas replica" in skipped["source"]
    assert "SQL Server in a Multi-AZ deployment" in skipped["mssql"]
    assert "Aurora Serverless v1" in skipped["v1"]
    assert "member of the Aurora global database world" in skipped["global-member"]
    assert "cross-Region replicas" in skipped["with-replica"]
    assert all(r.startswith("cannot be stopped") for r in skipped.values())
    assert not [c for c in calls if c.startswith(("Stop", "Start", "AddTags"))]
    assert all(s == "available" for s in (status(rds, "source"), status(rds, "mssql")))


def test_a_blue_green_deployment_member_is_named_as_such(rds: Any, calls: Counter[str]) -> None:
    database(rds, "blue")
    rds.create_blue_green_deployment(BlueGreenDeploymentName="upgrade", Source=db_arn("blue"))
    calls.clear()
    summary = run_pass(RDS_KINDS, MONDAY_EVENING)
    skipped = {o.resource.id: o.reason for o in summary.outcomes if o.result == "skipped"}
    assert "blue/green deployment upgrade" in skipped["blue"]
    assert calls["DescribeBlueGreenDeployments"] == 1
    assert calls["StopDBInstance"] == 0


def test_refusals_from_the_describe_answer() -> None:
    assert instance_refusal({"Engine": "postgres"}) is None
    assert instance_refusal({"Engine": "sqlserver-ee", "MultiAZ": False}) is None
    replica = instance_refusal({"ReadReplicaSourceDBClusterIdentifier": "arn:...:cluster:a"})
    assert replica is not None and replica.replication
    assert cluster_refusal({"EngineMode": "provisioned"}) is None
    replica_cluster = cluster_refusal({"ReplicationSourceIdentifier": "arn:...:cluster:src"})
    assert (
        replica_cluster is not None and "replica of arn:...:cluster:src" in replica_cluster.reason
    )


# --- statuses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "power"),
    [
        ("available", "running"),
        ("stopped", "stopped"),
        ("starting", "transition"),
        ("stopping", "transition"),
        ("backing-up", "transition"),
        ("modifying", "transition"),
        ("maintenance", "transition"),
        ("upgrading", "transition"),
    ],
)
def test_power_from_the_status(value: str, power: str) -> None:
    assert power_of(value).value == power


@pytest.mark.parametrize(
    "value",
    [
        "failed",
        "incompatible-network",
        "incompatible-parameters",
        "inaccessible-encryption-credentials",
        "inaccessible-encryption-credentials-recoverable",
    ],
)
def test_error_statuses(value: str) -> None:
    with pytest.raises(common.StatusError, match=f"RDS status {value}"):
        power_of(value)


def test_a_transient_status_waits_and_an_error_status_is_an_error(
    rds: Any, calls: Counter[str]
) -> None:
    database(rds, "busy")
    database(rds, "broken")
    backend().databases["busy"].status = "backing-up"
    backend().databases["broken"].status = "incompatible-parameters"
    calls.clear()
    summary = run_pass(RDS_KINDS, MONDAY_EVENING)
    assert summary.actions == []
    reasons = {o.resource.id: o.reason for o in summary.outcomes}
    assert reasons["busy"] == "in-transition"
    (error,) = summary.errors
    assert error["id"] == "broken" and "RDS status incompatible-parameters" in error["error"]
    assert calls["AddTagsToResource"] == 0 and calls["StopDBInstance"] == 0


def test_one_failing_database_is_confined_to_itself(rds: Any) -> None:
    database(rds, "good")
    database(rds, "bad")

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if params.get("DBInstanceIdentifier") == "bad":
            raise client_error(
                "InvalidDBInstanceState", "DB instance is not available", "StopDBInstance"
            )

    rds.meta.events.register("before-parameter-build.rds.StopDBInstance", refuse)
    result = run_event({}, RDS_KINDS, MONDAY_EVENING)
    by_id = {a["id"]: a for a in result["actions"]}
    assert by_id["good"]["result"] == "done"
    assert by_id["bad"]["result"] == "failed" and "InvalidDBInstanceState" in by_id["bad"]["error"]
    assert STATE_TAG not in tags(rds, db_arn("bad"))
    assert status(rds, "good") == "stopped"


# --- the 7-day restart -------------------------------------------------------------------


def test_a_database_rds_restarted_by_itself_is_stopped_again(rds: Any, calls: Counter[str]) -> None:
    """Time compressed: RDS starts a database after 7 days stopped; here its event comes
    on the evening of the stop (the judgment reads the event, not the calendar)."""
    database(rds, "dev-db")
    assert acted(run_event({}, RDS_KINDS, MONDAY_EVENING))[0][1] == "stop"
    restarted_itself(
        backend().databases["dev-db"],
        at("2026-11-23 21:00"),
        INSTANCE_AUTO_START,
        "db-instance",
        db_arn("dev-db"),
    )
    events: list[dict[str, Any]] = []
    rds.meta.events.register(
        "provide-client-params.rds.DescribeEvents", lambda params, **_: events.append(params)
    )
    calls.clear()
    result = run_event({}, RDS_KINDS, at("2026-11-23 21:15"))
    assert acted(result) == [("dev-db", "stop", "auto-restarted", "done")]
    assert status(rds, "dev-db") == "stopped"
    (asked,) = events
    assert asked["SourceType"] == "db-instance" and asked["SourceIdentifier"] == "dev-db"
    assert asked["StartTime"] == at("2026-11-23 17:55")
    assert tags(rds, db_arn("dev-db"))[STATE_TAG] == "stop@2026-11-23T21:15:00Z"

    # Stopped again, it is the schedule's once more: the morning's start is due as always.
    result = run_event({}, RDS_KINDS, TUESDAY_MORNING)
    assert acted(result) == [("dev-db", "start", "new-event", "done")]


def test_a_person_s_start_is_respected(rds: Any, calls: Counter[str]) -> None:
    database(rds, "dev-db")
    run_event({}, RDS_KINDS, MONDAY_EVENING)
    rds.start_db_instance(DBInstanceIdentifier="dev-db")  # someone works late
    calls.clear()
    result = run_event({}, RDS_KINDS, MONDAY_EVENING + timedelta(hours=3))
    assert result["actions"] == []
    assert status(rds, "dev-db") == "available"
    assert calls["DescribeEvents"] == 1  # asked for the one database running after a stop


def test_a_cluster_rds_restarted_by_itself_is_stopped_again(rds: Any) -> None:
    cluster(rds, "aurora-dev")
    run_event({}, RDS_KINDS, MONDAY_EVENING)
    restarted_itself(
        backend().clusters["aurora-dev"],
        at("2026-11-23 21:00"),
        CLUSTER_AUTO_START,
        "db-cluster",
        cluster_arn("aurora-dev"),
    )
    result = run_event({}, RDS_KINDS, at("2026-11-23 21:15"))
    assert acted(result) == [("aurora-dev", "stop", "auto-restarted", "done")]
    assert cluster_status(rds, "aurora-dev") == "stopped"


def test_a_person_s_start_after_rds_s_own_is_not_mistaken_for_it(rds: Any) -> None:
    """Only an automatic start since the handled stop counts: one before it does not."""
    database(rds, "dev-db")
    restarted_itself(
        backend().databases["dev-db"],
        at("2026-11-16 18:00"),  # a week before: older than the stop handled below
        INSTANCE_AUTO_START,
        "db-instance",
        db_arn("dev-db"),
    )
    run_event({}, RDS_KINDS, MONDAY_EVENING)
    rds.start_db_instance(DBInstanceIdentifier="dev-db")
    result = run_event({}, RDS_KINDS, at("2026-11-23 22:00"))
    assert result["actions"] == []
    assert status(rds, "dev-db") == "available"


# --- verified actions ----------------------------------------------------------------------


def test_a_start_that_ends_back_in_stopped_is_reported_and_retried(rds: Any) -> None:
    database(rds, "dev-db")
    run_event({}, RDS_KINDS, MONDAY_EVENING)
    run_event({}, RDS_KINDS, TUESDAY_MORNING)
    assert tags(rds, db_arn("dev-db"))["powercycle:attempts"] == "start@2026-11-24T08:00:00Z/1"
    backend().databases["dev-db"].status = "stopped"  # RDS could not start it after all
    result = run_event({}, RDS_KINDS, TUESDAY_MORNING + timedelta(minutes=15))
    (error,) = result["errors"]
    assert error["error"] == (
        "start did not take (attempt 1 of 3): RDS status stopped: the start did not take"
    )
    assert acted(result) == [("dev-db", "start", "retry", "done")]
    assert tags(rds, db_arn("dev-db"))["powercycle:attempts"] == "start@2026-11-24T08:00:00Z/2"


# --- never touched -------------------------------------------------------------------------


def test_dry_run_and_production_are_untouched(rds: Any, calls: Counter[str]) -> None:
    database(rds, "dev-db")
    database(rds, "prod-db", {TAG: UPTIME, "Environment": "Production"})
    config = Config(
        regions=(REGION,),
        kinds=("rds", "rds-cluster"),
        exclude=(("environment", "production"),),
    )
    result = run_event({"dryRun": True}, config, MONDAY_EVENING)
    assert acted(result) == [("dev-db", "stop", "first-sight", "planned")]
    result = run_event({}, config, MONDAY_EVENING)
    assert acted(result) == [("dev-db", "stop", "first-sight", "done")]
    assert status(rds, "prod-db") == "available"
    assert STATE_TAG not in tags(rds, db_arn("prod-db"))
    result = run_event(
        {"dbInstanceIdentifiers": ["prod-db"], "action": "stop"}, config, MONDAY_EVENING
    )
    assert result["actions"] == [] and "excluded" in result["errors"][0]["error"]
    assert status(rds, "prod-db") == "available"


def test_dry_run_writes_nothing(rds: Any, calls: Counter[str]) -> None:
    database(rds, "dev-db")
    calls.clear()
    run_event({"dryRun": True}, RDS_KINDS, MONDAY_EVENING)
    assert status(rds, "dev-db") == "available"
    assert set(calls) == {
        "DescribeDBInstances",
        "DescribeDBClusters",
        "DescribeBlueGreenDeployments",
    }


# --- entry points --------------------------------------------------------------------------


def test_powercycle_kinds_rds_through_the_lambda_handler(
    rds: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from powercycle import handler

    monkeypatch.setenv("POWERCYCLE_KINDS", "rds")
    monkeypatch.setenv("POWERCYCLE_REGIONS", REGION)
    database(rds, "dev-db", {TAG: "Mon-Sun 00:00-00:01"})  # stopped from 00:01 every day
    cluster(rds, "aurora-dev", {TAG: "Mon-Sun 00:00-00:01"})
    result = handler.handler({}, None)
    assert [(a["id"], a["kind"], a["action"]) for a in result["actions"]] == [
        ("dev-db", "rds", "stop")
    ]
    assert cluster_status(rds, "aurora-dev") == "available"  # rds-cluster not asked for


def test_manual_start_and_stop_by_identifier_and_arn(rds: Any) -> None:
    database(rds, "dev-db")
    cluster(rds, "aurora-dev")
    result = run_event(
        {"dbInstanceIdentifiers": [db_arn("dev-db")], "action": "stop"}, RDS_KINDS, MONDAY_EVENING
    )
    assert acted(result) == [("dev-db", "stop", "manual", "done")]
    result = run_event(
        {"dbClusterIdentifiers": ["aurora-dev"], "action": "stop"}, RDS_KINDS, MONDAY_EVENING
    )
    assert acted(result) == [("aurora-dev", "stop", "manual", "done")]
    result = run_event(
        {"dbInstanceIdentifiers": ["dev-db"], "action": "start"}, RDS_KINDS, MONDAY_EVENING
    )
    assert acted(result) == [("dev-db", "start", "manual", "done")]
    assert status(rds, "dev-db") == "available"
    result = run_event(
        {"dbInstanceIdentifiers": ["no-such-db"], "action": "stop"}, RDS_KINDS, MONDAY_EVENING
    )
    assert "no rds resource 'no-such-db'" in result["errors"][0]["error"]


def test_the_kinds_are_registered() -> None:
    for name, key in (("rds", "dbInstanceIdentifiers"), ("rds-cluster", "dbClusterIdentifiers")):
        kind = REGISTRY[name]
        assert kind.payload_key == key and kind.json_tags is False
    assert REGISTRY["rds"].arn_parts(db_arn("dev-db")) == (REGION, "dev-db")
    assert REGISTRY["rds-cluster"].arn_parts(cluster_arn("c")) == (REGION, "c")
    assert not REGISTRY["rds"].claims(cluster_arn("c"))
    command = REGISTRY["rds"].tag_command is not None and REGISTRY["rds"].tag_command(
        REGION, "dev-db", db_arn("dev-db"), {"powercycle:skip-until": "2026-11-24T08:00:00Z"}
    )
    assert command == (
        f"aws rds add-tags-to-resource --region {REGION} --resource-name {db_arn('dev-db')} "
        '--tags \'[{"Key":"powercycle:skip-until","Value":"2026-11-24T08:00:00Z"}]\''
    )


# --- costs -----------------------------------------------------------------------------------


def test_discovery_is_one_describe_per_page_and_no_call_per_database(
    rds: Any, calls: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "PAGE_SIZE", 20)  # RDS's smallest MaxRecords
    for n in range(25):
        database(rds, f"db-{n:02}", {TAG: UPTIME} if n % 2 else {"team": "x"})
    for n in range(3):
        cluster(rds, f"c-{n}")
    calls.clear()
    result = run_event({}, RDS_KINDS, MONDAY_EVENING)
    assert len(result["actions"]) == 12 + 3
    assert calls["DescribeDBInstances"] == 2  # 25 databases: two pages of 20
    assert calls["DescribeDBClusters"] == 1
    assert calls["ListTagsForResource"] == 0
    assert calls["DescribeEvents"] == 0
    assert calls["StopDBInstance"] == 12 and calls["StopDBCluster"] == 3
    assert calls["AddTagsToResource"] == 15  # the state tag, one per database acted on
    calls.clear()
    run_event({}, RDS_KINDS, MONDAY_EVENING + timedelta(minutes=15))
    assert calls == Counter({"DescribeDBInstances": 2, "DescribeDBClusters": 1})


def test_a_person_s_stop_and_start_after_rds_s_own_start_is_respected(rds: Any) -> None:
    database(rds, "dev-db")
    run_event({}, RDS_KINDS, MONDAY_EVENING)
    restarted_itself(
        backend().databases["dev-db"],
        at("2026-11-23 19:00"),
        INSTANCE_AUTO_START,
        "db-instance",
        db_arn("dev-db"),
    )
    stopped = object.__new__(Event)
    stopped.__dict__.update(vars(backend().events[-1]))
    stopped.message, stopped.date = (
        "DB instance stopped",
        at("2026-11-23 19:30").replace(tzinfo=None),
    )
    backend().events.append(stopped)  # someone stopped it, then started it again
    result = run_event({}, RDS_KINDS, at("2026-11-23 20:00"))
    assert result["actions"] == []
    assert status(rds, "dev-db") == "available"


# --- the CLI ---------------------------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from freezegun import freeze_time

    from powercycle.cli import main

    with freeze_time("2026-11-23 12:00:00"):
        code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def rds_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERCYCLE_KINDS", "rds,rds-cluster")
    monkeypatch.setenv("POWERCYCLE_REGIONS", REGION)


def test_plan_says_what_cannot_be_stopped(
    rds: Any, rds_only: None, capsys: pytest.CaptureFixture[str]
) -> None:
    database(rds, "dev-db")
    cluster(rds, "v1", EngineMode="serverless", Engine="aurora-mysql")
    code, out, _ = cli(capsys, "plan", "--json", "--at", "2026-11-23T18:00Z")
    assert code == 0
    import json

    rows = {r["id"]: r for r in json.loads(out)["resources"]}
    assert rows["dev-db"]["action"] == "stop" and rows["dev-db"]["kind"] == "rds"
    assert "Aurora Serverless v1" in rows["v1"]["reason"]
    assert rows["v1"]["action"] is None


def test_tag_writes_only_what_rds_accepts(
    rds: Any, rds_only: None, capsys: pytest.CaptureFixture[str]
) -> None:
    database(rds, "dev-db", {})
    code, out, err = cli(capsys, "tag", "dev-db", "--schedule", '{"start": "0 8 * * 1-5"}')
    assert code != 0
    assert "take only letters" in out + err and "uptime form" in out + err
    assert TAG not in tags(rds, db_arn("dev-db"))
    code, _, err = cli(
        capsys, "tag", db_arn("dev-db"), "--schedule", "Mon-Fri 07:00-19:30 Europe/London"
    )
    assert code == 0, err
    assert tags(rds, db_arn("dev-db"))[TAG] == "Mon-Fri 07:00-19:30 Europe/London"
    code, _, err = cli(capsys, "snooze", "dev-db", "--for", "2d")
    assert code == 0, err
    assert tags(rds, db_arn("dev-db"))["powercycle:skip-until"] == "2026-11-25T12:00:00Z"
    code, _, err = cli(capsys, "untag", "dev-db")
    assert code == 0, err
    assert not {k for k in tags(rds, db_arn("dev-db")) if k == TAG or k.startswith("powercycle:")}


def test_cli_stop_and_start_a_cluster_by_arn(
    rds: Any, rds_only: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster(rds, "aurora-dev")
    code, _, err = cli(capsys, "stop", cluster_arn("aurora-dev"))
    assert code == 0, err
    assert cluster_status(rds, "aurora-dev") == "stopped"
    code, _, err = cli(capsys, "start", "aurora-dev")
    assert code == 0, err
    assert cluster_status(rds, "aurora-dev") == "available"


def test_a_start_that_ends_in_an_error_status_is_reported_with_it_and_retried(
    rds: Any, calls: Counter[str]
) -> None:
    database(rds, "dev-db")
    run_event({}, RDS_KINDS, MONDAY_EVENING)
    run_event({}, RDS_KINDS, TUESDAY_MORNING)
    backend().databases["dev-db"].status = "incompatible-network"
    calls.clear()
    result = run_event({}, RDS_KINDS, TUESDAY_MORNING + timedelta(minutes=15))
    reported = [e["error"] for e in result["errors"] if "did not take" in e["error"]]
    assert reported == [
        "start did not take (attempt 1 of 3): RDS status incompatible-network: RDS suggests "
        "starting it again once its subnets have free IPs"
    ]
    assert calls["StartDBInstance"] == 1  # tried again (moto refuses it; RDS would not)


def test_a_manual_stop_of_a_blue_green_member_is_refused_before_any_call(
    rds: Any, calls: Counter[str]
) -> None:
    database(rds, "blue")
    rds.create_blue_green_deployment(BlueGreenDeploymentName="upgrade", Source=db_arn("blue"))
    calls.clear()
    result = run_event(
        {"dbInstanceIdentifiers": ["blue"], "action": "stop"}, RDS_KINDS, MONDAY_EVENING
    )
    assert result["actions"] == []
    assert "blue/green deployment upgrade" in result["errors"][0]["error"]
    assert calls["StopDBInstance"] == 0
