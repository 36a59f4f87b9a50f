"""Schedule sources: inline JSON, URLs and S3 objects, fetched once per run and safely.

HTTP is served by a real threaded server on 127.0.0.1 (pytest-httpserver), allowlisted in
the test config; S3 and EC2 are moto's in-process `mock_aws`. A guard on `socket.connect`
makes sure no test reaches anything but loopback: a connection elsewhere is recorded and
refused before it leaves the machine.
"""

from __future__ import annotations

import gzip
import json
import logging
import socket
import threading
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from freezegun import freeze_time
from moto import mock_aws
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from powercycle import aws, cli, engine, sources
from powercycle.config import Config
from powercycle.core.schedule import Schedule
from powercycle.runtime import logs
from powercycle.runtime.budget import monotonic
from powercycle.sources import http

REGION = "us-east-1"
OFFICE = {"start": "0 8 * * 1-5", "stop": "0 18 * * 1-5"}
NIGHTLY = {"start": "0 6 * * *", "stop": "0 22 * * *"}
# Monday 2026-11-23 19:00 UTC: the latest event of OFFICE (zone UTC) is the 18:00 stop.
MONDAY_EVENING = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
# Generous: nothing that uses these is meant to time out, so a loaded machine cannot make
# them flake. Tests whose point is a timeout set their own short limits.
LIMITS = http.Limits(read_timeout=10.0, total_timeout=20.0)


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def running_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def server(running_server: HTTPServer) -> Iterator[HTTPServer]:
    running_server.clear()
    yield running_server
    running_server.clear()


@pytest.fixture
def base(server: HTTPServer) -> str:
    return f"http://127.0.0.1:{server.port}/"


@pytest.fixture
def config(base: str) -> Config:
    """The loopback server is trusted by allowlist, as an operator would list their host."""
    return Config(regions=(REGION,), url_allowlist=(base,))


@pytest.fixture(autouse=True)
def outside(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Connections attempted to anything but loopback (refused, never made)."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if self.family == socket.AF_UNIX or host in ("127.0.0.1", "::1", "localhost"):
            return real_connect(self, address)
        attempts.append(address)
        raise ConnectionRefusedError(111, "Connection refused (test guard)")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


def serve_json(server: HTTPServer, path: str, document: object) -> None:
    server.expect_request(path, method="GET").respond_with_json(document)


def gets(server: HTTPServer, path: str | None = None) -> int:
    return sum(1 for request, _ in server.log if path is None or request.path == path)


def resolve_one(value: str, config: Config, limits: http.Limits = LIMITS) -> Schedule | str:
    return sources.resolve_all([value], config, limits=limits)[value]


def error_of(value: str, config: Config, limits: http.Limits = LIMITS) -> str:
    result = resolve_one(value, config, limits)
    assert isinstance(result, str), f"expected an error, got {result}"
    return result


def launch(count: int, tag_value: str, name: str = "box") -> list[str]:
    ec2 = boto3.client("ec2", region_name=REGION)
    reservation = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=count,
        MaxCount=count,
        InstanceType="t3.micro",
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "ec2Powercycle", "Value": tag_value},
                    {"Key": "Name", "Value": name},
                ],
            }
        ],
    )
    return [i["InstanceId"] for i in reservation["Instances"]]


def states(ids: list[str]) -> set[str]:
    ec2 = boto3.client("ec2", region_name=REGION)
    found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return {i["State"]["Name"] for r in found for i in r["Instances"]}


# --- telling the forms apart ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "fetch_key", "name"),
    [
        ("https://h.example/s.json", "url", "https://h.example/s.json", None),
        (" https://h.example/s.json#office \n", "url", "https://h.example/s.json", "office"),
        ("HTTPS://H.example/s.json?v=2#late%20shift", "url", "https://H.example/s.json?v=2",
         "late shift"),
        ("http://127.0.0.1:8080/s.json", "url", "http://127.0.0.1:8080/s.json", None),
        ("s3://my-bucket/dir/s.json", "s3", "s3://my-bucket/dir/s.json", None),
        ("s3://my-bucket/s.json#nightly", "s3", "s3://my-bucket/s.json", "nightly"),
    ],
)
def test_locations_are_recognised_by_parsing(
    value: str, kind: str, fetch_key: str, name: str | None
) -> None:
    """URLs and S3 locations parse into what is fetched and which entry is chosen."""
    location = sources.locate(value)
    assert location is not None
    assert (location.kind, location.fetch_key, location.name) == (kind, fetch_key, name)


@pytest.mark.parametrize(
    "value",
    [
        '{ "start": "0 8 * * 1-5", "stop": "55 17 * * 1-5" }',
        '{"start": "0 8 * * *", "tz": "https://not-a-url-here"}',
        '  {"stop": "0 18 * * *"}  ',
        "see https://h.example/x.json",
    ],
)
def test_everything_else_is_inline(value: str) -> None:
    """A value is a URL because it parses as one, not because it contains "https"."""
    assert sources.locate(value) is None
    assert sources.describe_source(value) == "inline"


