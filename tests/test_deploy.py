"""The deploy kit end to end: package.sh, post-to-lambda.sh, the Dockerfile, template.yaml.

No Docker engine is available, so the image is not built: its entry point is run on a copy
of the tree it would hold. The package is built once per session (it fetches wheels from
PyPI) and reused. Everything AWS is a moto server on 127.0.0.1 in its own process.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pexpect
import pytest

from tests.deploy_support import (
    FAKE_CREDENTIALS,
    REGION,
    REPO,
    VENV_BIN,
    code_sha256,
    copy_image_tree,
    entrypoint,
    image_files,
    lambda_arch,
    lambda_like_python,
    moto_api,
    moto_server,
    subprocess_env,
)

pytestmark = pytest.mark.slow

# 3 MB: Powertools for AWS Lambda takes about 0.96 MB of it (docs/logs.md, "Cost").
MAX_ZIP_BYTES = 3 * 1024 * 1024
POST = str(REPO / "post-to-lambda.sh")
PACKAGE = str(REPO / "package.sh")


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _one_pip_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every pip run of the session (three package.sh builds, the boto3-only virtualenv)
    shares one cache: a wheel fetched from PyPI once is not fetched again. (Each run has
    a fresh HOME, which would otherwise mean a fresh cache each time.)"""
    patch = pytest.MonkeyPatch()
    patch.setenv("PIP_CACHE_DIR", str(tmp_path_factory.mktemp("pip-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def lambda_python() -> tuple[str, str]:
    return lambda_like_python()


@pytest.fixture(scope="session")
def package_zip(tmp_path_factory: pytest.TempPathFactory, lambda_python: tuple[str, str]) -> Path:
    """package.sh's zip of this tree, wheels for the interpreter the handler test uses."""
    out = tmp_path_factory.mktemp("package") / "powercycle.zip"
    home = tmp_path_factory.mktemp("home")
    result = subprocess.run(
        [
            "bash",
            PACKAGE,
            "--python-version",
            lambda_python[1],
            "--arch",
            lambda_arch(),
            "--output",
            str(out),
        ],
        env=subprocess_env(home),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"{out}: {out.stat().st_size} bytes" in result.stdout  # it prints its size
    return out


@pytest.fixture(scope="session")
def boto3_only_python(
    tmp_path_factory: pytest.TempPathFactory, lambda_python: tuple[str, str]
) -> str:
    """A fresh virtualenv holding boto3 and nothing else of ours, like the Lambda runtime."""
    venv = tmp_path_factory.mktemp("lambda-venv")
    subprocess.run([lambda_python[0], "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "boto3"],
        check=True,
        timeout=600,
        env=subprocess_env(tmp_path_factory.mktemp("home")),
    )
    return python


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def create_function(endpoint: str, name: str, tmp_path: Path) -> str:
    """A function holding a stub zip (moto stores the code; it runs nothing without Docker)."""
    iam = client("iam", endpoint)
    try:
        role = iam.get_role(RoleName="powercycle-test")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(
            RoleName="powercycle-test",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
    stub = io.BytesIO()
    with zipfile.ZipFile(stub, "w") as zf:
        zf.writestr("stub.py", "def handler(event, context):\n    return {}\n")
    created = client("lambda", endpoint).create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="powercycle.handler.handler",
        Code={"ZipFile": stub.getvalue()},
    )
    return str(created["CodeSha256"])


def variant_of(package: Path, dest: Path) -> Path:
    """The package plus one file: another build, another CodeSha256."""
    shutil.copyfile(package, dest)
    with zipfile.ZipFile(dest, "a") as zf:
        zf.writestr("VARIANT", dest.name)
    return dest


def run_post(
    env: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", POST, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def headless_env(tmp_path: Path, endpoint: str, function: str, package: Path) -> dict[str, str]:
    # AWS_REGION only: the AWS CLI v1 itself reads only AWS_DEFAULT_REGION.
    return subprocess_env(
        tmp_path,
        AWS_ENDPOINT_URL=endpoint,
        AWS_REGION=REGION,
        AWS_LAMBDA_FUNCTION=function,
        POWERCYCLE_ZIP=str(package),
        **FAKE_CREDENTIALS,
    )


def alias_version(endpoint: str, function: str, alias: str = "LIVE") -> str:
    return str(
        client("lambda", endpoint).get_alias(FunctionName=function, Name=alias)["FunctionVersion"]
    )


# -- package.sh ----------------------------------------------------------------------------


def test_package_holds_the_code_and_deps_but_not_boto3(package_zip: Path) -> None:
    """The zip is under 3 MB, fixed-format, and carries everything but the runtime's SDK."""
    assert package_zip.stat().st_size < MAX_ZIP_BYTES
    with zipfile.ZipFile(package_zip) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {"powercycle/handler.py", "powercycle/engine.py", "LICENSE"} <= set(names)
    assert ("README.md" in names) == (REPO / "README.md").is_file()
    tops = {n.split("/")[0] for n in names}
    assert {"croniter", "requests", "dateutil", "urllib3", "tzdata"} <= tops
    assert "aws_lambda_powertools" in tops
    assert not tops & {"boto3", "botocore", "s3transfer", "jmespath", "bin"}
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))]
    assert not [n for n in names if n.endswith(("/RECORD", "/INSTALLER", "/direct_url.json"))]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}


def test_two_builds_of_the_same_tree_are_identical(
    package_zip: Path, lambda_python: tuple[str, str], tmp_path: Path
) -> None:
    """Another checkout path, other file times, another umask and temp dir: same bytes."""
    tree = copy_image_tree(tmp_path / "elsewhere" / "checkout")
    other_tmp = tmp_path / "tmp"
    other_tmp.mkdir()
    out = tmp_path / "second.zip"
    result = subprocess.run(
        [
            "bash",
            "-c",
            'umask 077 && exec bash ./package.sh "$@"',
            "package.sh",
            "--python-version",
            lambda_python[1],
            "--arch",
            lambda_arch(),
            "--output",
            str(out),
        ],
        cwd=tree,
        env=subprocess_env(tmp_path, TMPDIR=str(other_tmp)),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == package_zip.read_bytes()


def test_package_rejects_an_unknown_architecture(tmp_path: Path) -> None:
    """A typo in --arch stops the build before anything is fetched."""
    result = subprocess.run(
        ["bash", PACKAGE, "--arch", "sparc", "--output", str(tmp_path / "x.zip")],
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "--arch must be x86_64 or arm64" in result.stderr
    assert not (tmp_path / "x.zip").exists()


def test_handler_from_the_zip_dry_runs_in_a_boto3_only_venv(
    package_zip: Path, boto3_only_python: str, moto_endpoint: str, tmp_path: Path
) -> None:
    """Unzipped beside boto3 alone, the handler plans a due stop and changes nothing."""
    task = tmp_path / "task"  # what Lambda calls /var/task
    with zipfile.ZipFile(package_zip) as zf:
        zf.extractall(task)
    ec2 = client("ec2", moto_endpoint)
    instance = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[
            {
                "ResourceType": "instance",
                # A stop every minute: whatever the time, the latest event is a stop.
                "Tags": [{"Key": "ec2Powercycle", "Value": '{"stop": "* * * * *"}'}],
            }
        ],
    )["Instances"][0]["InstanceId"]

    no_deps = subprocess.run(
        [
            boto3_only_python,
            "-I",
            "-c",
            "import importlib.util as u; print([m for m in ('croniter', 'requests', 'powercycle') "
            "if u.find_spec(m)])",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert no_deps.stdout.strip() == "[]"  # the venv alone has none of them

    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(task)!r})\n"
        "from powercycle.handler import handler\n"
        "import boto3, croniter, requests\n"
        "summary = handler({'dryRun': True}, None)\n"
        "print(json.dumps({'summary': summary, 'croniter': croniter.__file__,\n"
        "                  'requests': requests.__file__, 'boto3': boto3.__file__}))\n"
    )
    result = subprocess.run(
        [boto3_only_python, "-I", "-c", script],
        cwd=task,
        env=subprocess_env(
            tmp_path,
            AWS_ENDPOINT_URL=moto_endpoint,
            AWS_REGION=REGION,
            POWERCYCLE_REGIONS=REGION,
            **FAKE_CREDENTIALS,
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["croniter"].startswith(str(task)) and out["requests"].startswith(str(task))
    assert not out["boto3"].startswith(str(task))
    summary = out["summary"]
    assert summary["dryRun"] is True
    assert summary["errors"] == []
    mine = [a for a in summary["actions"] if a["id"] == instance]
    assert mine == [
        {
            "id": instance,
            "kind": "ec2",
            "region": REGION,
            "action": "stop",
            "reason": mine[0]["reason"],
            "result": "planned",
        }
    ]
    described = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert described["State"]["Name"] == "running"
    assert not [t for t in described.get("Tags", []) if t["Key"].startswith("powercycle:")]


# -- post-to-lambda.sh -------------------------------------------------------------------------


def test_post_to_lambda_updates_publishes_and_moves_live(
    package_zip: Path, moto_endpoint: str, tmp_path: Path
) -> None:
    """Headless: new code, a published version, LIVE created, then moved on the next run."""
    stub_sha = create_function(moto_endpoint, "pc-headless", tmp_path)
    lam = client("lambda", moto_endpoint)

    first = run_post(headless_env(tmp_path, moto_endpoint, "pc-headless", package_zip))
    assert first.returncode == 0, first.stderr
    sha = code_sha256(package_zip)
    assert sha != stub_sha
    assert lam.get_function(FunctionName="pc-headless")["Configuration"]["CodeSha256"] == sha
    published = lam.get_function(FunctionName="pc-headless", Qualifier="1")["Configuration"]
    assert published["CodeSha256"] == sha
    assert alias_version(moto_endpoint, "pc-headless") == "1"
    assert "alias LIVE created at version 1" in first.stderr

    variant = variant_of(package_zip, tmp_path / "variant.zip")
    second = run_post(headless_env(tmp_path, moto_endpoint, "pc-headless", variant))
    assert second.returncode == 0, second.stderr
    assert lam.get_function(FunctionName="pc-headless", Qualifier="2")["Configuration"][
        "CodeSha256"
    ] == code_sha256(variant)
    assert alias_version(moto_endpoint, "pc-headless") == "2"
    assert "alias LIVE moved from version 1 to 2" in second.stderr
    assert (
        second.stdout.strip()
        == f"pc-headless version 2 is LIVE (CodeSha256 {code_sha256(variant)})"
    )


def test_invoke_failure_leaves_live_where_it_was(
    package_zip: Path, moto_endpoint: str, tmp_path: Path
) -> None:
    """--invoke: a FunctionError from the new version stops the rollout before LIVE moves.

    moto runs Lambda code only in Docker; its server is started without one (see
    deploy_support.moto_server), so its invoke answers with FunctionError "Handled", the
    failure this checks.
    """
    create_function(moto_endpoint, "pc-invoke-fails", tmp_path)
    env = headless_env(tmp_path, moto_endpoint, "pc-invoke-fails", package_zip)
    assert run_post(env).returncode == 0
    failed = run_post(
        headless_env(
            tmp_path, moto_endpoint, "pc-invoke-fails", variant_of(package_zip, tmp_path / "v.zip")
        ),
        "--invoke",
    )
    assert failed.returncode != 0
    assert "version 2 reported FunctionError=" in failed.stderr
    assert "alias LIVE left unchanged" in failed.stderr
    assert alias_version(moto_endpoint, "pc-invoke-fails") == "1"


def test_invoke_reads_the_dry_run_summary(package_zip: Path, tmp_path: Path) -> None:
    """--invoke passes on a clean summary and stops on one that lists errors.

    moto's Docker-less Lambda returns queued answers instead of running the code: the
    summaries below stand in for what the handler returns.
    """
    clean = {
        "now": "2026-11-23T08:14:00Z",
        "dryRun": True,
        "scanned": 2,
        "actions": [
            {
                "id": "i-1",
                "kind": "ec2",
                "region": REGION,
                "action": "start",
                "reason": "start event",
                "result": "planned",
            }
        ],
        "errors": [],
        "counts": {"planned": 1, "none": 1},
    }
    broken = {**clean, "errors": [{"id": "i-2", "error": "bad schedule: stop: '55 25 * * 1-5'"}]}
    with moto_server(tmp_path / "moto.log") as endpoint:
        moto_api(endpoint, "config", {"lambda": {"use_docker": False}})
        moto_api(
            endpoint,
            "static/lambda-simple/response",
            {"results": [json.dumps(clean), json.dumps(broken)], "region": REGION},
        )
        create_function(endpoint, "pc-gated", tmp_path)

        passed = run_post(headless_env(tmp_path, endpoint, "pc-gated", package_zip), "--invoke")
        assert passed.returncode == 0, passed.stderr
        assert "dry run of version 1: scanned 2" in passed.stderr
        assert alias_version(endpoint, "pc-gated") == "1"

        stopped = run_post(
            headless_env(
                tmp_path, endpoint, "pc-gated", variant_of(package_zip, tmp_path / "v.zip")
            ),
            "--invoke",
        )
        assert stopped.returncode != 0
        assert "version 2 reported errors" in stopped.stderr and "i-2" in stopped.stderr
        assert alias_version(endpoint, "pc-gated") == "1"


def test_a_missing_function_fails_at_the_upload_step(
    package_zip: Path, moto_endpoint: str, tmp_path: Path
) -> None:
    """A wrong function name stops the script at its first call, which it names."""
    result = run_post(headless_env(tmp_path, moto_endpoint, "pc-does-not-exist", package_zip))
    assert result.returncode not in (0, 2)
    assert "update-function-code failed" in result.stderr
    assert "ResourceNotFoundException" in result.stderr
    with pytest.raises(client("lambda", moto_endpoint).exceptions.ResourceNotFoundException):
        client("lambda", moto_endpoint).get_function(FunctionName="pc-does-not-exist")


def test_without_terminal_or_variables_it_stops_at_once_naming_them(tmp_path: Path) -> None:
    """No AWS_LAMBDA_FUNCTION, no terminal: a non-zero exit within 5 s, no prompt."""
    result = subprocess.run(
        ["bash", POST],
        env={"PATH": "/usr/bin:/bin"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    for name in ("AWS_LAMBDA_FUNCTION", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert name in result.stderr
    assert "Lambda function name" not in result.stderr + result.stdout


def test_interactive_mode_asks_and_never_shows_the_secret(
    package_zip: Path, moto_endpoint: str, tmp_path: Path
) -> None:
    """With a terminal and nothing set, it asks for function, region and keys, then deploys."""
    create_function(moto_endpoint, "pc-interactive", tmp_path)
    secret = "s3cr3t-typed-at-the-prompt"
    transcript = io.StringIO()
    child = pexpect.spawn(
        "bash",
        [POST],
        env=subprocess_env(
            tmp_path, AWS_ENDPOINT_URL=moto_endpoint, POWERCYCLE_ZIP=str(package_zip)
        ),
        encoding="utf-8",
        timeout=120,
    )
    child.logfile_read = transcript
    child.expect("Lambda function name or ARN: ")
    child.sendline("pc-interactive")
    child.expect(r"AWS region \(e\.g\. eu-west-1\): ")
    child.sendline(REGION)
    child.expect(r"AWS access key id .*: ")
    child.sendline("AKIAEXAMPLEKEY")
    child.expect(r"AWS secret access key \(not shown\): ")
    child.sendline(secret)
    child.expect(pexpect.EOF)
    child.close()
    output = transcript.getvalue()
    assert child.exitstatus == 0, output
    assert "pc-interactive version 1 is LIVE" in output
    assert secret not in output
    assert alias_version(moto_endpoint, "pc-interactive") == "1"


def test_image_entry_point_packages_then_deploys(moto_endpoint: str, tmp_path: Path) -> None:
    """The Dockerfile's ENTRYPOINT, run on the tree the image holds once its build has run
    package.sh, with arguments passed on. (tests/test_image.py builds the image itself.)"""
    tree = copy_image_tree(tmp_path / "app")
    subprocess.run(
        ["bash", "package.sh"], cwd=tree, env=subprocess_env(tmp_path), check=True, timeout=600
    )
    create_function(moto_endpoint, "pc-image", tmp_path)
    env = subprocess_env(
        tmp_path,
        AWS_ENDPOINT_URL=moto_endpoint,
        AWS_REGION=REGION,
        AWS_LAMBDA_FUNCTION="pc-image",
        **FAKE_CREDENTIALS,
    )
    result = subprocess.run(
        [*entrypoint(), "--alias", "CANARY"],
        cwd=tree,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    built = tree / "dist" / "powercycle.zip"
    assert built.stat().st_size < MAX_ZIP_BYTES
    config = client("lambda", moto_endpoint).get_function(FunctionName="pc-image")["Configuration"]
    assert config["CodeSha256"] == code_sha256(built)
    assert alias_version(moto_endpoint, "pc-image", alias="CANARY") == "1"


def test_image_context_holds_what_the_scripts_need() -> None:
    """.dockerignore lets in the package, its requirements, the scripts and the licence."""
    assert {"powercycle", "requirements.txt", "LICENSE", "package.sh", "post-to-lambda.sh"} <= set(
        image_files()
    )


# -- linters ------------------------------------------------------------------------------------


def lint(tool: str, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / tool), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_dockerfile_is_clean_under_hadolint(tmp_path: Path) -> None:
    """hadolint finds nothing in the Dockerfile (and does find an unpinned install)."""
    result = lint("hadolint", "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.12-slim\nRUN pip install awscli\n")
    assert lint("hadolint", str(bad)).returncode != 0


def test_template_is_clean_under_cfn_lint(tmp_path: Path) -> None:
    """cfn-lint, informational checks included, finds nothing in template.yaml."""
    result = lint("cfn-lint", "--include-checks", "I", "--", "template.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "template.yaml").read_text().replace("python3.12", "python2.5"))
    assert lint("cfn-lint", "--", str(bad)).returncode != 0


def test_scripts_are_clean_under_shellcheck() -> None:
    """shellcheck finds nothing in package.sh and post-to-lambda.sh."""
    result = lint("shellcheck", "package.sh", "post-to-lambda.sh")
    assert result.returncode == 0, result.stdout + result.stderr


# -- template.yaml ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from cfnlint.decode import decode_str

    parsed, matches = decode_str((REPO / "template.yaml").read_text())
    assert not matches
    assert parsed is not None
    return dict(parsed)


def unless(entry: dict[str, Any]) -> dict[str, Any]:
    """A conditional entry (`Fn::If`) as it is when its condition holds."""
    return entry["Fn::If"][1] if "Fn::If" in entry else entry


def policies(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Policy name -> its statements, every condition taken as true."""
    found = {}
    for entry in template["Resources"]["Role"]["Properties"]["Policies"]:
        policy = unless(entry)
        found[policy["PolicyName"]] = [unless(s) for s in policy["PolicyDocument"]["Statement"]]
    return found


def statements(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for group in policies(template).values() for s in group}


def test_function_runs_the_handler_every_15_minutes(template: dict[str, Any]) -> None:
    """python3.12, the handler's dotted path, and the schedule's default rate."""
    resources = template["Resources"]
    function = resources["Function"]["Properties"]
    assert function["Runtime"] == "python3.12"
    assert function["Handler"] == "powercycle.handler.handler"
    assert function["MemorySize"] == {"Ref": "MemorySize"}
    assert function["Timeout"] == {"Ref": "Timeout"}
    assert template["Parameters"]["ScheduleExpression"]["Default"] == "rate(15 minutes)"
    assert resources["Schedule"]["Properties"]["Targets"][0]["Arn"] == {"Ref": "LiveAlias"}
    assert resources["LiveAlias"]["Properties"]["Name"] == "LIVE"


def test_every_setting_is_a_parameter_the_code_reads(template: dict[str, Any]) -> None:
    """Each environment variable comes from a parameter and is one powercycle reads."""
    variables = template["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    expected = {
        "POWERCYCLE_TAG",
        "POWERCYCLE_DRY_RUN",
        "POWERCYCLE_KINDS",
        "POWERCYCLE_REGIONS",
        "POWERCYCLE_EXCLUDE",
        "POWERCYCLE_DEFAULT_TZ",
        "POWERCYCLE_URL_ALLOWLIST",
        "POWERCYCLE_SCHEDULES",
        "CASTAI_API_URL",
        "CASTAI_SECRET_NAME",
        "CASTAI_RESUME_INSTANCE_TYPE",
        "CASTAI_RESUME_INSTANCE_TYPES",
        "POWERCYCLE_ALLOWED_TYPES",
        "POWERCYCLE_KEY_SECRET",
        "POWERCYCLE_SNS_TOPIC_ARN",
        "POWERCYCLE_NOTICE_MINUTES",
        "POWERCYCLE_ACCOUNT_ROLES",
        "POWERCYCLE_EXTERNAL_ID",
        "POWERCYCLE_SKIP_OWN_ACCOUNT",
        "POWERCYCLE_FANOUT_THRESHOLD",
        "POWERCYCLE_LINK_URL",
        "POWERCYCLE_LINK_HOURS",
        "POWERCYCLE_LINK_MAX_HOURS",
        "POWERCYCLE_NOTICE_FORMAT",
    }
    assert set(variables) == expected
    source = "".join(p.read_text() for p in (REPO / "powercycle").rglob("*.py"))
    # The key's secret is the stack's own (generated), not a parameter.
    assert variables.pop("POWERCYCLE_KEY_SECRET") == {"Ref": "Key"}
    # The function URL is found by the function itself (docs/links.md), or links are off.
    assert variables.pop("POWERCYCLE_LINK_URL") == {"Fn::If": ["LinksOn", "auto", ""]}
    assert '"POWERCYCLE_LINK_URL"' in source
    for name, value in variables.items():
        assert set(value) == {"Ref"} and value["Ref"] in template["Parameters"], name
        assert f'"{name}"' in source, f"{name} is not read by powercycle"
    assert template["Parameters"]["Exclude"]["Default"] == (
        "environment=p,environment=prod,environment=production"
    )
    assert template["Parameters"]["DryRun"]["AllowedValues"] == ["true", "false"]
    # Powertools' lines are JSON; Lambda's own lines too (docs/logs.md).
    logging = template["Resources"]["Function"]["Properties"]["LoggingConfig"]
    assert logging == {"LogFormat": "JSON"}


PRODUCTION = ["p", "prod", "production"]


def test_role_starts_and_stops_only_scheduled_non_production_instances(
    template: dict[str, Any],
) -> None:
    """The seed's guard: the schedule tag present and environment != p, ignoring case."""
    statement = statements(template)["StartStopScheduledInstancesButNotProduction"]
    assert sorted(statement["Action"]) == ["ec2:StartInstances", "ec2:StopInstances"]
    assert "instance/*" in json.dumps(statement["Resource"])
    with_default_tag, with_other_tag = statement["Condition"]["Fn::If"][1:]
    assert with_default_tag == {
        "StringLike": {"ec2:ResourceTag/ec2Powercycle": "*"},
        "StringNotEqualsIgnoreCase": {"ec2:ResourceTag/environment": PRODUCTION},
    }
    assert with_other_tag == {
        "StringNotEqualsIgnoreCase": {"ec2:ResourceTag/environment": PRODUCTION}
    }


def test_role_writes_only_powercycle_tags(template: dict[str, Any]) -> None:
    """CreateTags and eks:TagResource are limited to the powercycle:* keys."""
    found = statements(template)
    for sid, action in (
        ("RecordStateTagsOnly", "ec2:CreateTags"),
        ("RecordClusterStateTagsOnly", "eks:TagResource"),
    ):
        assert found[sid]["Action"] == action
        assert found[sid]["Condition"]["ForAllValues:StringLike"] == {
            "aws:TagKeys": ["powercycle:*"]
        }
        assert found[sid]["Condition"]["Null"] == {"aws:TagKeys": "false"}


def test_role_gets_ec2_and_eks_rights_only_for_the_kinds_it_manages(
    template: dict[str, Any],
) -> None:
    """POWERCYCLE_KINDS=ec2 leaves out EKS and the secret; =eks leaves out EC2; the Auto
    Scaling rights come only with asg."""
    conditional = {
        unless(p)["PolicyName"]: p["Fn::If"][0]
        for p in template["Resources"]["Role"]["Properties"]["Policies"]
        if "Fn::If" in p
    }
    assert conditional == {
        "ec2-instances": "ManagesEc2",
        "eks-clusters": "ManagesEks",
        "auto-scaling-groups": "ManagesAsg",
        "rds-databases": "ManagesDatabases",
        "ecs-services": "ManagesEcs",
    }
    conditions = template["Conditions"]
    kinds = template["Parameters"]["Kinds"]
    assert kinds["Default"] == "ec2,eks,asg,ecs,rds,rds-cluster"

    def holds(condition: str, value: str) -> bool:
        # Fn::Not [Fn::Equals [Fn::Join ["", Fn::Split [name, Kinds]], Kinds]]
        (equals,) = conditions[condition]["Fn::Not"]
        join, ref = equals["Fn::Equals"]
        assert ref == {"Ref": "Kinds"} and join["Fn::Join"][0] == ""
        name, split_ref = join["Fn::Join"][1]["Fn::Split"]
        assert split_ref == {"Ref": "Kinds"}
        return "".join(value.split(name)) != value

    names = ("ec2", "eks", "asg", "ecs", "rds", "rds-cluster")
    values = [",".join(c) for n in (1, 2, 3, 6) for c in itertools.permutations(names, n)]
    for value in values:
        assert re.fullmatch(kinds["AllowedPattern"], value), value
        named = value.split(",")
        for name in names[:4]:
            assert holds(f"Manages{name.capitalize()}", value) is (name in named)
        assert holds("ManagesDatabases", value) is bool({"rds", "rds-cluster"} & set(named))
    for bad in (
        "",
        "ec2,",
        "EC2",
        "ec2;eks",
        "all",
        "ec2,eks,asg,ec2",
        "ec2,eks,asg,ecs,ec2",
        "rds,rds",
        "rds-",
    ):
        assert not re.fullmatch(kinds["AllowedPattern"], bad), bad
    assert {s["Sid"] for s in policies(template)["eks-clusters"]} >= {"ReadCastAiKey"}


def test_role_grants_nothing_broad(template: dict[str, Any]) -> None:
    """Only read-only listing actions use Resource "*"; no action wildcards at all."""
    for sid, statement in statements(template).items():
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert not [a for a in actions if "*" in a], sid
        if statement["Resource"] == "*":
            assert actions in (
                ["ec2:DescribeInstances"],
                ["eks:ListClusters"],
                ["autoscaling:DescribeAutoScalingGroups"],
                ["autoscaling:DescribeScalingActivities"],
                ["tag:GetResources"],
                ["application-autoscaling:DescribeScalableTargets"],
                ["ec2:DescribeRegions"],
                [
                    "rds:DescribeDBInstances",
                    "rds:DescribeDBClusters",
                    "rds:DescribeBlueGreenDeployments",
                    "rds:DescribeEvents",
                ],
            ), sid
    own = statements(template)["ReadOwnKey"]
    assert own["Action"] == "secretsmanager:GetSecretValue" and own["Resource"] == {"Ref": "Key"}
    key = template["Resources"]["Key"]
    assert key["Type"] == "AWS::SecretsManager::Secret"
    assert "GenerateSecretString" in key["Properties"]
    secret = statements(template)["ReadCastAiKey"]
    assert re.search(r"secret:\$\{CastAiSecretName\}-\?{6}$", secret["Resource"]["Fn::Sub"])


def test_deploy_doc_covers_the_kit() -> None:
    """docs/deploy-by-hand.md (the README's Deploy section, moved) shows Docker, the
    scripts, CloudFormation, both policies and the test."""
    doc = (REPO / "docs" / "deploy-by-hand.md").read_text()
    for needle in (
        "docker run",
        "./package.sh",
        "./post-to-lambda.sh",
        "aws cloudformation deploy",
        "ec2:ResourceTag/environment",
        "lambda:UpdateFunctionCode",
        '{"dryRun": true}',
    ):
        assert needle in doc, needle


# -- scale: fan-out, member accounts (template.yaml, template-member.yaml) ----------------------


def test_member_template_is_clean_under_cfn_lint(tmp_path: Path) -> None:
    """cfn-lint, informational checks included, finds nothing in template-member.yaml."""
    result = lint("cfn-lint", "--include-checks", "I", "--", "template-member.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "template-member.yaml").read_text().replace("sts:AssumeRole", "x"))
    assert lint("cfn-lint", "--", str(bad)).returncode != 0


@pytest.fixture(scope="module")
def member() -> dict[str, Any]:
    from cfnlint.decode import decode_str

    parsed, matches = decode_str((REPO / "template-member.yaml").read_text())
    assert not matches
    assert parsed is not None
    return dict(parsed)


def test_function_invokes_only_itself_and_assumes_only_the_listed_roles(
    template: dict[str, Any],
) -> None:
    """Fan-out may invoke this function (any qualifier) and nothing else; sts:AssumeRole
    is granted on exactly the AccountRoles ARNs, and only when some are given."""
    found = statements(template)
    invoke = found["InvokeItselfForFanOut"]
    assert invoke["Action"] == "lambda:InvokeFunction"
    targets = [r["Fn::Sub"] for r in invoke["Resource"]]
    assert [t.split(":function:")[1] for t in targets] == ["${FunctionName}", "${FunctionName}:*"]
    assume = found["AssumeMemberRoles"]
    assert assume["Action"] == "sts:AssumeRole"
    assert assume["Resource"] == {"Fn::Split": [",", {"Ref": "AccountRoles"}]}
    policy = next(
        unless(p)
        for p in template["Resources"]["Role"]["Properties"]["Policies"]
        if unless(p)["PolicyName"] == "accounts-and-fan-out"
    )
    conditions = {
        s["Fn::If"][1]["Sid"]: s["Fn::If"][0]
        for s in policy["PolicyDocument"]["Statement"]
        if "Fn::If" in s
    }
    assert conditions == {
        "AssumeMemberRoles": "HasAccountRoles",
        "FindEnabledRegions": "AllRegions",
        "ReadOwnFunctionUrl": "LinksOn",
    }
    assert template["Conditions"]["AllRegions"] == {"Fn::Equals": [{"Ref": "Regions"}, "all"]}


def test_reserved_concurrency_is_a_parameter(template: dict[str, Any]) -> None:
    """0 (the default) reserves none; any other value caps the workers running at once."""
    function = template["Resources"]["Function"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "HasReservedConcurrency",
            {"Ref": "ReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert template["Parameters"]["ReservedConcurrency"]["Default"] == 0
    assert template["Parameters"]["ExternalId"]["NoEcho"] is True


def test_member_role_trusts_only_the_scheduler_role_with_its_session_name(
    member: dict[str, Any],
) -> None:
    """The trusted principal is the scheduler's role, session name powercycle, and the
    ExternalId when one is set."""
    role = member["Resources"]["MemberRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": {"Ref": "SchedulerRoleArn"}}
    assert trust["Action"] == "sts:AssumeRole"
    condition, with_id, without_id = trust["Condition"]["Fn::If"]
    assert condition == "HasExternalId"
    assert with_id == {
        "StringEquals": {
            "sts:RoleSessionName": "powercycle",
            "sts:ExternalId": {"Ref": "ExternalId"},
        }
    }
    assert without_id == {"StringEquals": {"sts:RoleSessionName": "powercycle"}}
    assert member["Parameters"]["ExternalId"]["NoEcho"] is True


def test_member_role_has_the_schedulers_own_policy_for_every_kind(
    template: dict[str, Any], member: dict[str, Any]
) -> None:
    """Statement for statement, the member role may do in its account what the scheduler's
    role may do in its own, under the same kind conditions (no CAST AI secret: the key stays
    with the scheduler), plus listing regions."""
    ours = policies(template)
    entries = member["Resources"]["MemberRole"]["Properties"]["Policies"]
    theirs = {}
    for entry in entries:
        policy = unless(entry)
        theirs[policy["PolicyName"]] = [unless(s) for s in policy["PolicyDocument"]["Statement"]]
    for name in ("ec2-instances", "auto-scaling-groups", "ecs-services"):
        assert theirs[name] == ours[name], name
    assert theirs["eks-clusters"] == [
        s for s in ours["eks-clusters"] if s["Sid"] != "ReadCastAiKey"
    ]
    assert theirs["regions"] == [
        {
            "Sid": "FindEnabledRegions",
            "Effect": "Allow",
            "Action": "ec2:DescribeRegions",
            "Resource": "*",
        }
    ]
    conditional = {unless(p)["PolicyName"]: p["Fn::If"][0] for p in entries if "Fn::If" in p}
    scheduler = {
        unless(p)["PolicyName"]: p["Fn::If"][0]
        for p in template["Resources"]["Role"]["Properties"]["Policies"]
        if "Fn::If" in p
    }
    assert conditional == scheduler
    for name in conditional.values():
        assert member["Conditions"][name] == template["Conditions"][name]
    assert (
        member["Parameters"]["Kinds"]["AllowedPattern"]
        == (template["Parameters"]["Kinds"]["AllowedPattern"])
    )
