"""template.yaml's links: the function URL (auth NONE), both of its permissions, the
output `LinkUrl`, POWERCYCLE_LINK_URL=auto and the role's one read of its own URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from cfnlint.decode import decode_str

    parsed, matches = decode_str((REPO / "template.yaml").read_text())
    assert not matches and parsed is not None
    return dict(parsed)


def test_the_function_url_serves_the_live_alias_with_both_permissions(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    url = resources["LinkFunctionUrl"]
    assert url["Type"] == "AWS::Lambda::Url" and url["Condition"] == "LinksOn"
    assert url["Properties"] == {
        "TargetFunctionArn": {"Ref": "LiveAlias"},
        "AuthType": "NONE",
        "InvokeMode": "BUFFERED",
    }
    # Since October 2025 a function URL needs InvokeFunctionUrl and InvokeFunction, the
    # latter only through the URL.
    assert resources["LinkUrlPermission"]["Properties"] == {
        "Action": "lambda:InvokeFunctionUrl",
        "FunctionName": {"Ref": "LiveAlias"},
        "Principal": "*",
        "FunctionUrlAuthType": "NONE",
    }
    assert resources["LinkInvokePermission"]["Properties"] == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Ref": "LiveAlias"},
        "Principal": "*",
        "InvokedViaFunctionUrl": True,
    }
    for name in ("LinkUrlPermission", "LinkInvokePermission"):
        assert resources[name]["Condition"] == "LinksOn"


def test_links_can_be_turned_off_and_the_url_is_an_output(template: dict[str, Any]) -> None:
    assert template["Parameters"]["Links"]["AllowedValues"] == ["on", "off"]
    assert template["Conditions"]["LinksOn"] == {"Fn::Equals": [{"Ref": "Links"}, "on"]}
    output = template["Outputs"]["LinkUrl"]
    assert output["Condition"] == "LinksOn"
    assert output["Value"] == {"Fn::GetAtt": ["LinkFunctionUrl", "FunctionUrl"]}
    variables = template["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    assert variables["POWERCYCLE_LINK_HOURS"] == {"Ref": "LinkHours"}
    assert template["Parameters"]["LinkHours"]["Default"] == "1,3"
    assert template["Parameters"]["LinkMaxHours"]["Default"] == 12
    assert template["Parameters"]["NoticeFormat"]["AllowedValues"] == ["text", "chatbot"]


def test_the_role_reads_only_its_own_function_url(template: dict[str, Any]) -> None:
    every = template["Resources"]["Role"]["Properties"]["Policies"]
    unless = [p["Fn::If"][1] if "Fn::If" in p else p for p in every]
    policy = next(p for p in unless if p["PolicyName"] == "accounts-and-fan-out")
    [read] = [
        s["Fn::If"][1]
        for s in policy["PolicyDocument"]["Statement"]
        if "Fn::If" in s and s["Fn::If"][1]["Sid"] == "ReadOwnFunctionUrl"
    ]
    assert read["Action"] == "lambda:GetFunctionUrlConfig"
    targets = [r["Fn::Sub"].split(":function:")[1] for r in read["Resource"]]
    assert targets == ["${FunctionName}", "${FunctionName}:*"]
