"""`powercycle demo`: a real scheduling pass against an embedded local AWS.

Starts a moto server on 127.0.0.1, seeds a small tagged fleet whose schedules make
something happen at the current time, runs the real Lambda handler twice (the second
pass shows that a handled event is not acted on again), prints each decision and the
summary, and stops the server. No AWS account, no Docker.

The fleet includes two EKS clusters scheduled through CAST AI; CAST AI is played by the
stand-in of `castai_standin` on loopback (CASTAI_API_URL and CASTAI_API_KEY point at it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from powercycle import aws

REGION = "eu-west-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@contextlib.contextmanager
def local_aws(region: str = REGION, *, cache_reads: bool = False) -> Iterator[str]:
    """A moto server on loopback, with the environment pointing boto3 at it.

    `cache_reads`: answer a read (Describe*, List*, Get*, any GET) that was already
    answered since the last write from a cache. moto renders every instance of a
    DescribeInstances afresh (about 10 ms each); the simulated week asks the same question
    672 times and the answer changes only when something was written.
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SystemExit(
            "the demo needs moto, which is not installed: run it with ./dev demo (or, from the "
            "clone, pip install -e '.[demo]')"
        ) from exc
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server: Any
    if cache_reads:
        from powercycle.local.motocache import CachingMotoServer

        server = CachingMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    else:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its state per process, not per server: start from an empty AWS.
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310 - our server, on loopback
    saved = dict(os.environ)
    os.environ.update(FAKE_CREDENTIALS)
    # moto's thousands of built-in images make every launch scan them; the demo needs none.
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": region})
    os.environ.pop("AWS_PROFILE", None)
    aws.reset()  # clients kept from before point at another endpoint
    try:
        yield endpoint
    finally:
        os.environ.clear()
        os.environ.update(saved)
        aws.reset()
        server.stop()


def _cron_at(moment: datetime) -> str:
    return f"{moment.minute} {moment.hour} * * *"


def sample_fleet(now: datetime) -> list[tuple[str, str, dict[str, str]]]:
    """(name, initial state, tags): schedules chosen so that `now` makes things happen."""
    now = now.astimezone(UTC)
    just_now = _cron_at(now - timedelta(minutes=5))
    long_ago = _cron_at(now - timedelta(hours=3))
    later = _cron_at(now + timedelta(hours=6))

    def tag(schedule: dict[str, Any]) -> str:
        return json.dumps(schedule)

    return [
        ("dev-web", "stopped", {"ec2Powercycle": tag({"start": just_now, "stop": later})}),
        ("dev-batch", "running", {"ec2Powercycle": tag({"start": later, "stop": just_now})}),
        ("dev-build", "running", {"ec2Powercycle": tag({"start": long_ago, "stop": later})}),
        (
            "office-london",
            "running",
            {
                "ec2Powercycle": '{ "start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", '
                '"tz": "Europe/London" }'
            },
        ),
        (
            "prod-db",
            "running",
            {"ec2Powercycle": tag({"stop": just_now}), "environment": "p"},
        ),
        (
            "asg-worker",
            "running",
            {"ec2Powercycle": tag({"stop": just_now}), "aws:autoscaling:groupName": "workers"},
        ),
        (
            "broken-tag",
            "running",
            {"ec2Powercycle": '{"start": "0 8 * * 1-5", "stop": "55 25 * * 1-5"}'},
        ),
    ]


def seed(fleet: list[tuple[str, str, dict[str, str]]], region: str = REGION) -> dict[str, str]:
    """Launch the fleet in the local AWS; returns instance id -> name."""
    ec2 = aws.client("ec2", region)
    names: dict[str, str] = {}
    for name, state, tags in fleet:
        all_tags = {"Name": name, **tags}
        reservation = ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()],
                }
            ],
        )
        instance_id = reservation["Instances"][0]["InstanceId"]
        if state == "stopped":
            ec2.stop_instances(InstanceIds=[instance_id])
        names[instance_id] = name
    return names


DEMO_CASTAI_KEY = "demo-key-not-a-secret"  # the stand-in's own key, not a secret


