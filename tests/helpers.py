"""Small helpers shared by the tests: moments, a tagged fleet on moto, call counting."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError

REGION = "eu-west-1"
TAG = "ec2Powercycle"
STATE_TAG = "powercycle:state"
# The schedule of the ec2-powercycle README (seed 001): office hours, Monday to Friday.
SEED = '{ "start": "0 8 * * 1-5", "stop": "55 17 * * 1-5" }'
# powercycle's key in the tests' moto (conftest creates the secret with it).
KEY_SECRET = "powercycle/key"
TEST_KEY = "test-key-0123456789abcdef-not-a-real-one"
MUTATING = {"StartInstances", "StopInstances", "CreateTags", "DeleteTags"}


def at(text: str, tz: str = "UTC", *, fold: int = 0) -> datetime:
    """`at("2026-11-23 08:14", tz="Europe/London")`: an aware moment on a wall clock."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz), fold=fold)


def ticks(
    first: datetime, last: datetime, every: timedelta = timedelta(minutes=15)
) -> list[datetime]:
    """The Lambda's schedule: `first`, `first + every`, ... up to and including `last`."""
    out = []
    moment = first
    while moment <= last:
        out.append(moment)
        moment += every
    return out


def schedule_tag(**schedule: object) -> str:
    return json.dumps(schedule)


