"""Every tagging, `check` and `plan` command of the README and of the docs pages, the
`powercycle` and `aws` ones alike, run as written (only the example instance id is
replaced by a real one) against a moto server on loopback; each schedule written is read
back and must be one a run accepts. A `$ ` prompt before a command is dropped; a `check`
of an https:// URL is left out (no internet here: tests/test_sources.py serves them)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from freezegun import freeze_time

from powercycle import aws as aws_module
from powercycle.cli import main
from powercycle.core.schedule import parse_schedule_text
from powercycle.core.uptime import parse_uptime, shape
from tests.deploy_support import FAKE_CREDENTIALS, REGION, REPO, moto_server, subprocess_env

EXAMPLE_ID = "i-0123456789abcdef0"
ARN = f"arn:aws:eks:{REGION}:123456789012:cluster/dev"
TAG = "ec2Powercycle"
# The moment the README's examples are run at, whatever today's date: an example that needs
# a future time (`snooze --until 2026-11-30T08:00Z`) stays in the future, so no test
# depends on the real clock. Every date a README command names must come after it.
README_MOMENT = "2026-11-23T12:00:00Z"
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})T")
_COMMAND = re.compile(
    r"^(aws ec2 (create|delete)-tags|aws eks (un)?tag-resource"
    r"|powercycle (tag|untag|snooze|unsnooze|check|plan)) "
)
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def readme_commands() -> list[str]:
    """Commands of indented code blocks of the README, then of each docs page, continuation
    lines joined."""
    commands: list[str] = []
    for page in PAGES:
        commands += page_commands(page.read_text().splitlines())
    return [c for c in commands if not re.match(r"powercycle check .*https?://", c)]


def page_commands(lines: list[str]) -> list[str]:
    commands: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip().removeprefix("$ ")
        if lines[i].startswith("    ") and _COMMAND.match(line):
            while line.endswith("\\"):
                i += 1
                line = line[:-1].rstrip() + " " + lines[i].strip()
            after = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if after.startswith(REFUSED):
                REFUSED_AS_SHOWN.add(line)
            commands.append(line)
        i += 1
    return commands


# A command whose output shown below it is a refusal (an example of an error message):
# it must exit 1, as shown.
REFUSED = ("invalid schedule:", "refused")
REFUSED_AS_SHOWN: set[str] = set()


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.fixture
def env(endpoint: str, tmp_path: Path) -> dict[str, str]:
    return subprocess_env(
        tmp_path,
        AWS_ENDPOINT_URL=endpoint,
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
        **FAKE_CREDENTIALS,
    )


def clients(endpoint: str) -> tuple[Any, Any, Any]:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    return tuple(  # type: ignore[return-value]
        session.client(service, endpoint_url=endpoint) for service in ("ec2", "eks", "s3")
    )


def test_the_readme_shows_both_ways_of_tagging() -> None:
    commands = readme_commands()
    for needle in (
        "powercycle tag i-",
        "powercycle tag arn:aws:eks",
        "powercycle untag",
        "powercycle snooze",
        "aws ec2 create-tags",
        "aws eks tag-resource",
    ):
        assert any(c.startswith(needle) for c in commands), needle


def test_readme_dates_come_after_the_moment_the_examples_run_at() -> None:
    """The rule that keeps CI green on any day: a dated example is run with the clock
    frozen at README_MOMENT, so its date must lie after that moment, not after today."""
    dates = [d for c in readme_commands() for d in _DATE.findall(c)]
    assert dates, "the README shows no dated example any more: drop README_MOMENT"
    for date in dates:
        assert date > README_MOMENT[:10], date


def test_every_readme_tagging_command_works_as_pasted(
    endpoint: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`aws` commands run in bash as pasted; `powercycle` ones in this process (the same
    argument list as the shell would make, without a second interpreter start each)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", *FAKE_CREDENTIALS):
        monkeypatch.setenv(name, env[name])
    ec2, eks, s3 = clients(endpoint)
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    instance_id = instance["InstanceId"]
    if "dev" not in eks.list_clusters()["clusters"]:
        eks.create_cluster(
            name="dev", roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={}
        )
    s3.create_bucket(
        Bucket="my-schedules", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    for key in ("office.json", "dev.json"):
        s3.put_object(
            Bucket="my-schedules",
            Key=key,
            Body=b'{"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5"}',
        )
    commands = readme_commands()
    assert len(commands) >= 18
    for command in commands:
        pasted = command.replace(EXAMPLE_ID, instance_id)
        if pasted.startswith("powercycle "):
            aws_module.reset()
            with freeze_time(README_MOMENT, tick=True):
                expected = 1 if command in REFUSED_AS_SHOWN else 0
                assert main(shlex.split(pasted)[1:]) == expected, command
        else:
            done = subprocess.run(
                ["bash", "-c", pasted],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        tags = {
            "ec2": {
                t["Key"]: t["Value"]
                for t in ec2.describe_tags(
                    Filters=[{"Name": "resource-id", "Values": [instance_id]}]
                )["Tags"]
            },
            "eks": eks.describe_cluster(name="dev")["cluster"].get("tags") or {},
        }
        for kind, found in tags.items():
            value = found.get(TAG)
            if value is not None and not value.startswith("s3://"):
                # A run accepts what was written: the quoting survived the shell and the CLI.
                if shape(value) == "uptime":
                    parse_uptime(value)
                else:
                    parse_schedule_text(value)
                if value.startswith("{") and "start" in value:
                    assert json.loads(value)["start"] == "0 8 * * 1-5", (kind, command)
