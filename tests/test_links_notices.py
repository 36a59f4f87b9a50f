"""Links in the warnings: which notices get them, what they say, the settings, the
chatbot format, and the function URL found by the function itself (`auto`)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from powercycle.aws.sealkey import SealKey
from powercycle.config import Config, ConfigError
from powercycle.core import links
from powercycle.report import links as report_links
from powercycle.report.chatbot import custom_notification
from powercycle.report.notices import Notice
from tests.helpers import KEY_SECRET, REGION, TEST_KEY, at
from tests.links_support import LINK_URL, tokens_in

LONDON = ZoneInfo("Europe/London")
STOP = at("2026-11-23 17:55", "Europe/London")


def notice(**overrides: Any) -> Notice:
    fields: dict[str, Any] = {
        "kind": "ec2",
        "id": "i-0abc",
        "region": REGION,
        "stop": STOP,
        "tz": LONDON,
        "reason": "schedule",
        "snooze_until": STOP + timedelta(hours=3),
        "name": "dev-web",
    }
    return Notice(**(fields | overrides))


class Key(SealKey):
    """A key handed in, as Secrets Manager would give it."""

    def __init__(self, value: bytes | None) -> None:
        super().__init__("powercycle/key", REGION)
        self.value = value

    def get(self) -> bytes:
        self.reads += 1
        if self.value is None:
            from powercycle.aws.sealkey import KeyUnavailable

            raise KeyUnavailable("powercycle's key (secret 'powercycle/key') cannot be read")
        return self.value


def test_each_warning_gets_its_hours_and_a_skip() -> None:
    config = Config(link_url=LINK_URL, link_hours=(1, 3, 12))
    [linked], why = report_links.with_links(config, [notice()], Key(TEST_KEY.encode()))
    assert why is None
    labels = [label for label, _ in linked.links]
    assert labels == [
        "keep it running 1 hour more (until 18:55 GMT)",
        "keep it running 3 hours more (until 20:55 GMT)",
        "keep it running 12 hours more (until 05:55 GMT)",
        "skip this stop (until its next scheduled start)",
    ]
    checked = [links.verify(TEST_KEY.encode(), t, STOP) for t in tokens_in(linked.text())]
    assert [(c.action, c.hours, c.resource, c.stop) for c in checked] == [
        ("extend", 1, "i-0abc", STOP),
        ("extend", 3, "i-0abc", STOP),
        ("extend", 12, "i-0abc", STOP),
        ("skip", 0, "i-0abc", STOP),
    ]
    assert "Keep it running with one click" in linked.text()


def test_no_links_without_the_setting_or_for_a_stop_already_due() -> None:
    key = Key(TEST_KEY.encode())
    [plain], _ = report_links.with_links(Config(), [notice()], key)
    assert plain.links == () and "one click" not in plain.text() and key.reads == 0
    config = Config(link_url=LINK_URL)
    [due], _ = report_links.with_links(config, [notice(due_now=True)], key)
    assert due.links == ()


def test_without_the_key_the_warning_goes_out_without_links() -> None:
    config = Config(link_url=LINK_URL)
    [sent], why = report_links.with_links(config, [notice()], Key(None))
    assert sent.links == ()
    assert why is not None and "without links" in why and "cannot be read" in why


def test_auto_outside_lambda_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    [sent], why = report_links.with_links(Config(link_url="auto"), [notice()], Key(b"k" * 20))
    assert sent.links == () and why is not None and "LinkUrl" in why


def test_auto_finds_the_live_alias_url(moto: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """`auto`: GetFunctionUrlConfig of the LIVE alias, once per warm environment."""
    lam = boto3.client("lambda", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("h.py", "def handler(e, c):\n    return e\n")
    lam.create_function(
        FunctionName="powercycle",
        Runtime="python3.12",
        Role=role,
        Handler="h.handler",
        Code={"ZipFile": code.getvalue()},
    )
    version = lam.publish_version(FunctionName="powercycle")["Version"]
    lam.create_alias(FunctionName="powercycle", Name="LIVE", FunctionVersion=version)
    made = lam.create_function_url_config(
        FunctionName="powercycle", Qualifier="LIVE", AuthType="NONE"
    )["FunctionUrl"]
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "powercycle")
    monkeypatch.setattr(report_links, "_FOUND", {})
    assert report_links.base_url(Config(link_url="auto", regions=(REGION,))) == made.rstrip("/")
    lam.delete_function_url_config(FunctionName="powercycle", Qualifier="LIVE")
    # Kept for the warm environment: no second call.
    assert report_links.base_url(Config(link_url="auto", regions=(REGION,))) == made.rstrip("/")
    monkeypatch.setattr(report_links, "_FOUND", {})
    with pytest.raises(report_links.NoLinkUrl, match="has no function URL"):
        report_links.base_url(Config(link_url="auto", regions=(REGION,)))


def test_chatbot_custom_notification() -> None:
    """The documented event schema, the links as `<address|label>` next steps."""
    config = Config(link_url=LINK_URL, link_hours=(1,))
    [linked], _ = report_links.with_links(config, [notice(format="chatbot")], Key(b"k" * 20))
    message = json.loads(linked.message())
    event = json.loads(message["default"])
    assert (event["version"], event["source"]) == ("1.0", "custom")
    content = event["content"]
    assert content["textType"] == "client-markdown"
    assert "i-0abc (dev-web) stops at 2026-11-23 17:55 GMT" in content["title"]
    assert "Scheduled stop: 2026-11-23 17:55 GMT (Europe/London)" in content["description"]
    one, skip, cli = content["nextSteps"]
    assert one.startswith(f"<{LINK_URL}/link?t=") and one.endswith(
        "|Keep it running 1 hour more (until 18:55 GMT)>"
    )
    assert skip.endswith("|Skip this stop (until its next scheduled start)>")
    assert cli == "Or from a terminal: `powercycle snooze i-0abc --for 3h`"
    assert custom_notification(notice())["content"]["nextSteps"] == [cli]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (None, (1, 3), 12, "text")),
        ({"POWERCYCLE_LINK_URL": "auto"}, ("auto", (1, 3), 12, "text")),
        (
            {"POWERCYCLE_LINK_URL": f"{LINK_URL}/", "POWERCYCLE_LINK_HOURS": "2, 1,8"},
            (LINK_URL, (1, 2, 8), 12, "text"),
        ),
        ({"POWERCYCLE_LINK_MAX_HOURS": "2"}, (None, (1,), 2, "text")),
        ({"POWERCYCLE_NOTICE_FORMAT": "Chatbot"}, (None, (1, 3), 12, "chatbot")),
    ],
)
def test_link_settings(env: dict[str, str], expected: tuple[Any, ...]) -> None:
    config = Config.from_env({"AWS_REGION": REGION, **env})
    assert (config.link_url, config.link_hours, config.link_max_hours, config.notice_format) == (
        expected
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"POWERCYCLE_LINK_URL": "http://x.example"}, "POWERCYCLE_LINK_URL"),
        ({"POWERCYCLE_LINK_URL": f"{LINK_URL}?a=b"}, "POWERCYCLE_LINK_URL"),
        ({"POWERCYCLE_LINK_HOURS": "1,24"}, "from 1 to 12 (POWERCYCLE_LINK_MAX_HOURS)"),
        ({"POWERCYCLE_LINK_HOURS": "1h"}, "POWERCYCLE_LINK_HOURS"),
        ({"POWERCYCLE_LINK_HOURS": "0"}, "POWERCYCLE_LINK_HOURS"),
        ({"POWERCYCLE_LINK_HOURS": "6", "POWERCYCLE_LINK_MAX_HOURS": "4"}, "from 1 to 4"),
        ({"POWERCYCLE_LINK_MAX_HOURS": "0"}, "POWERCYCLE_LINK_MAX_HOURS"),
        ({"POWERCYCLE_NOTICE_FORMAT": "slack"}, "text, chatbot"),
    ],
)
def test_bad_link_settings_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("(", r"\(").replace(")", r"\)")):
        Config.from_env({"AWS_REGION": REGION, **env})


def test_the_key_secret_name_is_the_seal_one() -> None:
    assert Config().key_secret == KEY_SECRET