def sample_clusters(now: datetime) -> list[tuple[str, str, dict[str, str]]]:
    """(name, CAST AI status, tags): EKS clusters, one to hibernate and one to resume."""
    now = now.astimezone(UTC)
    just_now = _cron_at(now - timedelta(minutes=5))
    later = _cron_at(now + timedelta(hours=6))
    return [
        ("eks-dev", "ready", {"ec2Powercycle": json.dumps({"start": later, "stop": just_now})}),
        (
            "eks-qa",
            "hibernated",
            {
                "ec2Powercycle": json.dumps(
                    {"start": just_now, "stop": later, "resume": {"instanceType": "m5.large"}}
                )
            },
        ),
    ]


def seed_clusters(
    clusters: list[tuple[str, str, dict[str, str]]], castai: Any, region: str = REGION
) -> dict[str, str]:
    """Create the EKS clusters in the local AWS and register them with the stand-in."""
    eks = aws.client("eks", region)
    names: dict[str, str] = {}
    for name, status, tags in clusters:
        eks.create_cluster(
            name=name,
            roleArn="arn:aws:iam::123456789012:role/eks-demo",
            resourcesVpcConfig={},
            tags=tags,
        )
        castai.add_cluster(f"{name}-castai", cluster_name=name, region=region, status=status)
        names[name] = name
    return names


# --- a database (kind rds): RDS tags hold no JSON, so it carries the uptime form --------


def sample_database(now: datetime) -> tuple[str, dict[str, str]]:
    """(name, tags): an RDS instance up every day from six hours on to five minutes ago."""
    now = now.astimezone(UTC)
    start = (now + timedelta(hours=6)).strftime("%H:%M")
    stop = (now - timedelta(minutes=5)).strftime("%H:%M")
    return "dev-postgres", {"ec2Powercycle": f"Mon-Sun {start}-{stop} UTC"}


