"""`powercycle deploy` on moto: bucket, package, stack from template.yaml, outputs, idempotence.

The command runs in this process against moto's in-process mock (`mock_aws`), on the real
template.yaml. What moto's CloudFormation cannot model, and how the tests deal with it:

- `AWS::Lambda::Alias` and `AWS::Lambda::EventInvokeConfig` have no moto model (skipped with
  a warning), `AWS::Lambda::Version` answers no `Fn::GetAtt` and is never replaced on
  update, and `UsePreviousValue` fails for a defaulted parameter: tests/moto_cloudformation.py
  adds exactly these, on moto's own Lambda backend. `AWS::CloudWatch::Alarm` is skipped.
- Stack operations finish inside the API call: there is no CREATE_IN_PROGRESS to wait
  through, and a resource that fails raises out of the call instead of leaving
  CREATE_FAILED events and a rollback. The waiting and the one-line failure (the first failed
  resource's ResourceStatusReason) are tested on a stand-in CloudFormation that answers as
  the real one does, with events recorded from a real failed create.
- This template's update fails inside moto (`Fn::GetAtt references undefined resource
  LogGroup` while it re-resolves the role), so for an update the request is checked, not
  the version it would publish; a new version and LIVE moving are what the template's
  Version (its description names the code key) and LiveAlias do on AWS.
- Its ValidateTemplate lists no parameters: the command then reads them from the template.
- IAM is not enforced (CAPABILITY_IAM is accepted whether or not it is needed), parameter
  constraints (AllowedPattern, AllowedValues) are not checked, and no function is invoked.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from powercycle import aws as aws_module
from powercycle.cli import main
from powercycle.cli import output as output_module
from powercycle.cli import stack as stack_module
from tests import moto_cloudformation
from tests.deploy_support import (
    FAKE_CREDENTIALS,
    REGION,
    REPO,
    code_sha256,
    moto_server,
    subprocess_env,
)

ACCOUNT = "123456789012"
DEFAULT_BUCKET = f"powercycle-artifacts-{ACCOUNT}-{REGION}"


@pytest.fixture
def cloud(moto: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    moto_cloudformation.patch(monkeypatch)
    monkeypatch.setattr(stack_module, "POLL_SECONDS", 0.0)
    yield


def stub_zip(path: Path, text: str = "v1") -> Path:
    """A small package standing in for package.sh's (moto stores code, it runs none)."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("powercycle/__init__.py", f"# {text}\n")
    return path


def deploy(*args: str) -> int:
    aws_module.reset()
    return main(["deploy", *args])


def client(service: str) -> Any:
    # A session of its own: boto3's default one may have read the environment before a
    # test changed AWS_CONFIG_FILE or AWS_PROFILE (conftest makes clients first).
    return boto3.session.Session(region_name=REGION).client(service)


def alias_version(function: str = "powercycle") -> str:
    return str(client("lambda").get_alias(FunctionName=function, Name="LIVE")["FunctionVersion"])


def stack_parameters(stack: str = "powercycle") -> dict[str, str]:
    found = client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in found["Parameters"]}


# -- create, update, nothing to do ---------------------------------------------------------------


def test_first_deploy_creates_bucket_stack_function_and_live(
    cloud: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One command: a private bucket named after account and region, the zip under its
    SHA-256, the stack, the function running that zip, LIVE on version 1, the outputs."""
    package = stub_zip(tmp_path / "p.zip")
    assert deploy("--region", REGION, "--zip", str(package), "--json") == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    key = f"powercycle/{hashlib.sha256(package.read_bytes()).hexdigest()}.zip"
    assert result["status"] == "CREATE_COMPLETE" and result["changed"] is True
    assert result["package"] == f"s3://{DEFAULT_BUCKET}/{key}"
    assert client("s3").get_object(Bucket=DEFAULT_BUCKET, Key=key)["Body"].read() == (
        package.read_bytes()
    )
    block = client("s3").get_public_access_block(Bucket=DEFAULT_BUCKET)
    assert all(block["PublicAccessBlockConfiguration"].values())
    function = client("lambda").get_function(FunctionName="powercycle")["Configuration"]
    assert function["CodeSha256"] == code_sha256(package)
    assert function["Handler"] == "powercycle.handler.handler"
    assert alias_version() == "1"
    assert result["outputs"]["FunctionName"] == "powercycle"
    assert set(result["outputs"]) >= {"FunctionArn", "LiveAliasArn", "RoleArn", "DeployPolicyArn"}
    assert any(step.startswith(f"powercycle plan --region {REGION}") for step in result["next"])
    assert f"creating the artifacts bucket {DEFAULT_BUCKET}" in err
    assert stack_parameters()["CodeS3Bucket"] == DEFAULT_BUCKET


def test_a_second_run_with_nothing_changed_changes_nothing(
    cloud: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same package, same parameters: "nothing to change", exit 0, no new version."""
    package = stub_zip(tmp_path / "p.zip")
    assert deploy("--region", REGION, "--zip", str(package)) == 0
    capsys.readouterr()
    monkeypatch.setattr(output_module, "stdout_is_terminal", lambda: True)
    assert deploy("--region", REGION, "--zip", str(package)) == 0
    out, err = capsys.readouterr()
    assert "up to date (nothing changed)" in out
    assert "is there already" in err and "nothing to change" in err
    assert "FunctionName" in out and "next:" in out
    versions = client("lambda").list_versions_by_function(FunctionName="powercycle")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]
    assert alias_version() == "1"


