"""The whole path of a link as a person takes it, through the real handler on moto:
the warning with its links, the page a GET shows (changing nothing), the POST that acts
once, the later stop; skip and wake; every refusal a page."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time

from powercycle.core import links
from powercycle.handler import handler
from tests.helpers import REGION, TAG, TEST_KEY, at, launch, log_lines, state_of, tags_of
from tests.links_support import LINK_URL, PHONE, inbox, make_topic, tokens_in, url_event

pytestmark = pytest.mark.usefixtures("ec2_only")

LONDON_OFFICE = json.dumps({"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "tz": "Europe/London"})
KEY = TEST_KEY.encode()
SKIP_UNTIL = "powercycle:skip-until"
STARTED = {"powercycle:state": "start@2026-11-23T08:00:00Z"}


@pytest.fixture
def topic(moto: None, monkeypatch: pytest.MonkeyPatch) -> str:
    arn, queue = make_topic()
    monkeypatch.setenv("POWERCYCLE_SNS_TOPIC_ARN", arn)
    monkeypatch.setenv("POWERCYCLE_LINK_URL", LINK_URL)
    return queue


def warning_tokens(ec2: Any, queue: str, moment: datetime) -> tuple[str, list[str]]:
    """One pass at `moment`; the single warning's text and the tokens of its links."""
    with freeze_time(moment):  # SQS drops messages older than 4 days: read them then too
        result = handler({}, None)
        got = inbox(queue)
    assert result["errors"] == []
    notices = [m for m in got if "stops at" in m.get("Subject", "")]
    assert len(notices) == 1, got
    text = notices[0]["Message"]
    return text, tokens_in(text)


def call(event: dict[str, Any], moment: datetime) -> dict[str, Any]:
    with freeze_time(moment):
        return handler(event, None)


def everything(ec2: Any) -> Any:
    """What a GET must leave as it was: every instance, its state and its tags."""
    reservations = ec2.describe_instances()["Reservations"]
    return sorted(
        (i["InstanceId"], i["State"]["Name"], sorted((t["Key"], t["Value"]) for t in i["Tags"]))
        for r in reservations
        for i in r["Instances"]
    )


