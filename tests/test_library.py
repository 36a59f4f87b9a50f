"""The schedule library (`POWERCYCLE_SCHEDULES`): a tag value that is a name picks its
entry of one document, fetched once per pass by the guarded fetcher (a loopback server,
S3 on moto); missing names, no library, a library that cannot be read; the real handler
on moto; `check NAME`, `check UPTIME` and `plan`."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from freezegun import freeze_time
from pytest_httpserver import HTTPServer

from powercycle import sources
from powercycle.cli import main
from powercycle.config import Config, ConfigError
from powercycle.core.schedule import Schedule
from powercycle.handler import handler
from tests.helpers import REGION, STATE_TAG, TAG, launch, state_of, tags_of
from tests.test_sources import (  # noqa: F401 - the loopback server fixtures, reused
    base,
    gets,
    outside,
    running_server,
    serve_json,
    server,
)

OFFICE = {"start": "0 8 * * 1-5", "stop": "0 18 * * 1-5"}
NIGHTLY = {"start": "0 6 * * *", "stop": "0 22 * * *"}
LIBRARY = {"office-hours": OFFICE, "nightly": NIGHTLY, "london": {**OFFICE, "tz": "Europe/London"}}
MONDAY_EVENING = "2026-11-23 19:00:00"  # UTC: office-hours' 18:00 stop is due


def library_config(root: str, path: str = "lib.json") -> Config:
    return Config(regions=(REGION,), url_allowlist=(root,), schedules=f"{root}{path}")


def resolve(values: list[str], config: Config) -> dict[str, Schedule | str]:
    return sources.resolve_all(values, config)


# --- names through sources -----------------------------------------------------------------


def test_names_pick_their_entries_and_the_library_is_fetched_once(
    server: HTTPServer, base: str  # noqa: F811
) -> None:
    serve_json(server, "/lib.json", LIBRARY)
    values = ["office-hours", "nightly", "  office-hours ", "london", "Mon-Fri 08:00-17:00"]
    resolved = resolve(values, library_config(base))
    assert all(isinstance(r, Schedule) for r in resolved.values()), resolved
    office = resolved["office-hours"]
    assert isinstance(office, Schedule) and office.start == ("0 8 * * 1-5",)
    london = resolved["london"]
    assert isinstance(london, Schedule) and london.tz.key == "Europe/London"
    assert gets(server, "/lib.json") == 1


def test_the_library_shares_a_fetch_with_tags_naming_the_same_document(
    server: HTTPServer, base: str  # noqa: F811
) -> None:
    serve_json(server, "/lib.json", LIBRARY)
    resolved = resolve(["nightly", f"{base}lib.json#nightly"], library_config(base))
    assert resolved["nightly"] == resolved[f"{base}lib.json#nightly"]
    assert gets(server) == 1


def test_no_name_no_fetch(server: HTTPServer, base: str) -> None:  # noqa: F811
    """A pass without a name among its values never reads the library."""
    resolved = resolve(['{"stop": "0 19 * * *"}', "Sat 10:00-12:00"], library_config(base))
    assert all(isinstance(r, Schedule) for r in resolved.values())
    assert gets(server) == 0


def test_the_default_zone_applies_to_library_entries(
    server: HTTPServer, base: str  # noqa: F811
) -> None:
    serve_json(server, "/lib.json", LIBRARY)
    config = Config(
        regions=(REGION,), url_allowlist=(base,), schedules=f"{base}lib.json",
        default_tz="Asia/Tokyo",
    )  # fmt: skip
    office = resolve(["office-hours"], config)["office-hours"]
    assert isinstance(office, Schedule) and office.tz.key == "Asia/Tokyo"


def test_a_missing_name_names_the_library_and_lists_the_names(
    server: HTTPServer, base: str  # noqa: F811
) -> None:
    serve_json(server, "/lib.json", LIBRARY)
    error = resolve(["ofice-hours"], library_config(base))["ofice-hours"]
    assert error == (
        f"schedule library {base}lib.json (POWERCYCLE_SCHEDULES) has no schedule named "
        "'ofice-hours'; available: office-hours, nightly, london"
    )


def test_no_library_configured_names_the_setting_and_the_name() -> None:
    error = resolve(["office-hours"], Config(regions=(REGION,)))["office-hours"]
    assert isinstance(error, str)
    assert error.startswith("schedule name 'office-hours', but no schedule library is configured")
    assert "POWERCYCLE_SCHEDULES" in error


@pytest.mark.parametrize(
    ("respond", "cause"),
    [
        ("404", "HTTP 404 NOT FOUND"),
        ("list", "must map names to schedules"),
        ("bad-entry", "entry 'office-hours': bad schedule: "),
        ("not-json", "not valid JSON"),
    ],
)
def test_a_library_that_cannot_give_the_name(
    server: HTTPServer, base: str, respond: str, cause: str  # noqa: F811
) -> None:
    """Every failure names the library and the name; nothing resolves."""
    request = server.expect_request("/lib.json")
    if respond == "404":
        request.respond_with_data("no", status=404)
    elif respond == "list":
        request.respond_with_json([OFFICE])
    elif respond == "bad-entry":
        request.respond_with_json({"office-hours": {"start": "0 25 * * *"}})
    else:
        request.respond_with_data("{nope", content_type="application/json")
    error = resolve(["office-hours"], library_config(base))["office-hours"]
    assert isinstance(error, str)
    assert error.startswith(f"schedule library {base}lib.json (POWERCYCLE_SCHEDULES)")
    assert cause in error and "'office-hours'" in error


def test_the_library_is_fetched_under_the_allowlist(
    server: HTTPServer, base: str  # noqa: F811
) -> None:
    """The guarded fetcher's rules hold: http:// outside the allowlist is refused."""
    serve_json(server, "/lib.json", LIBRARY)
    config = Config(regions=(REGION,), schedules=f"{base}lib.json")
    error = resolve(["nightly"], config)["nightly"]
    assert isinstance(error, str) and "POWERCYCLE_SCHEDULES" in error and "'nightly'" in error
    assert gets(server) == 0


