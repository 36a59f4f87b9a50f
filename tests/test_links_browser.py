"""The link page in a real browser (Debian's `chromium --headless`): it renders on a
phone's screen without script, and its button submits: the resource is kept running.

A loopback HTTP server stands in for the function URL: it turns each request into the
payload-format-2.0 event Lambda would deliver and answers with the real handler's
response (moto in-process behind it). `.ci/run` installs chromium; without it the test is
skipped, unless POWERCYCLE_BROWSER_TEST=1 asks for it (then it fails).
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from powercycle.core import links
from powercycle.handler import handler
from tests.browser import CHROMIUM, Chromium
from tests.helpers import REGION, TAG, TEST_KEY, launch, tags_of
from tests.links_support import url_event

pytestmark = [
    pytest.mark.usefixtures("ec2_only"),
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None and os.environ.get("POWERCYCLE_BROWSER_TEST") != "1",
        reason="chromium is not installed (.ci/run installs it)",
    ),
]

OFFICE = json.dumps({"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5", "tz": "Europe/London"})
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True}


class FunctionUrl(BaseHTTPRequestHandler):
    """HTTP in, a function URL event to the real handler, its response out."""

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(size).decode() if size else None
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        event = url_event(
            self.command,
            token=query.get("t"),
            path=parts.path,
            user_agent=self.headers.get("User-Agent", ""),
            source_ip=self.client_address[0],
        )
        if body is not None:
            event["body"] = base64.b64encode(body.encode()).decode()
            event["isBase64Encoded"] = True
            event["headers"]["content-type"] = self.headers.get("Content-Type", "")
        answer = handler(event, None)
        self.send_response(answer["statusCode"])
        for key, value in answer.get("headers", {}).items():
            self.send_header(key, value)
        data = str(answer.get("body", "")).encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _serve
    do_POST = _serve

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def site(moto: None) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FunctionUrl)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chromium]:
    chromium = Chromium(tmp_path / "profile")
    try:
        yield chromium
    finally:
        chromium.close()


def test_the_page_renders_on_a_phone_and_its_button_keeps_the_box_running(
    ec2: Any, site: str, browser: Chromium
) -> None:
    (box,) = launch(
        ec2, {TAG: OFFICE, "Name": "dev-web", "powercycle:state": "start@2026-11-23T08:00:00Z"}
    )
    stop = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=10)
    link = links.extend(account="", region=REGION, kind="ec2", resource=box, stop=stop, hours=1)
    url = links.url(site, links.sign(TEST_KEY.encode(), link))

    tab = browser.tab()
    try:
        tab.call("Page.enable")
        tab.call("Emulation.setDeviceMetricsOverride", **PHONE)
        tab.open(url)
        text = tab.evaluate("document.body.innerText")
        assert "Keep dev-web running 1 hour more?" in text
        assert "EC2 instance" in text and "Europe/London" in text
        until = (stop + timedelta(hours=1)).astimezone(ZoneInfo("Europe/London")).strftime("%H:%M")
        assert "Keep it running until" in text and until in text
        # Readable on a phone: nothing wider than the screen, a button a thumb can hit.
        assert tab.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert tab.evaluate("document.querySelector('button').offsetHeight") >= 44
        assert tab.evaluate("document.scripts.length") == 0
        assert "powercycle:skip-until" not in tags_of(ec2, box)  # opening changed nothing

        tab.click("button")
        done = tab.evaluate("document.body.innerText")
        assert "done: dev-web keeps running until" in done and until in done
        assert tab.evaluate("location.pathname") == "/link"
    finally:
        tab.close()
    expected = (stop + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert tags_of(ec2, box)["powercycle:skip-until"] == expected