def test_warning_page_button_and_the_later_stop(
    ec2: Any, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    """17:42 warning with 1 h, 3 h and skip links; GET shows the page; POST extends to
    18:55 London; 18:00 leaves it up; the 19:00 pass stops it."""
    (box,) = launch(ec2, {TAG: LONDON_OFFICE, "Name": "dev-web", **STARTED})
    # Production on the same schedule: no warning, so no link (warning_tokens wants one).
    launch(ec2, {TAG: LONDON_OFFICE, "Name": "db", "environment": "prod", **STARTED})
    text, tokens = warning_tokens(ec2, topic, at("2026-11-23 17:42", "Europe/London"))
    assert len(tokens) == 3
    assert "keep it running 1 hour more (until 18:55 GMT)" in text
    assert "keep it running 3 hours more (until 20:55 GMT)" in text
    assert "skip this stop" in text
    one_hour = tokens[0]

    before = everything(ec2)
    page = call(url_event("GET", token=one_hour), at("2026-11-23 17:43", "Europe/London"))
    assert page["statusCode"] == 200
    assert page["headers"]["Content-Type"].startswith("text/html")
    html = page["body"]
    for shown in ("dev-web", "EC2 instance", "Mon 23 Nov 17:55", "Mon 23 Nov 18:55"):
        assert shown in html
    assert "Europe/London" in html and '<form method="post" action="/link">' in html
    assert "<script" not in html and "script-src" not in page["headers"]["Content-Security-Policy"]
    assert everything(ec2) == before  # the GET changed nothing

    with caplog.at_level(logging.INFO, logger="powercycle"):
        done = call(
            url_event("POST", form={"t": one_hour}), at("2026-11-23 17:44", "Europe/London")
        )
    assert done["statusCode"] == 200
    assert "done: dev-web keeps running until Mon 23 Nov 18:55 Europe/London" in done["body"]
    assert tags_of(ec2, box)[SKIP_UNTIL] == "2026-11-23T18:55:00Z"
    [line] = [
        r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "link"
    ]
    assert line | {"message": ""} == {
        "event": "link",
        "action": "extend",
        "hours": 1,
        "kind": "ec2",
        "resource": box,
        "region": REGION,
        "account": "",
        "expires": "2026-11-24T05:55:00Z",
        "until": "2026-11-23T18:55:00Z",
        "result": "done",
        "message": "",
        "sourceIp": "203.0.113.9",
        "userAgent": PHONE,
    }

    with freeze_time(at("2026-11-23 18:00", "Europe/London")):
        handler({}, None)
    assert state_of(ec2, box) == "running"
    with freeze_time(at("2026-11-23 19:00", "Europe/London")):
        handler({}, None)
    assert state_of(ec2, box) == "stopped"


def test_post_acts_once(ec2: Any, topic: str) -> None:
    """The same button twice: the second answer says nothing changed, the tag stays."""
    (box,) = launch(ec2, {TAG: LONDON_OFFICE, "Name": "dev-web", **STARTED})
    _, tokens = warning_tokens(ec2, topic, at("2026-11-23 17:45", "Europe/London"))
    post = url_event("POST", form={"t": tokens[1]}, base64_body=False)
    first = call(post, at("2026-11-23 17:46", "Europe/London"))
    assert "keeps running until Mon 23 Nov 20:55 Europe/London" in first["body"]
    tags = tags_of(ec2, box)
    second = call(post, at("2026-11-23 17:47", "Europe/London"))
    assert second["statusCode"] == 200
    assert "Nothing changed" in second["body"] and "already keeps running" in second["body"]
    assert tags_of(ec2, box) == tags
    # A shorter link after a longer one never shortens the snooze.
    shorter = call(
        url_event("POST", form={"t": tokens[0]}), at("2026-11-23 17:48", "Europe/London")
    )
    assert "Nothing changed" in shorter["body"]
    assert tags_of(ec2, box)[SKIP_UNTIL] == "2026-11-23T20:55:00Z"


def test_skip_runs_until_the_next_scheduled_start(ec2: Any, topic: str) -> None:
    """Friday's skip link: up through the weekend until Monday 08:00 London."""
    (box,) = launch(ec2, {TAG: LONDON_OFFICE, "Name": "dev-web", **STARTED})
    _, tokens = warning_tokens(ec2, topic, at("2026-11-27 17:41", "Europe/London"))
    page = call(url_event("GET", token=tokens[-1]), at("2026-11-27 17:45", "Europe/London"))
    assert "Skip this stop of dev-web?" in page["body"] and "Mon 30 Nov 08:00" in page["body"]
    done = call(url_event("POST", form={"t": tokens[-1]}), at("2026-11-27 17:50", "Europe/London"))
    assert "keeps running until Mon 30 Nov 08:00 Europe/London" in done["body"]
    assert tags_of(ec2, box)[SKIP_UNTIL] == "2026-11-30T08:00:00Z"
    with freeze_time(at("2026-11-28 12:00", "Europe/London")):
        handler({}, None)
    assert state_of(ec2, box) == "running"


def test_wake_starts_and_records_a_start(ec2: Any, moto: None) -> None:
    """Saturday: a wake link starts the stopped box; the next passes leave it up until
    Monday's stop, which stops it."""
    (box,) = launch(
        ec2,
        {TAG: LONDON_OFFICE, "Name": "demo", "powercycle:state": "stop@2026-11-27T17:55:00Z"},
        state="stopped",
    )
    saturday = at("2026-11-28 09:30", "Europe/London")
    link = links.wake(account="", region=REGION, kind="ec2", resource=box, now=saturday, days=3)
    token = links.sign(KEY, link)
    page = call(url_event("GET", token=token), saturday)
    assert "Start demo now?" in page["body"] and "Mon 30 Nov 17:55" in page["body"]
    assert state_of(ec2, box) == "stopped"
    done = call(url_event("POST", form={"t": token}), saturday)
    assert "done: demo is starting; it runs until its next stop, Mon 30 Nov 17:55" in done["body"]
    assert state_of(ec2, box) in ("pending", "running")
    assert tags_of(ec2, box)["powercycle:state"] == "start@2026-11-28T09:30:00Z"
    with freeze_time(at("2026-11-28 10:00", "Europe/London")):
        handler({}, None)
    assert state_of(ec2, box) == "running"
    again = call(url_event("POST", form={"t": token}), at("2026-11-28 10:05", "Europe/London"))
    assert "Nothing changed" in again["body"] and "not stopped" in again["body"]
    with freeze_time(at("2026-11-30 18:00", "Europe/London")):
        handler({}, None)
    assert state_of(ec2, box) == "stopped"


def signed(box: str, *, key: bytes = KEY, stop: datetime | None = None, hours: int = 1) -> str:
    stop = stop or at("2026-11-23 17:55", "Europe/London")
    link = links.extend(account="", region=REGION, kind="ec2", resource=box, stop=stop, hours=hours)
    return links.sign(key, link)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_refusals_are_pages_and_change_nothing(ec2: Any, moto: None, method: str) -> None:
    """Tampered, other key, expired, production, unknown: 403/410 pages; nothing written."""
    (box,) = launch(ec2, {TAG: LONDON_OFFICE, "Name": "dev-web", **STARTED})
    (prod,) = launch(ec2, {TAG: LONDON_OFFICE, "Environment": "Production", **STARTED})
    good = signed(box)
    body, mac = good.split(".")
    fields = links._unb32(body).decode().split("\n")
    fields[3] = prod
    tampered = links._b32("\n".join(fields).encode()) + "." + mac
    cases = {
        tampered: (403, "This link is not valid"),
        signed(box, key=b"another-key-of-another-stack"): (403, "This link is not valid"),
        signed(box, stop=at("2026-11-22 17:55", "Europe/London")): (410, "has expired"),
        signed(prod): (403, "excluded"),
        signed("i-0123456789abcdef0"): (403, "Unknown resource"),
        signed(box, hours=13): (403, "more than this scheduler allows"),
        "": (403, "not a powercycle link"),
    }
    before = everything(ec2)
    moment = at("2026-11-23 17:45", "Europe/London")
    for token, (status, words) in cases.items():
        event = (
            url_event("GET", token=token)
            if method == "GET"
            else url_event("POST", form={"t": token})
        )
        answer = call(event, moment)
        assert (answer["statusCode"], words in answer["body"]) == (status, True), token
        assert answer["body"].startswith("<!doctype html>")
    assert everything(ec2) == before


def test_a_mail_scanner_that_follows_every_link_changes_nothing(ec2: Any, topic: str) -> None:
    """Every link of the warning fetched (twice, as scanners do) by GET: nothing changes."""
    launch(ec2, {TAG: LONDON_OFFICE, "Name": "dev-web", **STARTED})
    _, tokens = warning_tokens(ec2, topic, at("2026-11-23 17:42", "Europe/London"))
    before = everything(ec2)
    scanner = "Mozilla/5.0 (compatible; SafeLinks-Scanner)"
    for token in tokens * 2:
        page = call(
            url_event("GET", token=token, user_agent=scanner),
            at("2026-11-23 17:42:30", "Europe/London"),
        )
        assert page["statusCode"] == 200
    assert everything(ec2) == before


def test_an_unknown_page_is_a_404_page(moto: None) -> None:
    """A browser (`Accept: text/html`) gets a page; anything else a JSON error."""
    moment = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    browser = url_event("GET", path="/admin")
    browser["headers"]["accept"] = "text/html,application/xhtml+xml"
    answer = call(browser, moment)
    assert answer["statusCode"] == 404 and "<h1>Not found</h1>" in answer["body"]
    assert "no page at GET /admin" in answer["body"]
    answer = call(url_event("GET", path="/admin"), moment)
    assert answer["statusCode"] == 404
    assert json.loads(answer["body"]) == {"error": "no page at GET /admin"}


def test_the_key_is_never_in_a_page_or_a_log(
    ec2: Any, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    (box,) = launch(ec2, {TAG: LONDON_OFFICE, "Name": "dev-web", **STARTED})
    with caplog.at_level(logging.DEBUG):
        text, tokens = warning_tokens(ec2, topic, at("2026-11-23 17:42", "Europe/London"))
        moment = at("2026-11-23 17:43", "Europe/London")
        bodies = [call(url_event("GET", token=t), moment)["body"] for t in tokens]
        bodies.append(call(url_event("POST", form={"t": tokens[0]}), moment)["body"])
        bodies.append(
            call(url_event("POST", form={"t": signed(box, key=b"x" * 20)}), moment)["body"]
        )
    everything_said = "\n".join([text, *bodies, *(r.getMessage() for r in caplog.records)])
    assert TEST_KEY not in everything_said
    assert log_lines(caplog.records)  # the pass did log its lines
    assert timedelta(0) < links.STOP_GRACE


def test_only_a_function_url_request_is_served_as_a_page(moto: None) -> None:
    """`requestContext.http` makes a page; a payload with another requestContext is a
    payload, refused for its unknown key as before."""
    from powercycle.handler import EventError

    with pytest.raises(EventError):
        handler({"requestContext": "http"}, None)
