"""Fixtures: an in-process moto AWS with fake credentials, an instrumented EC2 client,
and a `run(now)` that makes one scheduling pass through that client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest

from powercycle import app as app_module
from powercycle import aws as aws_module
from powercycle import engine
from powercycle.aws import secrets
from powercycle.config import Config
from powercycle.providers.ec2 import Ec2Provider
from powercycle.runtime import logs
from tests.helpers import KEY_SECRET, REGION, TEST_KEY, Calls

AWS_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_EC2",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
POWERCYCLE_VARS = (
    "POWERCYCLE_TAG",
    "POWERCYCLE_DRY_RUN",
    "POWERCYCLE_REGIONS",
    "POWERCYCLE_EXCLUDE",
    "POWERCYCLE_DEFAULT_TZ",
    "POWERCYCLE_URL_ALLOWLIST",
    "POWERCYCLE_SCHEDULES",
    "POWERCYCLE_SNS_TOPIC_ARN",
    "POWERCYCLE_KINDS",
    "CASTAI_API_URL",
    "CASTAI_API_KEY",
    "CASTAI_SECRET_NAME",
    "CASTAI_RESUME_INSTANCE_TYPE",
    "CASTAI_RESUME_INSTANCE_TYPES",
    "POWERCYCLE_KEY_SECRET",
    "POWERCYCLE_ALLOWED_TYPES",
    "POWERCYCLE_SECRET_MAX_AGE_S",
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_DISABLED",
)


@pytest.fixture(autouse=True, scope="session")
def _real_datetime_in_cryptography() -> None:
    """cryptography's x509 code keeps the `datetime` type it is first handed, and moto signs
    every SNS delivery with it: first under freeze_time (freezegun's `FakeDatetime`), every
    later real datetime was refused, so test_notify failed after test_links_web. Signed
    once here, outside any freeze, it keeps the real type (`FakeDatetime` is a subclass)."""
    from datetime import UTC, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "powercycle-tests")])
    now = datetime.now(UTC)
    (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No test sees the developer's AWS profile, real credentials or powercycle settings."""
    for name in AWS_VARS + POWERCYCLE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    # Clients are kept for the life of the process (warm Lambda invocations): every test
    # starts from an empty cache, so no client carries another test's endpoint or keys.
    aws_module.reset()
    app_module.forget_workers()
    # The same for the process's log set-up (a CLI test asks for plain lines) and the
    # secrets kept for their maximum age.
    logs.reset()
    secrets.reset()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a default region, as the Lambda runtime would provide."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # moto's built-in AMIs make every backend start and every launch slow; see helpers.image.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def moto(aws_env: None) -> Iterator[None]:
    """An in-process moto AWS for the duration of the test."""
    from moto import mock_aws

    with mock_aws():
        # powercycle's key, as the template creates it (memories are sealed with it).
        boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name=KEY_SECRET, SecretString=TEST_KEY
        )
        yield


@pytest.fixture(scope="session")
def botocore_session() -> Any:
    """One botocore session for the whole run: it loads EC2's large service model once
    instead of once per test. (Clients are still made per test, inside moto.)"""
    import botocore.session
    import moto  # noqa: F401 - first: moto adds its request hook to every new session

    return botocore.session.get_session()


@pytest.fixture
def ec2(moto: None, botocore_session: Any) -> Any:
    """The EC2 client of the test: the fleet is built and inspected with it, and the
    scheduler uses it too (so hooks registered on it see the scheduler's calls)."""
    session = boto3.session.Session(botocore_session=botocore_session)
    return session.client("ec2", region_name=REGION)


@pytest.fixture
def calls(ec2: Any) -> Calls:
    """Every API call made through the test's EC2 client."""
    return Calls(ec2)


@pytest.fixture
def config() -> Config:
    return Config(regions=(REGION,), retry_delay_s=0.0)


@pytest.fixture
def sleeps() -> list[float]:
    """The delays the provider asked for (it never really sleeps in tests)."""
    return []


@pytest.fixture
def provider(config: Config, ec2: Any, sleeps: list[float]) -> Ec2Provider:
    return Ec2Provider(config, REGION, client=ec2, sleep=sleeps.append)


Run = Callable[..., engine.Summary]


@pytest.fixture
def run(config: Config, ec2: Any, sleeps: list[float]) -> Run:
    """`run(now, config=...)`: one pass through the test's client."""

    def run_once(now: datetime, cfg: Config | None = None) -> engine.Summary:
        cfg = cfg or config
        return engine.run_pass(
            cfg, now, providers=[Ec2Provider(cfg, REGION, client=ec2, sleep=sleeps.append)]
        )

    return run_once


@pytest.fixture
def ec2_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entry points scan EC2 only (EKS through CAST AI has its own tests)."""
    monkeypatch.setenv("POWERCYCLE_KINDS", "ec2")


@pytest.fixture
def shared_client(ec2: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Entry points that build their own clients (handler, CLI) get the test's client."""

    make = aws_module.client

    def client(service: str, region: str, **kwargs: Any) -> Any:
        return ec2 if (service, region) == ("ec2", REGION) else make(service, region, **kwargs)

    monkeypatch.setattr(aws_module, "client", client)
    return ec2