def test_inline_json_resolves_without_fetching(server: HTTPServer, config: Config) -> None:
    """Inline JSON is parsed as before and makes no request."""
    result = resolve_one('{ "start": "0 8 * * 1-5", "stop": "55 17 * * 1-5" }', config)
    assert isinstance(result, Schedule)
    assert result.start == ("0 8 * * 1-5",)
    assert gets(server) == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("example.com/schedules/dev.json", "not JSON and not an https:// or s3:// location"),
        ("office hours please", "uptime 'office hours please': 'office' is not a day"),
        ("office/hours", "an uptime like Mon-Fri 08:00-17:55 Europe/London or a schedule name"),
        ("ftp://h.example/s.json", "unsupported location ftp://h.example/s.json"),
        ("https:///s.json", "URL without a host"),
        ("s3://bucket-only", "S3 location needs a bucket and a key"),
        ('{"start": "0 8 * * 1-5", ', "not valid JSON"),
    ],
)
def test_values_that_are_neither_get_a_clear_error(
    value: str, expected: str, config: Config
) -> None:
    """A value that is not JSON and not a location says so."""
    assert expected in error_of(value, config)


def test_describe_source_hides_credentials_and_signatures() -> None:
    """userinfo and query values never reach the log's source field."""
    value = "https://ops:hunter2@h.example/s.json?X-Amz-Credential=AKIA123&X-Amz-Signature=deadbeef#office"
    shown = sources.describe_source(value)
    assert shown == "https://***@h.example/s.json?X-Amz-Credential=***&X-Amz-Signature=***#office"
    assert sources.describe_source("https://h.example/s.json?s3cr3t") == "https://h.example/s.json?***"
    assert sources.describe_source("s3://b/k.json#n") == "s3://b/k.json#n"


# --- fetching once, in parallel ---------------------------------------------------------


def test_50_instances_sharing_one_url_make_one_get(
    aws_env: None, server: HTTPServer, base: str, config: Config
) -> None:
    """A pass over 50 instances whose tags point at one document fetches it once."""
    serve_json(server, "/shared.json", {"office-hours": OFFICE, "nightly": NIGHTLY})
    launch(25, f"{base}shared.json#office-hours")
    launch(20, f"{base}shared.json#nightly")
    launch(5, f"  {base}shared.json#office-hours  ")  # same source, written differently

    summary = engine.run_pass(
        Config(regions=(REGION,), url_allowlist=config.url_allowlist, dry_run=True),
        MONDAY_EVENING,
    ).to_dict()

    assert gets(server, "/shared.json") == 1
    assert summary["scanned"] == 50
    assert summary["errors"] == []
    # office-hours: stop at 18:00 is due (30); nightly: 22:00 stop not yet, 06:00 start
    # already satisfied by running instances (20).
    assert summary["counts"] == {"none": 20, "planned": 30}