def seed_database(now: datetime, region: str = REGION) -> dict[str, str]:
    name, tags = sample_database(now)
    aws.client("rds", region).create_db_instance(
        DBInstanceIdentifier=name,
        Engine="postgres",
        DBInstanceClass="db.t4g.micro",
        AllocatedStorage=20,
        MasterUsername="demo",
        MasterUserPassword="demo-password-not-a-secret",
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    return {name: name}


# An ECS service (kind ecs) on a tag-safe uptime schedule: ECS takes no JSON in a tag.
DEMO_SEALING_KEY = "demo-sealing-key-not-a-secret"  # the local AWS's own, not a secret


def sample_services(now: datetime) -> list[tuple[str, int, dict[str, str]]]:
    """(name, desired count, tags): a service whose uptime range ended five minutes ago."""
    now = now.astimezone(UTC)
    start, stop = now - timedelta(hours=3), now - timedelta(minutes=5)
    return [("dev-api", 2, {"ec2Powercycle": f"Mon-Sun {start:%H:%M}-{stop:%H:%M}"})]


def seed_services(
    services: list[tuple[str, int, dict[str, str]]], region: str = REGION
) -> dict[str, str]:
    """Create the services in cluster `demo` of the local AWS; returns id -> name."""
    try:  # powercycle's key, as the template creates it: a stop seals the sizes it keeps
        aws.client("secretsmanager", region).create_secret(
            Name="powercycle/key", SecretString=DEMO_SEALING_KEY
        )
    except aws.AWS_ERRORS as exc:
        if aws.error_code(exc) != "ResourceExistsException":
            raise
    ecs = aws.client("ecs", region)
    ecs.create_cluster(clusterName="demo")
    container = {"name": "api", "image": "nginx", "memory": 128}
    ecs.register_task_definition(family="demo-api", containerDefinitions=[container])
    names: dict[str, str] = {}
    for name, desired, tags in services:
        # moto runs no task: it reports this many running when the service is created.
        os.environ["MOTO_ECS_SERVICE_RUNNING"] = str(desired)
        try:
            ecs.create_service(
                cluster="demo",
                serviceName=name,
                taskDefinition="demo-api",
                desiredCount=desired,
                tags=[{"key": k, "value": v} for k, v in tags.items()],
            )
        finally:
            os.environ.pop("MOTO_ECS_SERVICE_RUNNING", None)
        names[f"demo/{name}"] = name
    return names


def _print_pass(
    title: str, summary: dict[str, Any], lines: list[dict[str, Any]], names: dict[str, str]
) -> None:
    print(f"\n== {title} ({summary['now']}, dryRun={summary['dryRun']})")
    print(f"{'resource':<14} {'kind':<4} {'action':<6} {'reason':<28} {'result':<8} detail")
    for line in sorted(lines, key=lambda x: (x["kind"], names.get(x["resource"], ""))):
        detail = line.get("error") or (f"recorded {line['record']}" if line["record"] else "")
        print(
            f"{names.get(line['resource'], line['resource']):<14} {line['kind']:<4} "
            f"{line['action'] or '-':<6} "
            f"{line['reason']:<28} {line['result']:<8} {detail}"
        )
    print("summary: " + json.dumps({k: summary[k] for k in ("scanned", "counts", "errors")}))


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        # A decision line's fields (the Lambda writes them as one JSON line).
        if isinstance(record.msg, Mapping) and "resource" in record.msg:
            self.lines.append(dict(record.msg))


def run_demo() -> int:
    from powercycle.handler import handler
    from powercycle.local.castai_standin import CastAIStandin

    capture = _Capture()
    log = logging.getLogger("powercycle")
    log.addHandler(capture)
    log.propagate = False  # the table below says it more readably than raw JSON lines
    try:
        with local_aws() as endpoint, CastAIStandin(api_key=DEMO_CASTAI_KEY) as castai:
            print(f"local AWS (moto server) at {endpoint}, region {REGION}")
            print(f"CAST AI stand-in at {castai.url}")
            os.environ.update(
                {
                    "POWERCYCLE_REGIONS": REGION,
                    "POWERCYCLE_DRY_RUN": "false",
                    "CASTAI_API_URL": castai.url,
                    "CASTAI_API_KEY": DEMO_CASTAI_KEY,
                }
            )
            now = datetime.now(UTC)
            names = seed(sample_fleet(now))
            clusters = seed_clusters(sample_clusters(now), castai)
            print(f"seeded {len(names)} tagged instances and {len(clusters)} tagged EKS clusters")
            names.update(clusters)
            names.update(seed_database(now))
            print(f"seeded an RDS instance tagged {sample_database(now)[1]['ec2Powercycle']!r}")
            names.update(seed_services(sample_services(now)))  # and one ECS service
            for title in ("first pass", "second pass: handled events are not acted on again"):
                capture.lines.clear()
                summary = handler({}, None)
                _print_pass(title, summary, capture.lines, names)
            ec2 = aws.client("ec2", REGION)
            states = {
                names[i["InstanceId"]]: i["State"]["Name"]
                for r in ec2.describe_instances()["Reservations"]
                for i in r["Instances"]
            }
            print("\ninstance states now: " + json.dumps(dict(sorted(states.items()))))
            databases = aws.client("rds", REGION).describe_db_instances()["DBInstances"]
            print(
                "RDS instances now: "
                + json.dumps({d["DBInstanceIdentifier"]: d["DBInstanceStatus"] for d in databases})
            )
            print("ECS services now: " + json.dumps(_service_counts()))
            calls = castai.counts  # before the listing below, which is the demo's own
            statuses = {
                c.cluster_name: c.status for c in _castai_clusters(castai.url, DEMO_CASTAI_KEY)
            }
            print("EKS clusters in CAST AI now: " + json.dumps(dict(sorted(statuses.items()))))
            print(
                "CAST AI calls: "
                + ", ".join(f"{route}={calls[route]}" for route in ("list", "hibernate", "resume"))
                + " (one listing per pass, whatever the number of clusters)"
            )
    finally:
        log.removeHandler(capture)
        log.propagate = True
    sys.stdout.flush()
    return 0


def _castai_clusters(url: str, key: str) -> list[Any]:
    from powercycle.castai.client import CastAIClient

    client = CastAIClient(url, key)
    try:
        return list(client.list_clusters())
    finally:
        client.close()


def _service_counts() -> dict[str, str]:
    ecs = aws.client("ecs", REGION)
    arns = ecs.list_services(cluster="demo")["serviceArns"]
    found = ecs.describe_services(cluster="demo", services=arns)["services"] if arns else []
    return {s["serviceName"]: f"desired {s['desiredCount']}" for s in found}
