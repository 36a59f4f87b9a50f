"""Region and credentials as the AWS CLI resolves them, for every fleet command: the
command line's `--region` and `--profile` win over the environment and the profile, and
no credentials at all is one line naming credentials (exit 2), before any call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from freezegun import freeze_time

from powercycle import aws as aws_module
from powercycle.cli import main

pytestmark = pytest.mark.usefixtures("ec2_only")

ID = "i-0123456789abcdef0"
EVERY_FLEET_COMMAND = [
    ["run"],
    ["run", "--dry-run"],
    ["plan"],
    ["start", ID],
    ["stop", ID],
    ["tag", ID, "--schedule", '{"stop": "0 19 * * *"}'],
    ["untag", ID],
    ["snooze", ID, "--for", "3h"],
    ["stats"],
    ["seal", ID, "--yes"],
]


@pytest.fixture
def nothing_configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No region and no credentials anywhere: environment cleared (conftest), empty AWS
    config and credentials files, no instance metadata to ask."""
    for name in ("config", "credentials"):
        empty = tmp_path / f"empty-{name}"
        empty.write_text("")
        monkeypatch.setenv(
            f"AWS_{'CONFIG' if name == 'config' else 'SHARED_CREDENTIALS'}_FILE", str(empty)
        )
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.usefixtures("nothing_configured")
@pytest.mark.parametrize("argv", EVERY_FLEET_COMMAND, ids=lambda a: " ".join(a[:1] + a[2:3]))
def test_region_on_the_command_line_then_one_line_about_credentials(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--region` is applied before the environment is read: the answer is the missing
    credentials, in one line, not "no region"."""
    assert main([*argv, "--region", "eu-west-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("powercycle: no AWS credentials found: run `aws configure`"), err
    assert "Traceback" not in err


@pytest.mark.usefixtures("nothing_configured")
def test_without_region_anywhere_the_answer_names_region(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plan"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("powercycle: configuration error: no region:")
    assert "--region on the command line" in err


def test_region_on_the_command_line_wins_over_the_environment(
    moto: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Over AWS_DEFAULT_REGION, and over POWERCYCLE_REGIONS, `all` included (no
    DescribeRegions call then: only the region named is scanned)."""
    for env in ({}, {"POWERCYCLE_REGIONS": "us-east-1,us-west-2"}, {"POWERCYCLE_REGIONS": "all"}):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        aws_module.reset()
        with freeze_time("2026-11-23 18:00:00+00:00"):
            assert main(["plan", "--region", "eu-west-1", "--region", "eu-north-1"]) == 0
        assert json.loads(capsys.readouterr().out)["regions"] == ["eu-west-1", "eu-north-1"]


def test_region_alone_on_the_command_line_is_enough(
    moto: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's `powercycle plan --region eu-west-1` with no region in the environment
    or profile (moto's credentials only)."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with freeze_time("2026-11-23 18:00:00+00:00"):
        assert main(["plan", "--region", "eu-west-1"]) == 0
    assert json.loads(capsys.readouterr().out)["regions"] == ["eu-west-1"]


def test_profile_on_the_command_line_wins_over_aws_profile(
    moto: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """AWS_PROFILE names one profile, --profile another: the command line's region and
    credentials are used (its credentials over the environment's too, as the AWS CLI does)."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile a]\nregion = ap-southeast-2\n"
        "[profile b]\nregion = ca-central-1\n"
        "aws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "a")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with freeze_time("2026-11-23 18:00:00+00:00"):
        assert main(["plan", "--profile", "b"]) == 0
    assert json.loads(capsys.readouterr().out)["regions"] == ["ca-central-1"]
    aws_module.reset()
    assert main(["plan"]) == 2  # profile a has no credentials: one line again
    assert capsys.readouterr().err.startswith("powercycle: no AWS credentials found")
