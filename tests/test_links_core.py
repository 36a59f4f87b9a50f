"""core/links.py: signing and checking links; every field covered by the MAC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from powercycle.core import links, seal
from powercycle.core.links import Link, LinkError, LinkExpired

KEY = b"k" * 32
LONDON = ZoneInfo("Europe/London")
STOP = datetime(2026, 11, 23, 17, 55, tzinfo=LONDON)


def extend_link(**overrides: object) -> Link:
    fields: dict[str, object] = {
        "account": "123456789012",
        "region": "eu-west-2",
        "kind": "ec2",
        "resource": "i-0abc",
        "stop": STOP,
        "hours": 1,
    }
    fields.update(overrides)
    return links.extend(**fields)  # type: ignore[arg-type]


def test_round_trip_and_stop() -> None:
    """A signed link verifies to itself; its stop is its expiry minus 12 hours."""
    link = extend_link()
    token = links.sign(KEY, link)
    assert links.verify(KEY, token, STOP) == link
    assert link.stop == STOP.astimezone(UTC)
    assert link.expires == STOP.astimezone(UTC) + timedelta(hours=12)


def test_token_is_url_and_tag_safe() -> None:
    """Lowercase base32 and a dot: nothing a URL or a tag would need to escape."""
    token = links.sign(KEY, extend_link(resource="web group/\u00e9 1"))
    assert re.fullmatch(r"[a-z2-7]+\.[a-z2-7]{32}", token)
    url = links.url("https://x.lambda-url.eu-west-2.on.aws/", token)
    assert url == f"https://x.lambda-url.eu-west-2.on.aws/link?t={token}"


@pytest.mark.parametrize(
    ("index", "value"),
    [
        (0, "999999999999"),
        (1, "us-east-1"),
        (2, "asg"),
        (3, "i-0def"),
        (4, "skip"),
        (4, "wake"),
        (5, "12"),
        (6, str(int((STOP + timedelta(days=30)).timestamp()))),
    ],
)
def test_tampering_any_field_is_refused(index: int, value: str) -> None:
    """Each of the seven fields changed under the same MAC: 403, never acted on."""
    token = links.sign(KEY, extend_link())
    fields = extend_link().fields()
    fields[index] = value
    forged = links._b32("\n".join(fields).encode()) + "." + token.split(".")[1]
    with pytest.raises(LinkError) as refused:
        links.verify(KEY, forged, STOP)
    assert refused.value.status == 403
    assert not isinstance(refused.value, LinkExpired)


def test_changed_expiry_is_forged_even_when_past() -> None:
    """The MAC is checked before the expiry: a changed expiry is 403, not 410."""
    token = links.sign(KEY, extend_link())
    fields = extend_link().fields()
    fields[6] = str(int(STOP.timestamp()) - 3600)
    forged = links._b32("\n".join(fields).encode()) + "." + token.split(".")[1]
    with pytest.raises(LinkError) as refused:
        links.verify(KEY, forged, STOP + timedelta(days=1))
    assert refused.value.status == 403


@pytest.mark.parametrize(
    "token",
    [
        "",
        "hello",
        "aaaaaaaa.bbbb",
        "AAAAAAAA." + "a" * 32,
        "a" * 9 + "." + "a" * 32,  # not base32 of anything readable
        links._b32(b"only\nthree\nfields") + "." + "a" * 32,
    ],
)
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(LinkError) as refused:
        links.verify(KEY, token, STOP)
    assert refused.value.status == 403


def test_other_key_and_flipped_mac_are_refused() -> None:
    token = links.sign(KEY, extend_link())
    with pytest.raises(LinkError, match="signature"):
        links.verify(b"o" * 32, token, STOP)
    body, mac = token.split(".")
    flipped = mac[:-1] + ("a" if mac[-1] != "a" else "b")
    with pytest.raises(LinkError, match="signature"):
        links.verify(KEY, f"{body}.{flipped}", STOP)


def test_a_seal_is_never_a_link_mac() -> None:
    """Domain separation: the same key's seal over the same words differs from the MAC."""
    link = extend_link()
    assert links.mac(KEY, link) != seal.mac(KEY, "i-0abc", "extend", link.fields())


def test_expiry_of_an_extend_link_in_a_named_zone() -> None:
    """Valid until 12 hours after the stop (London time), 410 from that second on."""
    token = links.sign(KEY, extend_link(hours=3))
    with freeze_time(datetime(2026, 11, 24, 5, 54, 59, tzinfo=LONDON)):
        assert links.verify(KEY, token, datetime.now(UTC)).hours == 3
    with (
        freeze_time(datetime(2026, 11, 24, 5, 55, tzinfo=LONDON)),
        pytest.raises(LinkExpired) as expired,
    ):
        links.verify(KEY, token, datetime.now(UTC))
    assert expired.value.status == 410


def test_wake_link_lasts_its_days() -> None:
    now = datetime(2026, 11, 21, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))
    link = links.wake(account="", region="eu-west-3", kind="ec2", resource="i-1", now=now, days=2)
    token = links.sign(KEY, link)
    assert link.stop is None and link.hours == 0
    assert links.verify(KEY, token, now + timedelta(days=2, seconds=-1)) == link
    with pytest.raises(LinkExpired):
        links.verify(KEY, token, now + timedelta(days=2))
    for days in (0, links.MAX_WAKE_DAYS + 1):
        with pytest.raises(LinkError, match="1 to 90 days"):
            links.wake(account="", region="r", kind="ec2", resource="i-1", now=now, days=days)


def test_a_link_holds_together() -> None:
    """Hours only on extend; no newline in a field (it separates them); aware times."""
    with pytest.raises(LinkError):
        Link("", "r", "ec2", "i-1", "skip", 2, STOP)
    with pytest.raises(LinkError):
        Link("", "r", "ec2", "i-1", "extend", 0, STOP)
    with pytest.raises(LinkError):
        extend_link(resource="a\nb")
    with pytest.raises(LinkError):
        Link("", "r", "ec2", "i-1", "reboot", 0, STOP)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aware"):
        extend_link(stop=datetime(2026, 11, 23, 17, 55))