def launch(
    ec2: Any,
    tags: Mapping[str, str] | None = None,
    *,
    state: str = "running",
    count: int = 1,
) -> list[str]:
    """Launch `count` instances in one reservation with `tags`; stop them if asked."""
    spec = (
        [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
        if tags
        else []
    )
    reservation = ec2.run_instances(
        ImageId=image(ec2),
        MinCount=count,
        MaxCount=count,
        InstanceType="t3.micro",
        TagSpecifications=spec,
    )
    ids = [i["InstanceId"] for i in reservation["Instances"]]
    if state == "stopped":
        ec2.stop_instances(InstanceIds=ids)
    elif state != "running":
        raise ValueError(state)
    return ids


def launch_fleet(
    ec2: Any, *, reservations: int, per_reservation: int, tags: Mapping[str, str]
) -> list[str]:
    """Many reservations of tagged instances. Tagged after launch, in bulk: moto scans
    every tag it holds for each instance it launches, which makes tagging at launch
    quadratic."""
    ids = [i for _ in range(reservations) for i in launch(ec2, count=per_reservation)]
    for k in range(0, len(ids), 1000):
        ec2.create_tags(
            Resources=ids[k : k + 1000], Tags=[{"Key": k_, "Value": v} for k_, v in tags.items()]
        )
    return ids


def image(ec2: Any) -> str:
    """An AMI to launch from. The tests run moto without its thousands of built-in images
    (MOTO_EC2_LOAD_DEFAULT_AMIS=false: every launch would scan them), so register one."""
    ami: str | None = getattr(ec2, "_powercycle_test_ami", None)
    if ami is None:
        ami = ec2.register_image(Name="powercycle-test", RootDeviceName="/dev/sda1")["ImageId"]
        ec2._powercycle_test_ami = ami
    return ami


def states(ec2: Any, ids: Iterable[str]) -> dict[str, str]:
    """Instance id -> EC2 state name."""
    ids = list(ids)
    found: dict[str, str] = {}
    for page in ec2.get_paginator("describe_instances").paginate(InstanceIds=ids):
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                found[instance["InstanceId"]] = instance["State"]["Name"]
    return found


def state_of(ec2: Any, instance_id: str) -> str:
    return states(ec2, [instance_id])[instance_id]


def tags_of(ec2: Any, instance_id: str) -> dict[str, str]:
    reservation = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
    return {t["Key"]: t["Value"] for t in reservation["Instances"][0].get("Tags", [])}


def moto_instance(instance_id: str, region: str = REGION) -> Any:
    """moto's own record of an instance, to set what the API cannot (state, launch time)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    return ec2_backends[DEFAULT_ACCOUNT_ID][region].get_instance(instance_id)


def set_state(instance_id: str, name: str, region: str = REGION) -> None:
    """Put an instance in a state moto never shows by itself (pending, stopping)."""
    codes = {"pending": 0, "running": 16, "stopping": 64, "stopped": 80}
    instance = moto_instance(instance_id, region)
    instance._state.name = name
    instance._state.code = codes[name]


def set_launch_time(instance_id: str, moment: datetime, region: str = REGION) -> None:
    """moto keeps the creation time; EC2 moves LaunchTime on every start."""
    # moto keeps a naive UTC datetime.
    moto_instance(instance_id, region).launch_time = moment.astimezone(UTC).replace(tzinfo=None)


class Calls:
    """Records every API call a client makes (operation name and parameters)."""

    def __init__(self, client: Any) -> None:
        self.log: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("provide-client-params.ec2", self._seen)

    def _seen(self, model: Any, params: Mapping[str, Any], **_: Any) -> None:
        self.log.append((model.name, dict(params)))

    @property
    def count(self) -> Counter[str]:
        return Counter(name for name, _ in self.log)

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.log if name == operation]

    def clear(self) -> None:
        self.log.clear()

    def mutating(self) -> list[str]:
        return [name for name, _ in self.log if name in MUTATING]


def client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class Refusal:
    """Makes one operation fail with `code` for the calls whose parameters match `when`.

    Raised before the request is sent, like EC2 refusing a whole call: nothing in that
    call happens. `times` limits how many calls are refused; `lift()` ends it.
    """

    def __init__(
        self,
        client: Any,
        operation: str,
        when: Callable[[dict[str, Any]], bool],
        code: str,
        message: str,
        times: int | None,
    ) -> None:
        self.calls: list[dict[str, Any]] = []
        self._args = (code, message, operation)
        self._when = when
        self._times = times
        self.active = True
        client.meta.events.register(f"before-parameter-build.ec2.{operation}", self._hook)

    def _hook(self, params: dict[str, Any], **_: Any) -> None:
        if not self.active or not self._when(params):
            return
        if self._times is not None and len(self.calls) >= self._times:
            return
        self.calls.append(dict(params))
        raise client_error(*self._args)

    def lift(self) -> None:
        self.active = False


def refuse(
    client: Any,
    operation: str,
    when: Callable[[dict[str, Any]], bool],
    code: str,
    message: str = "refused by the test",
    *,
    times: int | None = None,
) -> Refusal:
    return Refusal(client, operation, when, code, message, times)


def log_lines(records: Iterable[Any]) -> list[dict[str, Any]]:
    """The JSON decision lines among captured log records (one per resource), as the
    Lambda's Powertools Logger writes them."""
    from powercycle.runtime import logs

    lines = []
    for record in records:
        parsed = json.loads(logs.line(record))
        if isinstance(parsed, dict) and "resource" in parsed:
            lines.append(parsed)
    return lines


def sealed_tags(arn: str, memory: str, values: Mapping[str, str]) -> dict[str, str]:
    """A memory's tags with the seal powercycle would write (the tests' key)."""
    from powercycle.core.seal import sealed

    return sealed(TEST_KEY.encode(), arn, memory, values)


def instance_arn(instance_id: str, region: str = REGION) -> str:
    from moto.core import DEFAULT_ACCOUNT_ID

    return f"arn:aws:ec2:{region}:{DEFAULT_ACCOUNT_ID}:instance/{instance_id}"


# --- moto's Auto Scaling groups and EKS clusters, as several test modules use them ----------


def asg_launch_template(ec2: Any) -> None:
    """The launch template the tests' Auto Scaling groups are made from (`powercycle-lt`)."""
    ec2.create_launch_template(
        LaunchTemplateName="powercycle-lt",
        LaunchTemplateData={"ImageId": image(ec2), "InstanceType": "t3.micro"},
    )


def asg_group(autoscaling: Any, name: str) -> dict[str, Any]:
    (found,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ]
    return dict(found)


def asg_sizes(autoscaling: Any, name: str) -> tuple[int, int, int]:
    g = asg_group(autoscaling, name)
    return g["MinSize"], g["DesiredCapacity"], g["MaxSize"]


def asg_tags(autoscaling: Any, name: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in asg_group(autoscaling, name)["Tags"]}


def eks_as_aws_does(monkeypatch: Any) -> None:
    """moto's EKS made to do what EKS does for these tests.

    moto 5.2 reads only the first of several `tagKeys` in UntagResource; EKS removes them
    all: that one call is patched. moto checks each CreateCluster role against a fresh
    boto3 Session (slow, and not what these tests are about): skipped."""
    from moto.core.responses import EmptyResult
    from moto.eks.responses import EKSResponse

    def untag(self: Any) -> Any:
        keys = self.querystring.get("tagKeys", [])
        self.eks_backend.untag_resource(self._extract_arn_from_path(), list(keys))
        return EmptyResult()

    monkeypatch.setattr(EKSResponse, "untag_resource", untag)
    monkeypatch.setattr("moto.eks.models.validate_role_arn", lambda arn: None, raising=False)


def eks_cluster(
    eks: Any, groups: Mapping[str, list[int]], tags: Mapping[str, str] | None = None
) -> str:
    """The EKS cluster `dev` carrying the schedule tag (and `tags`), with managed node
    groups `name: [min, desired, max]`; its ARN."""
    arn: str = eks.create_cluster(
        name="dev",
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={},
        tags={TAG: SEED, **(tags or {})},
    )["cluster"]["arn"]
    for name, (low, desired, high) in groups.items():
        eks.create_nodegroup(
            clusterName="dev",
            nodegroupName=name,
            nodeRole="arn:aws:iam::123456789012:role/node",
            subnets=["subnet-1"],
            scalingConfig={"minSize": low, "desiredSize": desired, "maxSize": high},
        )
    return arn