def test_a_new_package_updates_the_stack_keeping_the_parameters_given_before(
    cloud: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new build is a new key: the update names it and keeps every other parameter's
    value (moto cannot carry out this update, see the module docstring: the request is
    what is checked, as CloudFormation would receive it)."""
    first = stub_zip(tmp_path / "1.zip")
    assert deploy("--region", REGION, "--zip", str(first), "--param", "DryRun=true") == 0
    second = stub_zip(tmp_path / "2.zip", "v2")
    requests: list[dict[str, Any]] = []
    real_client = aws_module.client

    class Recording:
        def __init__(self, real: Any) -> None:
            self.real = real

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def update_stack(self, **kwargs: Any) -> dict[str, str]:
            requests.append(kwargs)
            return {"StackId": "powercycle"}

    def recording_client(service: str, region: str, **kwargs: Any) -> Any:
        made = real_client(service, region, **kwargs)
        return Recording(made) if service == "cloudformation" else made

    aws_module.reset()
    monkeypatch.setattr(aws_module, "client", recording_client)
    assert main(["deploy", "--region", REGION, "--zip", str(second)]) == 0
    [request] = requests
    given = {p["ParameterKey"]: p.get("ParameterValue") for p in request["Parameters"]}
    kept = {p["ParameterKey"] for p in request["Parameters"] if p.get("UsePreviousValue")}
    assert given["CodeS3Key"] == f"powercycle/{hashlib.sha256(second.read_bytes()).hexdigest()}.zip"
    assert given["CodeS3Bucket"] == DEFAULT_BUCKET
    assert "DryRun" in kept and "FunctionName" in kept and "ExternalId" in kept
    assert request["TemplateBody"] == (REPO / "template.yaml").read_text()
    assert request["Capabilities"] == ["CAPABILITY_IAM"]


def test_a_stack_left_by_a_failed_first_create_is_deleted_and_created_again(
    cloud: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ROLLBACK_COMPLETE can only be deleted: the next run deletes it and creates the stack."""
    from moto.cloudformation.models import cloudformation_backends

    assert deploy("--region", REGION, "--zip", str(stub_zip(tmp_path / "1.zip"))) == 0
    backend = cloudformation_backends[ACCOUNT][REGION]
    [stack] = [s for s in backend.stacks.values() if s.name == "powercycle"]
    stack.status = "ROLLBACK_COMPLETE"  # what a failed first create leaves (moto cannot fail one)
    capsys.readouterr()
    assert deploy("--region", REGION, "--zip", str(stub_zip(tmp_path / "2.zip", "v2"))) == 0
    err = capsys.readouterr().err
    assert "is ROLLBACK_COMPLETE from a failed first create: deleting it" in err
    assert "creating stack powercycle" in err
    status = client("cloudformation").describe_stacks(StackName="powercycle")["Stacks"][0]
    assert status["StackStatus"] == "CREATE_COMPLETE"


def test_stack_name_bucket_and_parameters_are_chosen_on_the_command_line(
    cloud: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--stack, --bucket (created when missing) and --param reach the stack; a NoEcho value
    is never printed."""
    secret = "external-id-not-to-be-shown"
    assert (
        deploy(
            "--region",
            REGION,
            "--zip",
            str(stub_zip(tmp_path / "p.zip")),
            "--stack",
            "pc-test",
            "--bucket",
            "my-artifacts",
            "--param",
            "FunctionName=pc-test",
            "--param",
            f"ExternalId={secret}",
            "--json",
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert secret not in out + err
    assert "ExternalId=****" in err and "FunctionName=pc-test" in err
    assert json.loads(out)["outputs"]["FunctionName"] == "pc-test"
    params = stack_parameters("pc-test")
    assert params["CodeS3Bucket"] == "my-artifacts"
    client("s3").head_bucket(Bucket="my-artifacts")
    assert alias_version("pc-test") == "1"


def test_an_existing_bucket_is_used_as_it_is(cloud: None, tmp_path: Path) -> None:
    client("s3").create_bucket(
        Bucket="mine", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    assert (
        deploy("--region", REGION, "--zip", str(stub_zip(tmp_path / "p.zip")), "--bucket", "mine")
        == 0
    )
    with pytest.raises(client("s3").exceptions.ClientError):
        client("s3").get_public_access_block(Bucket="mine")  # left as it was


def test_a_bucket_in_another_region_is_refused_in_one_line(
    cloud: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("s3", region_name="us-west-2").create_bucket(
        Bucket="far-away", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    assert (
        deploy(
            "--region", REGION, "--zip", str(stub_zip(tmp_path / "p.zip")), "--bucket", "far-away"
        )
        == 1
    )
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1] == (
        "powercycle: deploy failed: bucket far-away is in us-west-2, the stack in eu-west-1: "
        "Lambda reads its code from the same region (choose another with --bucket)"
    )


# -- usage ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "Nope=1"], "--param Nope: the template has no such parameter"),
        (["--param", "DryRun"], "--param 'DryRun': expected KEY=VALUE"),
        (["--param", "CodeS3Key=x"], "--param CodeS3Key: deploy sets it"),
        (["--template", "no-such.yaml"], "no template at no-such.yaml"),
    ],
)
def test_usage_errors_are_one_line_exit_2(
    cloud: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    assert deploy("--region", REGION, "--zip", str(stub_zip(tmp_path / "p.zip")), *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert client("s3").list_buckets()["Buckets"] == []  # refused before anything was made


def test_region_from_the_command_line_over_the_environment(
    cloud: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--region wins over AWS_DEFAULT_REGION; with neither, a usage error naming --region."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert deploy("--region", REGION, "--zip", str(stub_zip(tmp_path / "p.zip"))) == 0
    client("cloudformation").describe_stacks(StackName="powercycle")  # in eu-west-1
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    assert deploy("--zip", str(tmp_path / "p.zip")) == 2


def test_no_region_anywhere_names_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    assert deploy("--zip", str(stub_zip(tmp_path / "p.zip"))) == 2
    assert "no region: pass --region R" in capsys.readouterr().err


def test_a_profile_on_the_command_line_wins_over_aws_profile(
    cloud: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--profile over AWS_PROFILE, and its region is used when neither --region nor the
    environment gives one. (AWS_PROFILE names a real profile: moto's own boto3 sessions,
    in this process, read it too.)"""
    config = tmp_path / "aws-config"
    config.write_text(
        f"[profile dev]\nregion = {REGION}\naws_access_key_id = dev\naws_secret_access_key = dev\n"
        "[profile other]\nregion = us-west-2\naws_access_key_id = o\naws_secret_access_key = o\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "other")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    assert deploy("--profile", "dev", "--zip", str(stub_zip(tmp_path / "p.zip"))) == 0
    client("cloudformation").describe_stacks(StackName="powercycle")  # eu-west-1: dev's


def test_a_refused_request_is_one_line(
    cloud: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CloudFormation refusing the request itself (here: a value outside its pattern, as
    AWS checks it; moto does not) is one line naming the stack, exit 1."""
    real_client = aws_module.client

    class Refusing:
        def __init__(self, real: Any) -> None:
            self.real = real

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def create_stack(self, **kwargs: Any) -> None:
            raise self.real.exceptions.ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": "Parameter 'Kinds' must match pattern "
                        "^(ec2|eks|asg)(,(ec2|eks|asg)){0,2}$",
                    }
                },
                "CreateStack",
            )

    def refusing_client(service: str, region: str, **kwargs: Any) -> Any:
        made = real_client(service, region, **kwargs)
        return Refusing(made) if service == "cloudformation" else made

    aws_module.reset()
    monkeypatch.setattr(aws_module, "client", refusing_client)
    args = ["deploy", "--region", REGION, "--zip", str(stub_zip(tmp_path / "p.zip"))]
    assert main([*args, "--param", "Kinds=rds"]) == 1
    failure = [line for line in capsys.readouterr().err.splitlines() if "powercycle:" in line]
    assert failure == [
        "powercycle: deploy failed: CloudFormation refused stack powercycle: ValidationError: "
        "Parameter 'Kinds' must match pattern ^(ec2|eks|asg)(,(ec2|eks|asg)){0,2}$"
    ]


# -- waiting and failing: a stand-in CloudFormation -------------------------------------------


T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def event(n: int, logical: str, kind: str, status: str, reason: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {
        "EventId": f"e{n}",
        "StackName": "powercycle",
        "LogicalResourceId": logical,
        "ResourceType": kind,
        "ResourceStatus": status,
        "Timestamp": T0 + timedelta(seconds=n),
    }
    if reason:
        found["ResourceStatusReason"] = reason
    return found


# A real first create that failed (eu-west-1, an S3 key that was not there), oldest first.
FAILED_CREATE = [
    event(1, "powercycle", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated"),
    event(2, "LogGroup", "AWS::Logs::LogGroup", "CREATE_IN_PROGRESS"),
    event(3, "LogGroup", "AWS::Logs::LogGroup", "CREATE_COMPLETE"),
    event(4, "Role", "AWS::IAM::Role", "CREATE_IN_PROGRESS"),
    event(5, "Role", "AWS::IAM::Role", "CREATE_COMPLETE"),
    event(6, "Function", "AWS::Lambda::Function", "CREATE_IN_PROGRESS"),
    event(
        7,
        "Function",
        "AWS::Lambda::Function",
        "CREATE_FAILED",
        'Resource handler returned message: "Error occurred while GetObject. S3 Error Code: '
        "NoSuchKey. S3 Error Message: The specified key does not exist. (Service: Lambda, "
        'Status Code: 400, Request ID: 0f1e2d3c)" (RequestToken: 5a6b, HandlerErrorCode: '
        "InvalidRequest)",
    ),
    event(
        8, "DeployPolicy", "AWS::IAM::ManagedPolicy", "CREATE_FAILED", "Resource creation cancelled"
    ),
    event(
        9,
        "powercycle",
        "AWS::CloudFormation::Stack",
        "ROLLBACK_IN_PROGRESS",
        "The following resource(s) failed to create: [Function, DeployPolicy]. Rollback "
        "requested by user.",
    ),
    event(10, "Role", "AWS::IAM::Role", "DELETE_COMPLETE"),
    event(11, "LogGroup", "AWS::Logs::LogGroup", "DELETE_COMPLETE"),
    event(12, "powercycle", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE"),
]


class FailingCloudFormation:
    """Answers as CloudFormation does to a create that fails: the stack goes through
    CREATE_IN_PROGRESS and ROLLBACK_IN_PROGRESS to ROLLBACK_COMPLETE, a few events a poll."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.polls = 0
        self.created = False

    def validate_template(self, **kwargs: Any) -> Any:
        return self.real.validate_template(**kwargs)

    def _shown(self) -> list[dict[str, Any]]:
        return FAILED_CREATE[: min(len(FAILED_CREATE), 1 + 4 * self.polls)]

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if not self.created:
            raise self.real.exceptions.ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": f"Stack with id {StackName} does not exist",
                    }
                },
                "DescribeStacks",
            )
        self.polls += 1
        status = self._shown()[-1]["ResourceStatus"]
        if self._shown()[-1]["ResourceType"] != "AWS::CloudFormation::Stack":
            status = "CREATE_IN_PROGRESS" if self.polls < 3 else "ROLLBACK_IN_PROGRESS"
        return {"Stacks": [{"StackName": StackName, "StackStatus": status}]}

    def create_stack(self, **kwargs: Any) -> dict[str, str]:
        assert kwargs["Capabilities"] == ["CAPABILITY_IAM"]
        self.created = True
        return {"StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/powercycle/x"}

    def describe_stack_events(self, StackName: str) -> dict[str, Any]:
        return {"StackEvents": self._shown()[::-1]}

    def get_paginator(self, name: str) -> Any:
        assert name == "describe_stack_events"
        outer = self

        class Pages:
            def paginate(self, StackName: str) -> list[dict[str, Any]]:
                return [outer.describe_stack_events(StackName)]

        return Pages()


def test_a_failed_create_is_one_line_with_the_first_failed_resources_reason(
    cloud: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It waits through the rollback, then says why in one line, exit 1: the Function's
    reason, not the cancelled policy's nor the stack's summary."""
    real_client = aws_module.client
    stand_in = FailingCloudFormation(boto3.client("cloudformation", region_name=REGION))

    def fake_client(service: str, region: str, **kwargs: Any) -> Any:
        return stand_in if service == "cloudformation" else real_client(service, region, **kwargs)

    aws_module.reset()
    monkeypatch.setattr(aws_module, "client", fake_client)
    assert main(["deploy", "--region", REGION, "--zip", str(stub_zip(tmp_path / "p.zip"))]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert stand_in.polls >= 3  # it waited through CREATE_ and ROLLBACK_IN_PROGRESS
    assert "  Function (AWS::Lambda::Function): CREATE_FAILED" in err  # progress lines
    failure = [line for line in err.splitlines() if line.startswith("powercycle:")]
    assert failure == [
        "powercycle: deploy failed: Function (AWS::Lambda::Function) CREATE_FAILED: Resource "
        'handler returned message: "Error occurred while GetObject. S3 Error Code: NoSuchKey. '
        "S3 Error Message: The specified key does not exist. (Service: Lambda, Status Code: "
        '400, Request ID: 0f1e2d3c)" (RequestToken: 5a6b, HandlerErrorCode: InvalidRequest) '
        "(stack powercycle: ROLLBACK_COMPLETE)"
    ]


def test_first_failure_skips_cancellations_and_the_stack_summary() -> None:
    assert stack_module.first_failure(FAILED_CREATE[7:9]) == (
        "DeployPolicy (AWS::IAM::ManagedPolicy) CREATE_FAILED: Resource creation cancelled"
    )
    assert stack_module.first_failure(FAILED_CREATE[:6]) is None


# -- the package is package.sh's, and the README's command runs as pasted -------------------


def readme_deploy_command() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Deploy in one command") :]
    found = re.search(r"^    (powercycle deploy .*)$", section, re.MULTILINE)
    assert found, "the README's deploy section shows no `powercycle deploy` command"
    return found.group(1)


@pytest.mark.slow
def test_the_readme_command_deploys_package_sh_bytes(
    cloud: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's command as pasted (package.sh builds the zip, fetching wheels as
    tests/test_deploy.py does): the object in the bucket is byte for byte a separate
    `package.sh --arch x86_64` build, and stdout shows the outputs and what to do next."""
    command = readme_deploy_command()
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
    monkeypatch.setattr(output_module, "stdout_is_terminal", lambda: True)
    aws_module.reset()
    assert main(shlex.split(command)[1:]) == 0
    out, err = capsys.readouterr()
    assert "building the package: package.sh --arch x86_64" in err
    assert "stack powercycle in eu-west-1: deployed, CREATE_COMPLETE" in out
    assert "LiveAliasArn" in out and "powercycle plan --region eu-west-1" in out
    s3 = client("s3")
    listed = s3.list_objects_v2(Bucket=DEFAULT_BUCKET)["Contents"]
    assert len(listed) == 1
    uploaded = s3.get_object(Bucket=DEFAULT_BUCKET, Key=listed[0]["Key"])["Body"].read()
    by_hand = tmp_path / "by-hand.zip"
    subprocess.run(
        ["bash", str(REPO / "package.sh"), "--arch", "x86_64", "--output", str(by_hand)],
        env=subprocess_env(tmp_path, PIP_CACHE_DIR=str(tmp_path / "pip-cache")),
        check=True,
        capture_output=True,
        timeout=600,
    )
    assert uploaded == by_hand.read_bytes()
    assert listed[0]["Key"] == f"powercycle/{hashlib.sha256(uploaded).hexdigest()}.zip"
    function = client("lambda").get_function(FunctionName="powercycle")["Configuration"]
    assert function["CodeSha256"] == code_sha256(by_hand)


# -- post-to-lambda.sh against a function that is not there --------------------------------------


def test_post_to_lambda_without_the_function_says_deploy_the_template_first(
    tmp_path: Path,
) -> None:
    package = stub_zip(tmp_path / "p.zip")
    with moto_server(tmp_path / "moto.log") as endpoint:
        done = subprocess.run(
            ["bash", str(REPO / "post-to-lambda.sh"), "--zip", str(package)],
            env=subprocess_env(
                tmp_path,
                AWS_ENDPOINT_URL=endpoint,
                AWS_REGION=REGION,
                AWS_LAMBDA_FUNCTION="pc-missing",
                **FAKE_CREDENTIALS,
            ),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"post-to-lambda.sh: update-function-code failed: no function pc-missing in {REGION} "
        f"(ResourceNotFoundException): deploy the template first (powercycle deploy --region "
        f"{REGION})"
    )


def test_deploy_is_in_the_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["deploy", "--help"])
    assert "--bucket" in capsys.readouterr().out