def test_ten_urls_are_fetched_in_parallel() -> None:
    """All ten requests are in flight at the server at once (none waits for another)."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        barrier = threading.Barrier(10, timeout=5)
        lock = threading.Lock()
        in_flight = [0, 0]  # current, most seen

        def slow(request: Request) -> Response:
            with lock:
                in_flight[0] += 1
                in_flight[1] = max(in_flight[1], in_flight[0])
            try:
                barrier.wait()  # breaks (500) unless all ten arrive together
                return Response(json.dumps(OFFICE), content_type="application/json")
            except threading.BrokenBarrierError:
                return Response("not concurrent", status=500)
            finally:
                with lock:
                    in_flight[0] -= 1

        server.expect_request("/slow", query_string=None).respond_with_handler(slow)
        prefix = f"http://127.0.0.1:{server.port}/"
        values = [f"{prefix}slow?n={n}" for n in range(10)]
        limits = http.Limits(read_timeout=10, total_timeout=20)

        resolved = sources.resolve_all(values, Config(url_allowlist=(prefix,)), limits=limits)

        assert all(isinstance(r, Schedule) for r in resolved.values()), resolved
        assert in_flight[1] == 10
        assert len(server.log) == 10
    finally:
        server.stop()


def test_named_entries_share_one_fetch(server: HTTPServer, base: str, config: Config) -> None:
    """`#name` picks an entry; names (percent-decoded) of one document cost one GET."""
    serve_json(
        server,
        "/teams.json",
        {"office-hours": OFFICE, "nightly": NIGHTLY, "late shift": {"stop": "0 23 * * *"}},
    )
    values = [f"{base}teams.json#office-hours", f"{base}teams.json#nightly",
              f"{base}teams.json#late%20shift"]

    resolved = sources.resolve_all(values, config, limits=LIMITS)

    office, nightly, late = (resolved[v] for v in values)
    assert isinstance(office, Schedule) and office.stop == ("0 18 * * 1-5",)
    assert isinstance(nightly, Schedule) and nightly.start == ("0 6 * * *",)
    assert isinstance(late, Schedule) and late.start == () and late.stop == ("0 23 * * *",)
    assert gets(server) == 1


def test_document_of_names_without_a_name_asks_for_one(
    server: HTTPServer, base: str, config: Config
) -> None:
    """A named-entries document used without `#name` says how to pick one."""
    serve_json(server, "/teams.json", {"office-hours": OFFICE, "nightly": NIGHTLY})
    error = error_of(f"{base}teams.json", config)
    assert "maps names to schedules (office-hours, nightly); add #name" in error


def test_invalid_schedule_in_a_document_names_the_source(
    server: HTTPServer, base: str, config: Config
) -> None:
    """Validation errors of fetched schedules name the source and the bad key."""
    serve_json(server, "/bad.json", {"start": "0 8 * * 1-5", "stopp": "0 18 * * *"})
    error = error_of(f"{base}bad.json", config)
    assert error.startswith(f"{base}bad.json: bad schedule: unknown key 'stopp'")


def test_default_zone_applies_to_fetched_schedules(server: HTTPServer, base: str) -> None:
    """A fetched schedule without `tz` is read in POWERCYCLE_DEFAULT_TZ."""
    serve_json(server, "/office.json", OFFICE)
    config = Config(url_allowlist=(base,), default_tz="Europe/London")
    result = resolve_one(f"{base}office.json", config)
    assert isinstance(result, Schedule) and result.tz.key == "Europe/London"


# --- each failure, one at a time --------------------------------------------------------


def _respond(status: int = 200, body: bytes | str = b"", content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> Callable[[Request], Response]:
    def handler(_: Request) -> Response:
        return Response(body, status=status, content_type=content_type, headers=headers)

    return handler


def _lying_length(_: Request) -> Response:
    return Response(iter([b" " * 100]), content_type="application/json",
                    headers={"Content-Length": "999999"})


def _dripping(_: Request) -> Response:
    def drip() -> Iterator[bytes]:
        yield b"{"
        for _ in range(40):
            threading.Event().wait(0.1)
            yield b" "

    return Response(drip(), content_type="application/json")


@pytest.mark.parametrize(
    ("handler", "cause"),
    [
        (_respond(404, "nope"), "HTTP 404 NOT FOUND"),
        (_respond(500, "boom"), "HTTP 500 INTERNAL SERVER ERROR"),
        (_respond(503, "later"), "HTTP 503 SERVICE UNAVAILABLE"),
        (_respond(200, "start: 0 8 * * *", "text/plain"),
         "not valid JSON (Expecting value at line 1 column 1)"),
        (_respond(200, "<html>login</html>", "text/html"), "not JSON: Content-Type is text/html"),
        (_respond(200, b"\xff\xfe\xfa", "application/json"), "not valid JSON (not UTF-8 text)"),
        (_respond(200, b"[" * 100_000, "application/json"),
         "nested too deeply: more than 10 levels"),
        (_respond(200, b" " * (300 * 1024)), "too big: 307200 bytes declared, the limit is 262144"),
        (_lying_length, "too big: 999999 bytes declared"),
        (_dripping, "timed out after 1s"),
    ],
    ids=["404", "500", "503", "not-json", "html", "not-utf8", "too-deep", "too-big-declared",
         "lying-length", "drip"],
)
def test_each_failure_is_an_error_naming_source_and_cause(
    server: HTTPServer, base: str, config: Config, handler: Callable[[Request], Response],
    cause: str,
) -> None:
    """Every fetch failure resolves to an error naming the source and the cause."""
    server.expect_request("/s.json").respond_with_handler(handler)
    # A short deadline only where the point is the deadline.
    limits = http.Limits(total_timeout=1.0) if "timed out" in cause else LIMITS

    error = error_of(f"{base}s.json#office", config, limits)

    assert error.startswith(f"{base}s.json#office: ")
    assert cause in error


def test_body_over_the_limit_without_length_is_cut_off(
    server: HTTPServer, base: str, config: Config
) -> None:
    """A streamed body (no Content-Length) is abandoned as soon as it passes 256 KB."""
    sent = [0]

    def endless(_: Request) -> Response:
        def chunks() -> Iterator[bytes]:
            for _ in range(1000):  # 16 MB if nobody stops reading
                sent[0] += 1
                yield b" " * 16384

        return Response(chunks(), content_type="application/json")

    server.expect_request("/big.json").respond_with_handler(endless)

    error = error_of(f"{base}big.json", config)

    assert error == f"{base}big.json: too big: more than 262144 bytes"
    assert sent[0] < 1000


def test_slow_server_times_out(server: HTTPServer, base: str, config: Config) -> None:
    """No answer within the read timeout is an error, not a hung run."""
    release = threading.Event()

    def hang(_: Request) -> Response:
        release.wait(30)
        return Response(json.dumps(OFFICE), content_type="application/json")

    server.expect_request("/slow.json").respond_with_handler(hang)
    limits = http.Limits(read_timeout=0.5, total_timeout=20.0)
    started = monotonic()
    try:
        error = error_of(f"{base}slow.json", config, limits)
    finally:
        release.set()
    assert error == f"{base}slow.json: timed out: no answer within 0.5s"
    assert monotonic() - started < 10  # 0.5 s expected; the bound only says "not the 20 s"


def test_missing_name_lists_available_names(server: HTTPServer, base: str, config: Config) -> None:
    """A missing `#name` names the source, the name, and (some of) the names there are."""
    serve_json(server, "/many.json", {f"team-{n:02}": OFFICE for n in range(25)})
    error = error_of(f"{base}many.json#team-99", config)
    assert error.startswith(f"{base}many.json#team-99: no entry 'team-99' in the document; ")
    assert "available: team-00, team-01," in error
    assert "team-09 (and 15 more)" in error
    assert "team-10" not in error


def test_name_on_a_document_that_is_not_a_mapping(
    server: HTTPServer, base: str, config: Config
) -> None:
    """`#name` on a list document is an error saying what the document is."""
    serve_json(server, "/list.json", [OFFICE])
    assert "needs a document that maps names to schedules, got a JSON list" in error_of(
        f"{base}list.json#office", config
    )


def test_connection_refused(config: Config) -> None:
    """Nobody listening: a connection error naming the source."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/s.json"
    error = error_of(url, Config(url_allowlist=(f"http://127.0.0.1:{port}/",)))
    assert error == f"{url}: connection failed: Connection refused"