def test_names_show_as_library_sources() -> None:
    assert sources.describe_source("office-hours") == "library:office-hours"
    assert sources.describe_source(" nightly ") == "library:nightly"
    assert sources.describe_source("Mon-Fri 08:00-17:00") == "inline"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("https://h.example/lib.json", "https://h.example/lib.json"),
        (" s3://bucket/lib.json ", "s3://bucket/lib.json"),
        ("", None),
    ],
)
def test_the_setting(raw: str, stored: str | None) -> None:
    env = {"AWS_REGION": REGION, "POWERCYCLE_SCHEDULES": raw}
    assert Config.from_env(env).schedules == stored


@pytest.mark.parametrize(
    "raw", ["ftp://h.example/lib.json", "h.example/lib.json", "s3://b/lib.json#office"]
)
def test_a_bad_setting_fails_loudly(raw: str) -> None:
    with pytest.raises(ConfigError, match="POWERCYCLE_SCHEDULES"):
        Config.from_env({"AWS_REGION": REGION, "POWERCYCLE_SCHEDULES": raw})


def test_the_setting_is_not_in_the_repr() -> None:
    config = Config(schedules="https://ops:hunter2@h.example/lib.json")
    assert "hunter2" not in repr(config)


# --- the real handler on moto -----------------------------------------------------------------


