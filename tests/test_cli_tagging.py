"""The CLI's `tag`, `untag`, `snooze`, `start` and `stop` on moto: instances by id, EKS
clusters by name or ARN; a table on a (simulated) terminal, JSON piped, exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from freezegun import freeze_time

from powercycle import aws as aws_module
from powercycle.cli import main, output
from powercycle.local.castai_standin import CastAIStandin
from tests.helpers import REGION, SEED, STATE_TAG, TAG, launch, state_of, tags_of

ARN = f"arn:aws:eks:{REGION}:123456789012:cluster/dev"


@pytest.fixture(autouse=True)
def _ec2_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERCYCLE_KINDS", "ec2")


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "stdout_is_terminal", lambda: True)


@pytest.fixture
def eks(moto: None) -> Any:
    client = aws_module.client("eks", REGION)
    client.create_cluster(
        name="dev", roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={}
    )
    return client


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with freeze_time("2026-11-23 12:00:00"):
        code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- tag -------------------------------------------------------------------------------


def test_tag_writes_a_valid_schedule_and_shows_a_table(
    ec2: Any, capsys: pytest.CaptureFixture[str], terminal: None
) -> None:
    (box,) = launch(ec2, {"Name": "dev-web"})
    code, out, _ = cli(capsys, "tag", box, "--schedule", SEED)
    assert code == 0
    assert out.splitlines()[1].split() == [box, "dev-web", "ec2", REGION, "tagged", TAG]
    assert tags_of(ec2, box)[TAG] == SEED


def test_tag_refuses_an_invalid_schedule_and_writes_nothing(
    ec2: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (box,) = launch(ec2)
    for value, needle in (
        ('{"start": "0 8 * * 1-5", "stop": "55 25 * * 1-5"}', "55 25 * * 1-5"),
        ('{"stop": "0 19 * * *", "stop": "0 20 * * *"}', "duplicate key 'stop'"),
        ('{"stop": "0 19 * * *"' + " " * 250 + "}", "at most 256"),
    ):
        code, out, err = cli(capsys, "tag", box, "--schedule", value)
        assert (code, out) == (1, "")
        assert err.startswith("refused, nothing tagged: invalid schedule: ") and needle in err
    assert TAG not in tags_of(ec2, box)


def test_tag_warns_but_tags_a_surprising_schedule(
    ec2: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (box,) = launch(ec2, {"environment": "p"})
    value = '{"start": "0 8 * * 1-5", "stop": "0 8 * * 1-5"}'
    code, out, err = cli(capsys, "tag", box, "--schedule", value)
    assert code == 0
    assert "this stop never stops anything" in err
    assert f"{box} carries environment=p: excluded" in err
    assert json.loads(out) == [
        {
            "resource": box,
            "kind": "ec2",
            "id": box,
            "region": REGION,
            "name": None,
            "result": f"tagged {TAG}",
            "next_pass": {
                "action": None,
                "reason": "excluded:environment=p",
                "next": None,
                "says": "the next pass leaves it alone: excluded:environment=p",
            },
        }
    ]
    assert tags_of(ec2, box)[TAG] == value


def test_tag_an_unknown_instance_exits_1(ec2: Any, capsys: pytest.CaptureFixture[str]) -> None:
    (box,) = launch(ec2)
    code, out, _ = cli(capsys, "tag", box, "i-0123456789abcdef0", "--schedule", SEED)
    assert code == 1
    rows = json.loads(out)
    assert rows[0]["result"] == f"tagged {TAG}"
    assert rows[1]["error"] == f"no EC2 instance i-0123456789abcdef0 in {REGION}"


@pytest.mark.parametrize("ref", ["dev", ARN])
def test_tag_and_untag_an_eks_cluster_by_name_or_arn(
    eks: Any, capsys: pytest.CaptureFixture[str], ref: str
) -> None:
    code, out, _ = cli(capsys, "tag", ref, "--schedule", SEED)
    assert code == 0 and json.loads(out)[0]["id"] == "dev"
    assert eks.describe_cluster(name="dev")["cluster"]["tags"] == {TAG: SEED}
    eks.tag_resource(resourceArn=ARN, tags={STATE_TAG: "stop@2026-11-20T17:55:00Z", "team": "a"})
    code, out, _ = cli(capsys, "untag", ref)
    assert code == 0
    assert json.loads(out)[0]["result"] == f"removed {TAG}, {STATE_TAG}"
    assert eks.describe_cluster(name="dev")["cluster"]["tags"] == {"team": "a"}


def test_an_unknown_cluster_or_a_foreign_arn_is_an_error(
    eks: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "untag", "nope", "arn:aws:s3:::bucket")
    assert code == 1
    errors = [row["error"] for row in json.loads(out)]
    # A name is asked of every kind now (an EC2 Name tag, an Auto Scaling group, a
    # cluster), and the errors say so: same shape, the kinds listed from the registry.
    from powercycle.providers import REGISTRY

    def either(words: list[str]) -> str:
        return f"{', '.join(words[:-1])} or {words[-1]}"

    kinds = list(REGISTRY.values())
    assert kinds[:3] == [REGISTRY["ec2"], REGISTRY["eks"], REGISTRY["asg"]]
    assert errors == [
        f"no {either([k.title for k in kinds])} 'nope' in {REGION}",
        f"not {either([k.refs for k in kinds])}",
    ]
    assert errors[0].startswith("no EC2 instance, EKS cluster, Auto Scaling group")
    assert errors[1].startswith("not an EC2 instance id or Name tag, an EKS cluster name or ARN")


# --- untag and snooze ------------------------------------------------------------------


def test_untag_removes_the_schedule_and_every_powercycle_tag(
    ec2: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (box,) = launch(
        ec2,
        {
            TAG: SEED,
            STATE_TAG: "start@2026-11-23T08:00:00Z",
            "powercycle:skip-until": "2026-11-30T08:00:00Z",
            "Name": "dev",
        },
    )
    code, out, _ = cli(capsys, "untag", box)
    assert code == 0
    assert tags_of(ec2, box) == {"Name": "dev"}
    code, out, _ = cli(capsys, "untag", box)
    assert code == 0 and json.loads(out)[0]["result"] == "nothing to remove"


def test_snooze_for_and_until(ec2: Any, capsys: pytest.CaptureFixture[str]) -> None:
    (box,) = launch(ec2, {TAG: SEED})
    assert cli(capsys, "snooze", box, "--for", "3h")[0] == 0
    assert tags_of(ec2, box)["powercycle:skip-until"] == "2026-11-23T15:00:00Z"
    assert cli(capsys, "snooze", box, "--until", "2026-11-30T08:00+01:00")[0] == 0
    assert tags_of(ec2, box)["powercycle:skip-until"] == "2026-11-30T07:00:00Z"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--until", "2026-11-01T00:00Z"], "is not in the future"),
        (["--for", "3 hours"], "is not a duration like 30m, 3h, 2d or 1w"),
        (["--until", "monday"], "'monday' is not a time"),
    ],
)
def test_snooze_refuses_what_it_cannot_use(
    ec2: Any, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    (box,) = launch(ec2, {TAG: SEED})
    code, out, err = cli(capsys, "snooze", box, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and needle in err
    assert "powercycle:skip-until" not in tags_of(ec2, box)


# --- start and stop --------------------------------------------------------------------


def test_stop_and_start_by_hand_through_the_guards(
    ec2: Any, capsys: pytest.CaptureFixture[str], terminal: None
) -> None:
    (box,) = launch(ec2, {"Name": "dev"})
    (prod,) = launch(ec2, {"Name": "db", "environment": "p"})
    code, out, _ = cli(capsys, "stop", box, prod)
    assert code == 1
    rows = {line.split()[0]: line for line in out.splitlines()[1:-1]}
    assert rows[box].split()[:6] == [box, "dev", "ec2", "stop", "manual", "done"]
    assert "manual stop refused: excluded by environment=p" in rows[prod]
    assert state_of(ec2, box) == "stopped" and state_of(ec2, prod) == "running"
    assert STATE_TAG not in tags_of(ec2, box)  # nothing recorded: the schedule carries on
    code, out, _ = cli(capsys, "start", box)
    assert code == 0 and state_of(ec2, box) == "running"


def test_start_dry_run_and_an_unknown_instance(
    ec2: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (box,) = launch(ec2, state="stopped")
    code, out, _ = cli(capsys, "start", box, "--dry-run")
    summary = json.loads(out)
    assert code == 0 and summary["dryRun"] is True
    assert summary["actions"][0]["result"] == "planned"
    assert state_of(ec2, box) == "stopped"
    code, out, _ = cli(capsys, "start", "i-0123456789abcdef0")
    assert code == 1
    assert "no ec2 resource 'i-0123456789abcdef0'" in json.loads(out)["errors"][0]["error"]


@pytest.fixture
def castai(monkeypatch: pytest.MonkeyPatch) -> Iterator[CastAIStandin]:
    with CastAIStandin(api_key="k") as standin:
        monkeypatch.setenv("POWERCYCLE_KINDS", "ec2,eks")
        monkeypatch.setenv("CASTAI_API_URL", standin.url)
        monkeypatch.setenv("CASTAI_API_KEY", "k")
        yield standin


def test_stop_an_eks_cluster_by_arn_through_castai(
    eks: Any, castai: CastAIStandin, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster_id = castai.add_cluster("dev", region=REGION)
    code, out, _ = cli(capsys, "stop", ARN)
    summary = json.loads(out)
    assert code == 0, summary
    assert summary["actions"] == [
        {
            "id": "dev",
            "kind": "eks",
            "region": REGION,
            "action": "stop",
            "reason": "manual",
            "result": "done",
        }
    ]
    assert castai.status(cluster_id) == "hibernating"
