"""Sessions and clients: one botocore session per credential set, clients made once and
kept, assumed roles through botocore's refreshable credentials."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from typing import Any

import pytest
from botocore.credentials import DeferredRefreshableCredentials
from botocore.exceptions import ClientError

from powercycle import aws, engine
from powercycle.config import Config
from tests.helpers import REGION, at

ROLE = "arn:aws:iam::111111111111:role/powercycle"
OTHER = "arn:aws:iam::222222222222:role/powercycle"


def assume_role_calls(params: list[dict[str, Any]]) -> None:
    """Record the parameters of every AssumeRole the process makes from now on."""

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    calls = params
    aws.session().register("before-parameter-build.sts.AssumeRole", record)


def refuse(role_arn: str) -> None:
    """STS refuses to let the function assume `role_arn` (moto itself never refuses)."""

    def deny(params: dict[str, Any], **_: Any) -> None:
        if params.get("RoleArn") == role_arn:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": f"not authorized: {role_arn}"}},
                "AssumeRole",
            )

    aws.session().register("before-parameter-build.sts.AssumeRole", deny)


def test_a_client_is_made_once_per_credentials_region_and_service(moto: None) -> None:
    """The same key gives the same client; another region or service another one."""
    first = aws.client("ec2", REGION)
    assert aws.client("ec2", REGION) is first
    assert aws.client("ec2", "us-east-1") is not first
    assert aws.client("eks", REGION) is not first
    assert aws.cached_clients() == 3


def test_a_second_pass_makes_no_new_client(moto: None) -> None:
    """A warm invocation reuses every client of the previous one."""
    config = Config(regions=(REGION, "us-east-1", "eu-central-1"), kinds=("ec2",))
    engine.run_pass(config, at("2026-11-23 08:00"))
    made = aws.cached_clients()
    clients = [aws.client("ec2", r) for r in config.regions]
    engine.run_pass(config, at("2026-11-23 08:15"))
    assert made == 3
    assert aws.cached_clients() == made
    assert [aws.client("ec2", r) for r in config.regions] == clients


def test_sixteen_threads_share_one_session_and_get_one_client_per_key(moto: None) -> None:
    """Clients asked for at the same instant from 16 threads: one per key, one session."""
    regions = ["eu-west-1", "us-east-1", "eu-central-1", "ap-southeast-2"]
    barrier = threading.Barrier(16)
    got: list[tuple[str, Any, Any]] = []
    errors: list[BaseException] = []

    def ask(n: int) -> None:
        try:
            barrier.wait()
            region = regions[n % len(regions)]
            got.append((region, aws.client("ec2", region), aws.session()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(got) == 16
    assert len({id(session) for _, _, session in got}) == 1
    by_region: dict[str, set[int]] = {}
    for region, client, _ in got:
        by_region.setdefault(region, set()).add(id(client))
    assert {r: len(ids) for r, ids in by_region.items()} == dict.fromkeys(regions, 1)
    assert aws.cached_clients() == 4


def test_assumed_role_sessions_share_the_parsed_models(moto: None) -> None:
    """A role's session uses the own session's data loader: EC2's model is parsed once."""
    key = aws.assume(ROLE)
    assert aws.session(key) is not aws.session()
    assert aws.session(key).get_component("data_loader") is aws.session().get_component(
        "data_loader"
    )


def test_a_role_is_assumed_once_with_session_name_powercycle_and_the_external_id(
    moto: None,
) -> None:
    """Several clients and calls through a role: one AssumeRole, session name powercycle,
    ExternalId as configured; the credentials are botocore's refreshable ones."""
    params: list[dict[str, Any]] = []
    assume_role_calls(params)
    key = aws.assume(ROLE, "secret-ish-external-id")
    assert aws.assume(ROLE, "secret-ish-external-id") == key
    assert "secret-ish-external-id" not in key
    for region in (REGION, "us-east-1"):
        aws.client("ec2", region, credentials=key).describe_instances()
        aws.client("ec2", region, credentials=key).describe_instances()
    assert [(p["RoleArn"], p["RoleSessionName"], p["ExternalId"]) for p in params] == [
        (ROLE, "powercycle", "secret-ish-external-id")
    ]
    assert isinstance(aws.session(key).get_credentials(), DeferredRefreshableCredentials)