@pytest.fixture
def fleet(ec2: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Boxes tagged with a library name, a name the library lacks, and an uptime."""
    monkeypatch.setenv("POWERCYCLE_KINDS", "ec2")
    (named,) = launch(ec2, {TAG: "office-hours"})
    (missing,) = launch(ec2, {TAG: "no-such-schedule"})
    (uptime,) = launch(ec2, {TAG: "Mon-Fri 08:00-18:00 Europe/London"})
    return {"named": named, "missing": missing, "uptime": uptime}


def _check_pass(ec2: Any, fleet: dict[str, str], result: dict[str, Any], library: str) -> None:
    acted = {a["id"]: (a["action"], a["result"]) for a in result["actions"]}
    assert acted == {fleet["named"]: ("stop", "done"), fleet["uptime"]: ("stop", "done")}
    assert state_of(ec2, fleet["named"]) == state_of(ec2, fleet["uptime"]) == "stopped"
    assert tags_of(ec2, fleet["named"])[STATE_TAG] == "stop@2026-11-23T18:00:00Z"
    (error,) = result["errors"]
    assert error["id"] == fleet["missing"]
    assert error["error"] == (
        f"{TAG}: schedule library {library} (POWERCYCLE_SCHEDULES) has no schedule named "
        "'no-such-schedule'; available: office-hours, nightly, london"
    )
    # Nothing is done to a resource whose name does not resolve.
    assert state_of(ec2, fleet["missing"]) == "running"
    assert STATE_TAG not in tags_of(ec2, fleet["missing"])


def test_handler_with_a_library_on_s3(
    ec2: Any, fleet: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(
        Bucket="powercycle-lib", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    s3.put_object(Bucket="powercycle-lib", Key="schedules.json", Body=json.dumps(LIBRARY))
    monkeypatch.setenv("POWERCYCLE_SCHEDULES", "s3://powercycle-lib/schedules.json")
    with freeze_time(MONDAY_EVENING):
        result = handler({}, None)
    _check_pass(ec2, fleet, result, "s3://powercycle-lib/schedules.json")


def test_handler_with_a_library_on_a_loopback_url(
    ec2: Any, fleet: dict[str, str], server: HTTPServer, base: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    serve_json(server, "/lib.json", LIBRARY)
    monkeypatch.setenv("POWERCYCLE_URL_ALLOWLIST", base)
    monkeypatch.setenv("POWERCYCLE_SCHEDULES", f"{base}lib.json")
    with freeze_time(MONDAY_EVENING):
        result = handler({}, None)
    _check_pass(ec2, fleet, result, f"{base}lib.json")
    assert gets(server, "/lib.json") == 1


def test_handler_without_a_library_acts_on_nothing_named(
    ec2: Any, fleet: dict[str, str]
) -> None:
    with freeze_time(MONDAY_EVENING):
        result = handler({}, None)
    assert [a["id"] for a in result["actions"]] == [fleet["uptime"]]
    errors = {e["id"]: e["error"] for e in result["errors"]}
    assert set(errors) == {fleet["named"], fleet["missing"]}
    assert "no schedule library is configured" in errors[fleet["named"]]
    assert state_of(ec2, fleet["named"]) == "running"


# --- the CLI: check and plan --------------------------------------------------------------------


def test_check_an_uptime_shows_its_twin_and_transitions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with freeze_time("2026-11-27 12:00:00"):
        code = main(["check", "Mon-Fri 22:00-06:00 Europe/London", "--count", "2"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert out.splitlines()[:5] == [
        "valid schedule, zone Europe/London",
        'JSON twin: {"start": "0 22 * * mon-fri", "stop": "0 6 * * tue-sat", '
        '"tz": "Europe/London"}',
        "latest event: stop  Fri 2026-11-27 06:00 GMT  (2026-11-27T06:00:00Z)",
        "next 2 transitions:",
        "  start Fri 2026-11-27 22:00 GMT  (2026-11-27T22:00:00Z)",
    ]
    assert "  stop  Sat 2026-11-28 06:00 GMT  (2026-11-28T06:00:00Z)" in out


def test_check_an_uptime_on_a_dst_day_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    """Sunday 2026-03-29 in London (clocks forward at 01:00 GMT): transitions keep their
    wall times on both sides of the change."""
    with freeze_time("2026-03-28 12:00:00"):
        code = main(["check", "--json", "--count", "3", "Sat-Sun 09:00-17:00 Europe/London"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["twin"] == {
        "start": "0 9 * * sun,sat",
        "stop": "0 17 * * sun,sat",
        "tz": "Europe/London",
    }
    assert [(t["action"], t["local"], t["utc"]) for t in doc["transitions"]] == [
        ("stop", "2026-03-28T17:00:00+00:00", "2026-03-28T17:00:00Z"),
        ("start", "2026-03-29T09:00:00+01:00", "2026-03-29T08:00:00Z"),
        ("stop", "2026-03-29T17:00:00+01:00", "2026-03-29T16:00:00Z"),
    ]


def test_check_a_bad_uptime(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "Mon-Fri 08:00-12:00, Sat 09:00-10:00"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("invalid schedule: uptime ")
    assert "join ranges with ' + '" in err and "Mon-Fri 08:00-17:55 Europe/London" in err


def test_check_a_name(
    server: HTTPServer, base: str, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    serve_json(server, "/lib.json", LIBRARY)
    monkeypatch.setenv("POWERCYCLE_URL_ALLOWLIST", base)
    monkeypatch.setenv("POWERCYCLE_SCHEDULES", f"{base}lib.json")
    with freeze_time("2026-11-23 12:00:00"):
        assert main(["check", "london"]) == 0
        assert "valid schedule, zone Europe/London" in capsys.readouterr().out
        assert main(["check", "lndn"]) == 1
    err = capsys.readouterr().err
    assert "has no schedule named 'lndn'; available: office-hours, nightly, london" in err


def test_check_a_name_without_a_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "office-hours"]) == 1
    err = capsys.readouterr().err
    assert "'office-hours'" in err and "POWERCYCLE_SCHEDULES" in err


def test_plan_resolves_names(
    ec2: Any, server: HTTPServer, base: str, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    serve_json(server, "/lib.json", LIBRARY)
    monkeypatch.setenv("POWERCYCLE_KINDS", "ec2")
    monkeypatch.setenv("POWERCYCLE_URL_ALLOWLIST", base)
    monkeypatch.setenv("POWERCYCLE_SCHEDULES", f"{base}lib.json")
    (named,) = launch(ec2, {TAG: "london", "Name": "named"})
    (missing,) = launch(ec2, {TAG: "lndn", "Name": "missing"})
    with freeze_time("2026-11-23 12:00:00"):
        code = main(["plan"])
    doc = json.loads(capsys.readouterr().out)
    rows = {r["id"]: r for r in doc["resources"]}
    assert code == 1  # a resource in error
    assert rows[named]["source"] == "library:london"
    assert rows[named]["next"] == {
        "action": "stop",
        "local": "2026-11-23T18:00:00+00:00",
        "utc": "2026-11-23T18:00:00Z",
    }
    assert rows[missing]["source"] == "library:lndn"
    assert "has no schedule named 'lndn'" in rows[missing]["error"]
    assert state_of(ec2, named) == state_of(ec2, missing) == "running"
