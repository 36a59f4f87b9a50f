"""`powercycle link RESOURCE --wake --days N`: the bookmark, made by the CLI and opened
through the real handler on moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from freezegun import freeze_time

from powercycle.cli import main
from powercycle.core import links
from powercycle.handler import handler
from tests.helpers import REGION, TAG, TEST_KEY, at, launch, state_of, tags_of
from tests.links_support import LINK_URL, tokens_in, url_event

LONDON_OFFICE = json.dumps({"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "tz": "Europe/London"})
FRIDAY_NIGHT = {"powercycle:state": "stop@2026-11-27T17:55:00Z"}


@pytest.fixture(autouse=True)
def _ec2_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERCYCLE_KINDS", "ec2")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with freeze_time(at("2026-11-27 18:30", "Europe/London")):
        code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_wake_bookmark_starts_the_box_on_saturday(
    ec2: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Made on Friday by Name, valid 2 days; opened Saturday: page, button, started."""
    (box,) = launch(ec2, {TAG: LONDON_OFFICE, "Name": "demo", **FRIDAY_NIGHT}, state="stopped")
    code, out, err = cli(capsys, "link", "demo", "--wake", "--days", "2", "--url", LINK_URL)
    assert code == 0, err
    (token,) = tokens_in(out)
    assert out.strip() == f"{LINK_URL}/link?t={token}"
    assert "valid until 2026-11-29 18:30 UTC" in err
    link = links.verify(TEST_KEY.encode(), token, at("2026-11-28 09:00", "Europe/London"))
    assert (link.action, link.kind, link.resource, link.region) == ("wake", "ec2", box, REGION)

    saturday = at("2026-11-28 09:00", "Europe/London")
    with freeze_time(saturday):
        page = handler(url_event("GET", token=token), None)
    assert page["statusCode"] == 200 and "Start demo now?" in page["body"]
    assert state_of(ec2, box) == "stopped"
    with freeze_time(saturday):
        done = handler(url_event("POST", form={"t": token}), None)
    assert "done: demo is starting" in done["body"]
    assert state_of(ec2, box) in ("pending", "running")
    assert tags_of(ec2, box)["powercycle:state"] == "start@2026-11-28T09:00:00Z"
    with freeze_time(at("2026-11-29 18:31", "Europe/London")):
        late = handler(url_event("GET", token=token), None)
    assert late["statusCode"] == 410 and "expired" in late["body"]


def test_the_address_comes_from_the_stack_output(
    ec2: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    launch(ec2, {TAG: LONDON_OFFICE, "Name": "demo"}, state="stopped")
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"LinkUrl": {"Value": "https://stack.lambda-url.eu-west-1.on.aws/"}},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="pc", TemplateBody=json.dumps(template)
    )
    code, out, err = cli(capsys, "link", "demo", "--wake", "--stack", "pc")
    assert code == 0, err
    assert out.startswith("https://stack.lambda-url.eu-west-1.on.aws/link?t=")
    code, out, err = cli(capsys, "link", "demo", "--wake", "--stack", "nope")
    assert code == 2 and out == "" and "pass --url, set POWERCYCLE_LINK_URL" in err
    monkeypatch.setenv("POWERCYCLE_LINK_URL", LINK_URL)
    code, out, _ = cli(capsys, "link", "demo", "--wake", "--stack", "nope")
    assert code == 0 and out.startswith(f"{LINK_URL}/link?t=")


@pytest.mark.parametrize(
    ("tags", "argv", "code", "needle"),
    [
        ({"Environment": "prod"}, [], 1, "excluded, links never act on it"),
        ({TAG: None}, [], 1, "has no schedule tag ec2Powercycle"),
        ({}, ["--days", "0"], 2, "a wake link lasts 1 to 90 days"),
        ({}, ["--days", "91"], 2, "a wake link lasts 1 to 90 days"),
        ({}, ["--url", "http://plain.example"], 2, "is not an https:// function URL"),
    ],
)
def test_no_link_for_what_a_link_may_not_do(
    ec2: Any,
    capsys: pytest.CaptureFixture[str],
    tags: dict[str, str | None],
    argv: list[str],
    code: int,
    needle: str,
) -> None:
    every = {TAG: LONDON_OFFICE, "Name": "demo"} | tags
    launch(ec2, {k: v for k, v in every.items() if v is not None}, state="stopped")
    argv = argv if "--url" in argv else [*argv, "--url", LINK_URL]
    got, out, err = cli(capsys, "link", "demo", "--wake", *argv)
    assert (got, out) == (code, "")
    assert needle in err
    assert TEST_KEY not in err