def test_errors_never_show_credentials_or_signatures(
    server: HTTPServer, base: str, config: Config
) -> None:
    """A failing URL's userinfo and query values are redacted in the error."""
    server.expect_request("/private.json").respond_with_data("gone", status=404)
    value = (
        f"http://ops:hunter2@127.0.0.1:{server.port}/private.json"
        "?X-Amz-Signature=deadbeef&token=s3cr3t#office"
    )
    error = error_of(value, config)
    assert error == (
        f"http://***@127.0.0.1:{server.port}/private.json"
        "?X-Amz-Signature=***&token=***#office: HTTP 404 NOT FOUND"
    )
    request = server.log[0][0]
    assert request.authorization is not None and request.authorization.password == "hunter2"


# --- safety ---------------------------------------------------------------------------


def test_http_without_allowlist_is_refused(server: HTTPServer, outside: list[Any]) -> None:
    """Plain http is refused unless allowlisted, before any request."""
    serve_json(server, "/s.json", OFFICE)
    url = f"http://127.0.0.1:{server.port}/s.json"
    error = error_of(url, Config())
    assert error == (
        f"{url}: refused: only https:// URLs are fetched "
        "(http:// only under a POWERCYCLE_URL_ALLOWLIST prefix)"
    )
    assert gets(server) == 0


def test_allowlist_limits_what_is_fetched_at_all(server: HTTPServer, base: str) -> None:
    """With an allowlist, a URL outside its prefixes is refused, https or not."""
    config = Config(url_allowlist=(f"{base}schedules/",))
    serve_json(server, "/schedules/ok.json", OFFICE)
    assert isinstance(resolve_one(f"{base}schedules/ok.json", config), Schedule)
    for url in (f"{base}other.json", f"{base}schedules/../other.json", "https://h.example/s.json"):
        error = error_of(url, config)
        assert error.endswith("refused: not under any POWERCYCLE_URL_ALLOWLIST prefix")
    assert gets(server) == 1


def test_metadata_address_is_refused_before_connecting(
    server: HTTPServer, outside: list[Any]
) -> None:
    """169.254.169.254 is refused without a connection, with or without an allowlist."""
    url = "https://169.254.169.254/latest/meta-data/iam/security-credentials/"
    assert error_of(url, Config()) == (
        f"{url}: refused: 169.254.169.254 is a link-local address; such hosts are "
        "fetched only under a POWERCYCLE_URL_ALLOWLIST prefix"
    )
    assert error_of("http://169.254.169.254/latest/", Config()).endswith(
        "refused: only https:// URLs are fetched "
        "(http:// only under a POWERCYCLE_URL_ALLOWLIST prefix)"
    )
    allowlisted = Config(url_allowlist=(f"http://127.0.0.1:{server.port}/",))
    assert error_of(url, allowlisted).endswith("not under any POWERCYCLE_URL_ALLOWLIST prefix")
    assert outside == []


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost/s.json",
        "https://localhost./s.json",
        "https://127.1/s.json",
        "https://0x7f000001/s.json",
        "https://2130706433/s.json",
        "https://[::1]/s.json",
        "https://[::ffff:127.0.0.1]/s.json",
    ],
)
def test_other_spellings_of_loopback_are_refused(url: str, outside: list[Any]) -> None:
    """The check is on the resolved address, so no spelling of loopback slips through."""
    assert "is a loopback address" in error_of(url, Config())
    assert outside == []