def test_no_external_id_sends_none(moto: None) -> None:
    params: list[dict[str, Any]] = []
    assume_role_calls(params)
    aws.check(aws.assume(ROLE))
    assert len(params) == 1 and "ExternalId" not in params[0]


def test_assumed_role_credentials_reach_the_role_account_on_moto(moto: None) -> None:
    """moto maps an assumed role's keys to the role's account: what one account launches,
    the other does not see; GetCallerIdentity names the assumed role."""
    key = aws.assume(ROLE)
    role_ec2 = aws.client("ec2", REGION, credentials=key)
    image = role_ec2.register_image(Name="powercycle-test", RootDeviceName="/dev/sda1")["ImageId"]
    role_ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)
    assert len(role_ec2.describe_instances()["Reservations"]) == 1
    assert aws.client("ec2", REGION).describe_instances()["Reservations"] == []
    identity = aws.client("sts", REGION, credentials=key).get_caller_identity()
    assert identity["Account"] == "111111111111"
    assert identity["Arn"].endswith(":assumed-role/powercycle/powercycle")
    assert aws.account_id(key) == "111111111111"


def test_a_refused_role_raises_and_is_tried_again_next_time(moto: None) -> None:
    """A refusal is not remembered as a result: the next pass asks STS again."""
    params: list[dict[str, Any]] = []
    assume_role_calls(params)
    refuse(OTHER)
    key = aws.assume(OTHER)
    for _ in range(2):
        with pytest.raises(ClientError, match="AccessDenied"):
            aws.check(key)
    assert len(params) == 2
    aws.check(aws.assume(ROLE))  # another role is unaffected


def test_own_account_is_asked_once_per_process(moto: None) -> None:
    calls: Counter[str] = Counter()
    aws.session().register(
        "before-call.sts.GetCallerIdentity", lambda **_: calls.update(["GetCallerIdentity"])
    )
    assert aws.account_id(region=REGION) == "123456789012"
    assert aws.account_id(region=REGION) == "123456789012"
    assert calls["GetCallerIdentity"] == 1


def test_role_account_reads_the_arn() -> None:
    assert aws.role_account(ROLE) == "111111111111"
    assert aws.role_account("not-an-arn") == ""


def test_reset_forgets_sessions_clients_roles_and_accounts(moto: None) -> None:
    key = aws.assume(ROLE)
    aws.client("ec2", REGION, credentials=key)
    assert aws.account_id(region=REGION)
    own = aws.session()
    aws.reset()
    assert aws.cached_clients() == 0
    assert aws.session() is not own
    with pytest.raises(KeyError):
        aws.session(key)


def test_nothing_is_made_at_import() -> None:
    """Importing the entry points makes no session and no client (the handler imports
    without credentials): checked in a fresh interpreter."""
    code = (
        "import powercycle.handler, powercycle.aws.targets, powercycle.cli\n"
        "from powercycle import aws\n"
        "assert not aws._sessions and aws.cached_clients() == 0\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-23T18:05:00.000Z",
        "2026-11-23T18:05:00Z",
        "2026-11-23T19:05:00.123+01:00",
        "2026-11-23T18:05:00",
        "Mon, 23 Nov 2026 18:05:00 GMT",
        1795457100,
        "1795457100.5",
    ],
)
def test_timestamps_parse_to_the_same_instant_as_botocore(value: object) -> None:
    """The fast path for ISO-8601 strings gives botocore's answer: the same instant, aware
    exactly when botocore's is."""
    from botocore.utils import parse_timestamp

    ours, theirs = aws.parse_timestamp(value), parse_timestamp(value)
    assert (ours.tzinfo is None) == (theirs.tzinfo is None)
    assert ours == theirs


def test_clients_use_the_fast_timestamp_parser(moto: None) -> None:
    """EC2's LaunchTime comes back aware, through `aws.parse_timestamp`."""
    ec2 = aws.client("ec2", REGION)
    image = ec2.register_image(Name="powercycle-test", RootDeviceName="/dev/sda1")["ImageId"]
    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)
    (reservation,) = ec2.describe_instances()["Reservations"]
    launched = reservation["Instances"][0]["LaunchTime"]
    assert launched.tzinfo is not None and launched.utcoffset().total_seconds() == 0
    factory = aws.session().get_component("response_parser_factory")
    assert factory._defaults["timestamp_parser"] is aws.parse_timestamp