def test_host_resolving_to_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, outside: list[Any]
) -> None:
    """A public-looking name that resolves to a private address is refused unconnected."""
    fake_dns(monkeypatch, {"internal.example": ["10.0.0.5"]})
    error = error_of("https://internal.example/s.json", Config())
    assert error == (
        "https://internal.example/s.json: refused: internal.example resolves to 10.0.0.5, "
        "which is a private address; such hosts are fetched only under a "
        "POWERCYCLE_URL_ALLOWLIST prefix"
    )
    assert outside == []


def test_dns_rebinding_cannot_swap_the_address(
    monkeypatch: pytest.MonkeyPatch, outside: list[Any]
) -> None:
    """The name is resolved once; the connection goes to the address that was checked."""
    lookups = fake_dns(monkeypatch, {"rebind.example": ["93.184.216.34", "127.0.0.1"]})

    error = error_of("https://rebind.example/s.json", Config())

    # First answer public, any later answer loopback: a second lookup at connect time
    # would reach 127.0.0.1. There is none: one lookup, one attempt, at the checked address.
    assert lookups == ["rebind.example"]
    assert outside == [("93.184.216.34", 443)]
    assert error == (
        "https://rebind.example/s.json: connection failed: Connection refused (test guard)"
    )


def test_redirects_are_followed_within_the_rules(
    server: HTTPServer, base: str, config: Config
) -> None:
    """A redirect to an allowed URL is followed (relative Location included)."""
    server.expect_request("/old.json").respond_with_data(
        "", status=301, headers={"Location": "/new.json"}
    )
    serve_json(server, "/new.json", {"office": OFFICE})
    assert isinstance(resolve_one(f"{base}old.json#office", config), Schedule)
    assert [r.path for r, _ in server.log] == ["/old.json", "/new.json"]


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:1/elsewhere.json",
        "http://10.0.0.5/s.json",
    ],
)
def test_redirect_to_a_refused_host_is_not_followed(
    server: HTTPServer, base: str, config: Config, outside: list[Any], target: str
) -> None:
    """Each hop passes the same rules: a redirect out of the allowlist is refused."""
    server.expect_request("/jump.json").respond_with_data(
        "", status=302, headers={"Location": target}
    )
    error = error_of(f"{base}jump.json", config)
    assert error == (
        f"{base}jump.json: redirected to {target}: refused: "
        "not under any POWERCYCLE_URL_ALLOWLIST prefix"
    )
    assert outside == []


def test_redirect_to_metadata_without_allowlist_is_refused(
    monkeypatch: pytest.MonkeyPatch, outside: list[Any]
) -> None:
    """Without an allowlist, a redirect hop is address-checked like the first URL."""
    fake_dns(monkeypatch, {"jump.example": ["169.254.169.254"]})
    error = error_of("https://jump.example/s.json", Config())
    assert "refused: jump.example resolves to 169.254.169.254, which is a link-local" in error
    assert outside == []


def test_redirect_loops_end(server: HTTPServer, base: str, config: Config) -> None:
    """Redirects stop after a few hops."""
    server.expect_request("/loop.json").respond_with_data(
        "", status=302, headers={"Location": "/loop.json"}
    )
    assert error_of(f"{base}loop.json", config) == f"{base}loop.json: more than 5 redirects"
    assert gets(server) == 6


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://h.example/schedules/dev.json", True),
        ("https://H.EXAMPLE:443/schedules/dev.json", True),
        ("https://h.example/schedules/../secret.json", False),
        ("https://h.example/schedules/%2e%2e/secret.json", False),
        ("https://h.example/other/dev.json", False),
        ("http://h.example/schedules/dev.json", False),
        ("https://h.example:8443/schedules/dev.json", False),
        ("https://h.example.evil.net/schedules/dev.json", False),
        ("https://h.example@evil.net/schedules/dev.json", False),
        ("https://whole.example/anything.json", True),
        ("https://whole.example.evil.net/anything.json", False),
    ],
)
def test_allowlist_matches_parsed_prefixes(url: str, allowed: bool) -> None:
    """Prefixes compare scheme, host, port and normalised path, not raw strings."""
    allowlist = ("https://h.example/schedules/", "https://whole.example")
    assert http.is_allowlisted(url, allowlist) is allowed


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://h.example/schedules", True),
        ("https://h.example/schedules/", True),
        ("https://h.example/schedules/x.json", True),
        ("https://h.example/schedules/team/x.json?v=2", True),
        ("https://h.example/schedules-private/x.json", False),
        ("https://h.example/schedulesx", False),
        ("https://h.example/schedules.json", False),
        ("https://h.example/", False),
    ],
)
def test_allowlist_compares_whole_path_segments(url: str, allowed: bool) -> None:
    """A prefix without a trailing slash admits itself and what is below it, nothing else."""
    assert http.is_allowlisted(url, ("https://h.example/schedules",)) is allowed


def test_allowlist_segments_through_resolve(server: HTTPServer, base: str) -> None:
    """`.../schedules` as allowlist: `/schedules-private/` is refused before any request."""
    serve_json(server, "/schedules/ok.json", OFFICE)
    serve_json(server, "/schedules-private/secret.json", OFFICE)
    config = Config(url_allowlist=(f"{base}schedules",))
    assert isinstance(resolve_one(f"{base}schedules/ok.json", config), Schedule)
    error = error_of(f"{base}schedules-private/secret.json", config)
    assert error.endswith("refused: not under any POWERCYCLE_URL_ALLOWLIST prefix")
    assert [r.path for r, _ in server.log] == ["/schedules/ok.json"]


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00:ec2::254", "private"),
        ("fec0::1", "site-local"),
        ("feff::ffff", "site-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a00:5", "private"),
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
    ],
)
def test_address_classes(address: str, why: str | None) -> None:
    """Loopback, link-local, private, unspecified, multicast, reserved are refused."""
    assert http.refusal(address) == why


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Resolve the given names: the n-th lookup of a name gets its n-th address."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = answers[host][min(len(lookups), len(answers[host])) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


# --- document limits (one place: inline, fetched, S3) -----------------------------------


def nested(depth: int) -> str:
    """A schedule whose `skip` holds a list nested so that the document is `depth` deep."""
    return '{"stop": "0 18 * * *", "skip": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


@pytest.mark.parametrize(
    ("value", "cause"),
    [
        (nested(11), "nested too deeply: more than 10 levels of objects and lists"),
        (nested(600), "nested too deeply: more than 10 levels"),
        (nested(100_000), "too big: 200030 bytes, the limit is 65536 (64 KB)"),
        ('{"stop": "0 18 * * *", "skip": ' + "[" * 30_000, "nested too deeply"),
        ('{"stop": "0 18 * * *", "note": "' + "x" * 70_000 + '"}', "the limit is 65536 (64 KB)"),
        ('{"stop": "0 18 * * *", "stop": "0 19 * * *"}', "duplicate key 'stop'"),
        ('{"start": "0 8 * * *", "skip": [{"a": 1, "a": 2}]}', "duplicate key 'a'"),
        ('{"stop": "0 18 * * *", "n": ' + "9" * 5000 + "}", "not valid JSON"),
        ('{"stop": "0 18 * * *", "x": "[[[[[[[[[[[[[[[["}', "unknown key 'x'"),
    ],
    ids=["11-deep", "600-deep", "100000-deep", "unclosed-30000", "over-64KB", "dup-stop",
         "dup-nested", "5000-digits", "brackets-in-a-string"],
)
def test_inline_limits_are_clear_errors(config: Config, value: str, cause: str) -> None:
    """Inline values: 64 KB, depth 10 (checked without recursion), no duplicate key."""
    error = error_of(value, config)
    assert error.startswith("bad schedule: ")
    assert cause in error
    assert "\n" not in error and len(error) < 600


def test_depth_ten_is_accepted(config: Config) -> None:
    """Exactly ten levels is within the limit (the rest of the schedule decides)."""
    error = error_of(nested(10), config)
    assert "nested" not in error  # refused for its content (skip entries), not its depth


@pytest.mark.parametrize(
    ("document", "cause"),
    [
        ('{"office": {"stop": "0 18 * * *", "stop": "0 19 * * *"}}', "duplicate key 'stop'"),
        ('{"office": ' + "[" * 600 + "]" * 600 + "}", "nested too deeply"),
        ('{"office": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ],
    ids=["duplicate", "600-deep", "100000-deep"],
)
def test_fetched_documents_obey_the_same_limits(
    server: HTTPServer, base: str, config: Config, document: str, cause: str
) -> None:
    """A fetched document is held to the same depth and key rules as a tag value."""
    server.expect_request("/doc.json").respond_with_data(document, content_type="application/json")
    error = error_of(f"{base}doc.json#office", config)
    assert error.startswith(f"{base}doc.json#office: ")
    assert cause in error


def test_gzip_documents_are_decoded(server: HTTPServer, base: str, config: Config) -> None:
    """A gzip-encoded document (as CDNs serve them) is decoded and used."""
    body = gzip.compress(json.dumps({"office": OFFICE}).encode())
    server.expect_request("/z.json").respond_with_data(
        body, content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    result = resolve_one(f"{base}z.json#office", config)
    assert isinstance(result, Schedule) and result.stop == ("0 18 * * 1-5",)
    assert server.log[0][0].headers["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize("wrapped", [True, False], ids=["zlib", "raw"])
def test_deflate_documents_are_decoded(
    server: HTTPServer, base: str, config: Config, wrapped: bool
) -> None:
    """`deflate` is accepted with or without its zlib wrapper, as servers send both."""
    packer = zlib.compressobj(wbits=zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
    body = packer.compress(json.dumps(OFFICE).encode()) + packer.flush()
    server.expect_request("/d.json").respond_with_data(
        body, content_type="application/json", headers={"Content-Encoding": "deflate"}
    )
    assert isinstance(resolve_one(f"{base}d.json", config), Schedule)


def test_decoded_size_is_what_counts(server: HTTPServer, base: str, config: Config) -> None:
    """300 KB of JSON compressed to a few KB is still over the 256 KB limit."""
    document = json.dumps({"office": OFFICE, "pad": " " * (300 * 1024)}).encode()
    body = gzip.compress(document)
    assert len(body) < 4096
    server.expect_request("/pad.json").respond_with_data(
        body, content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    error = error_of(f"{base}pad.json#office", config)
    assert error == f"{base}pad.json#office: too big: more than 262144 bytes once decoded"


def test_unknown_content_encoding_is_refused(server: HTTPServer, base: str, config: Config) -> None:
    """An encoding that was not asked for is an error, not bytes parsed as JSON."""
    server.expect_request("/br.json").respond_with_data(
        b"\x1b\x00", content_type="application/json", headers={"Content-Encoding": "br"}
    )
    assert error_of(f"{base}br.json", config).endswith("unsupported Content-Encoding 'br'")


# --- nothing raises, under any clock ------------------------------------------------------


def test_resolve_all_never_raises_for_content(
    monkeypatch: pytest.MonkeyPatch, server: HTTPServer, base: str, config: Config
) -> None:
    """An unforeseen exception while resolving one value is that value's one-line error."""
    serve_json(server, "/office.json", {"office": OFFICE, "odd": {"stop": "0 19 * * *"}})
    from powercycle.sources import values

    real = values.parse_schedule

    def fragile(document: Any, **kwargs: Any) -> Schedule:
        if document == {"stop": "0 19 * * *"}:
            raise OverflowError("date value out of range\nsecond line token=s3cr3t&x=1")
        return real(document, **kwargs)

    monkeypatch.setattr(values, "parse_schedule", fragile)
    odd, fine = f"{base}office.json?token=s3cr3t#odd", f"{base}office.json#office"
    resolved = sources.resolve_all([odd, fine, '{"stop": "0 19 * * *"}'], config, limits=LIMITS)

    assert isinstance(resolved[fine], Schedule)
    assert resolved[odd] == (
        f"{base}office.json?token=***#odd: unexpected OverflowError: "
        "date value out of range second line token=***&x=***"
    )
    assert resolved['{"stop": "0 19 * * *"}'].startswith("bad schedule: unexpected OverflowError")
    assert all("\n" not in r for r in resolved.values() if isinstance(r, str))


def test_url_schedule_under_freeze_time(server: HTTPServer, base: str, config: Config) -> None:
    """Under freezegun (frozen wall and monotonic clocks) a URL schedule still resolves."""
    serve_json(server, "/office.json", {"office": OFFICE})
    with freeze_time("2026-11-23 08:14", tz_offset=0):
        started = monotonic()
        resolved = sources.resolve_all([f"{base}office.json#office"], config)
        assert isinstance(resolved[f"{base}office.json#office"], Schedule), resolved
        assert monotonic() - started < 10


def test_pass_with_a_url_schedule_under_freeze_time(
    aws_env: None, server: HTTPServer, base: str, config: Config
) -> None:
    """A whole pass under `freeze_time` (as users test their schedules) acts on a URL tag."""
    serve_json(server, "/office.json", {"office": OFFICE})
    (stopped,) = launch(1, f"{base}office.json#office")
    boto3.client("ec2", region_name=REGION).stop_instances(InstanceIds=[stopped])
    with freeze_time("2026-11-23 08:14", tz_offset=0):
        summary = engine.run_pass(config, datetime.now(UTC)).to_dict()
    assert summary["errors"] == []
    assert [a["id"] for a in summary["actions"]] == [stopped]
    assert states([stopped]) == {"running"}  # Monday 08:14: the 08:00 start is due


def test_url_deadline_holds_under_freeze_time(base: str, config: Config) -> None:
    """The deadline still runs on real time under freezegun: a silent server is left."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts (in the backlog), never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/s.json"
        with freeze_time("2026-11-23 08:14", tz_offset=0):
            started = monotonic()
            error = error_of(url, Config(url_allowlist=(url,)), http.Limits(total_timeout=1.0))
            elapsed = monotonic() - started
    assert error == f"{url}: timed out after 1s waiting for the headers"
    assert 0.9 < elapsed < 8


# --- S3 -------------------------------------------------------------------------------


@pytest.fixture
def bucket(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, list[str]]]:
    """A moto bucket, and the keys of the GetObject calls made through powercycle.aws."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="schedules")
    calls: list[str] = []
    real = aws.client

    def counting(service: str, region: str) -> Any:
        client = real(service, region)
        client.meta.events.register(
            "before-parameter-build.s3.GetObject", lambda params, **_: calls.append(params["Key"])
        )
        return client

    monkeypatch.setattr(aws, "client", counting)
    yield s3, calls


def test_s3_documents_and_named_entries(bucket: tuple[Any, list[str]]) -> None:
    """s3://bucket/key and s3://bucket/key#name read the object once."""
    s3, calls = bucket
    s3.put_object(Bucket="schedules", Key="dev.json", Body=json.dumps(OFFICE))
    s3.put_object(Bucket="schedules", Key="teams/all.json",
                  Body=json.dumps({"office": OFFICE, "nightly": NIGHTLY}))
    values = ["s3://schedules/dev.json", "s3://schedules/teams/all.json#office",
              "s3://schedules/teams/all.json#nightly"]

    resolved = sources.resolve_all(values, Config(regions=(REGION,)))

    assert all(isinstance(r, Schedule) for r in resolved.values()), resolved
    nightly = resolved["s3://schedules/teams/all.json#nightly"]
    assert isinstance(nightly, Schedule) and nightly.stop == ("0 22 * * *",)
    assert sorted(calls) == ["dev.json", "teams/all.json"]


@pytest.mark.parametrize(
    ("value", "body", "cause"),
    [
        ("s3://no-such-bucket/dev.json", None, "NoSuchBucket"),
        ("s3://schedules/missing.json", None, "NoSuchKey"),
        ("s3://schedules/obj.json", b"not json", "not valid JSON (Expecting value"),
        ("s3://schedules/obj.json", b" " * (http.MAX_BYTES + 1),
         "too big: 262145 bytes declared, the limit is 262144"),
        ("s3://schedules/obj.json#nope", json.dumps({"office": OFFICE}).encode(),
         "no entry 'nope' in the document; available: office"),
    ],
    ids=["no-bucket", "no-key", "not-json", "too-big", "missing-name"],
)
def test_s3_failures(
    bucket: tuple[Any, list[str]], value: str, body: bytes | None, cause: str
) -> None:
    """A missing bucket or key, a bad or oversized object: an error naming the location."""
    s3, _ = bucket
    if body is not None:
        s3.put_object(Bucket="schedules", Key="obj.json", Body=body)
    error = error_of(value, Config(regions=(REGION,)))
    assert error.startswith(f"{value}: ")
    assert cause in error


# --- the engine: URL and inline tags in one run -----------------------------------------


def test_url_and_inline_tags_in_one_run(
    aws_env: None, server: HTTPServer, base: str, config: Config,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """URL and inline schedules act side by side; a failed source leaves its instance alone."""
    serve_json(server, "/office.json", OFFICE)
    server.expect_request("/gone.json").respond_with_data("no", status=404)
    by_url = launch(2, f"{base}office.json", "by-url")
    inline = launch(1, json.dumps(OFFICE), "inline")
    broken = launch(1, f"{base}gone.json?token=s3cr3t", "broken")

    with caplog.at_level(logging.INFO, logger="powercycle"):
        summary = engine.run_pass(config, MONDAY_EVENING).to_dict()

    assert states(by_url + inline) == {"stopped"}
    assert states(broken) == {"running"}
    assert {a["id"] for a in summary["actions"]} == set(by_url + inline)
    assert summary["errors"] == [
        {
            "id": broken[0],
            "kind": "ec2",
            "region": REGION,
            "error": f"ec2Powercycle: {base}gone.json?token=***: HTTP 404 NOT FOUND",
        }
    ]
    lines = [json.loads(logs.line(r)) for r in caplog.records if r.name == "powercycle"]
    sources_by_id = {line["resource"]: line["source"] for line in lines}
    assert sources_by_id[inline[0]] == "inline"
    assert sources_by_id[by_url[0]] == f"{base}office.json"
    assert sources_by_id[broken[0]] == f"{base}gone.json?token=***"
    ours = "\n".join(logs.line(r) for r in caplog.records if r.name.startswith("powercycle"))
    assert "s3cr3t" not in json.dumps(summary) + ours
    assert gets(server) == 2


# --- powercycle check -----------------------------------------------------------------


def test_check_accepts_a_url(
    server: HTTPServer, base: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`powercycle check URL#name` fetches, validates and shows the schedule."""
    serve_json(server, "/teams.json", {"office": OFFICE})
    monkeypatch.setenv("POWERCYCLE_URL_ALLOWLIST", base)
    assert cli.main(["check", f"{base}teams.json#office"]) == 0
    assert "valid schedule, zone UTC" in capsys.readouterr().out


def test_check_reports_a_failing_url(
    server: HTTPServer, base: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`powercycle check` on a failing source exits 1 naming source and cause."""
    server.expect_request("/teams.json").respond_with_data("no", status=404)
    monkeypatch.setenv("POWERCYCLE_URL_ALLOWLIST", base)
    assert cli.main(["check", f"{base}teams.json#office"]) == 1
    assert f"{base}teams.json#office: HTTP 404 NOT FOUND" in capsys.readouterr().err


def test_check_accepts_an_s3_location(
    bucket: tuple[Any, list[str]], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`powercycle check s3://bucket/key` reads the object."""
    s3, _ = bucket
    s3.put_object(Bucket="schedules", Key="dev.json", Body=json.dumps(NIGHTLY))
    monkeypatch.setenv("AWS_REGION", REGION)
    assert cli.main(["check", "s3://schedules/dev.json"]) == 0
    assert "valid schedule" in capsys.readouterr().out
