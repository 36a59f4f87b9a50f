"""The CAST AI client over real HTTP against the stand-in, and the EKS -> CAST AI mapping."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from powercycle.castai import BAD_KEY, CastAIClient, CastAIError, Cluster, match_eks, match_name
from powercycle.local.castai_standin import CastAIStandin

KEY = "castai-key-5f0e1d2c"
ACCOUNT = "123456789012"


@pytest.fixture
def standin() -> Iterator[CastAIStandin]:
    with CastAIStandin(api_key=KEY) as server:
        yield server


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """urllib3's Retry sleeps, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr("urllib3.util.retry.time.sleep", slept.append)
    return slept


def client(url: str, key: str = KEY) -> CastAIClient:
    return CastAIClient(url, key, backoff_factor=0.0)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- calls -----------------------------------------------------------------------------


def test_list_clusters_parses_the_listing(standin: CastAIStandin) -> None:
    """Listing sends the key and reads id, name, status and the eks block."""
    cid = standin.add_cluster("boutique", cluster_name="eks-b", region="eu-west-1")
    (cluster,) = client(standin.url).list_clusters()
    assert cluster == Cluster(
        id=cid,
        name="boutique",
        status="ready",
        provider_type="eks",
        cluster_name="eks-b",
        region="eu-west-1",
        account_id=ACCOUNT,
    )


def test_hibernate_and_resume_send_the_documented_calls(standin: CastAIStandin) -> None:
    """hibernate has no body; resume sends instanceType and spotConfig.isSpot."""
    cid = standin.add_cluster("dev", region="eu-west-1")
    api = client(standin.url)
    assert api.hibernate(cid)
    assert api.get_cluster(cid).status == "hibernated"
    operation = api.resume(cid, instance_type="m5.large", spot=True)
    assert api.operation(operation)["done"] is False
    resume = next(c for c in standin.calls if c.route == "resume")
    assert resume.body == {"instanceType": "m5.large", "spotConfig": {"isSpot": True}}
    hibernate = next(c for c in standin.calls if c.route == "hibernate")
    assert hibernate.body is None


def test_bad_key_is_reported_plainly_without_the_key(standin: CastAIStandin) -> None:
    """401 says the key is bad or under-privileged, and is not retried."""
    with pytest.raises(CastAIError) as caught:
        client(standin.url, key="wrong-key-77").list_clusters()
    assert caught.value.code == "CastAIAuth"
    assert BAD_KEY in str(caught.value)
    assert "wrong-key-77" not in str(caught.value)
    assert standin.counts["list"] == 1


def test_403_is_a_bad_key_too(standin: CastAIStandin) -> None:
    standin.fail_next(1, 403)
    with pytest.raises(CastAIError, match="bad or under-privileged"):
        client(standin.url).list_clusters()


def test_429_is_retried_after_the_retry_after_delay(
    standin: CastAIStandin, sleeps: list[float]
) -> None:
    """A 429 with Retry-After: 7 sleeps 7 s (recorded, not slept), then succeeds."""
    standin.add_cluster("dev", region="eu-west-1")
    standin.fail_next(1, 429, retry_after=7)
    assert len(client(standin.url).list_clusters()) == 1
    assert standin.counts["list"] == 2
    assert 7 in sleeps


def test_retry_after_is_capped(standin: CastAIStandin, sleeps: list[float]) -> None:
    """An hour-long Retry-After does not hold a Lambda for an hour."""
    standin.fail_next(1, 429, retry_after=3600)
    client(standin.url).list_clusters()
    assert max(sleeps) == 60


def test_5xx_retried_three_times_then_an_error(standin: CastAIStandin) -> None:
    """500 on every attempt: 1 call + 3 retries, then an error naming the status."""
    cid = standin.add_cluster("dev", region="eu-west-1")
    standin.fail_next(10, 500, route="hibernate")
    with pytest.raises(CastAIError, match="HTTP 500") as caught:
        client(standin.url).hibernate(cid)
    assert caught.value.code == "CastAI500"
    assert standin.counts["hibernate"] == 4
    assert standin.status(cid) == "ready"


def test_backoff_grows_between_5xx_retries(standin: CastAIStandin, sleeps: list[float]) -> None:
    """Exponential backoff with the given factor: 0, 2f, 4f between attempts."""
    standin.fail_next(3, 503)
    CastAIClient(standin.url, KEY, backoff_factor=0.25).list_clusters()
    assert sleeps == [0.5, 1.0]  # urllib3 sleeps nothing before the first retry


def test_other_4xx_are_not_retried(standin: CastAIStandin) -> None:
    """A 400 (resume without an instance type) is reported with its field violations, once."""
    cid = standin.add_cluster("dev", region="eu-west-1", status="hibernated")
    with pytest.raises(CastAIError) as caught:
        client(standin.url).resume(cid, instance_type="", spot=False)
    assert "HTTP 400" in str(caught.value)
    assert "instanceType: instanceType is required" in str(caught.value)
    assert standin.counts["resume"] == 1


def test_unreachable_is_an_error_naming_the_url() -> None:
    """A closed port: connection errors are retried, then reported as unreachable."""
    url = closed_port_url()
    with pytest.raises(CastAIError, match="unreachable") as caught:
        client(url).list_clusters()
    assert url in str(caught.value)
    assert caught.value.code == "CastAIUnavailable"


def test_a_key_echoed_by_the_server_is_redacted(httpserver: HTTPServer) -> None:
    """Even if an error body repeats the key, the message does not."""
    httpserver.expect_request("/v1/kubernetes/external-clusters").respond_with_json(
        {"message": f"key {KEY} lacks scope"}, status=400
    )
    with pytest.raises(CastAIError) as caught:
        client(httpserver.url_for("/")).list_clusters()
    assert KEY not in str(caught.value)
    assert "***" in str(caught.value)


def test_key_is_not_in_the_repr(standin: CastAIStandin) -> None:
    assert KEY not in repr(client(standin.url))


def test_answer_without_items_is_an_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/kubernetes/external-clusters").respond_with_json({"x": 1})
    with pytest.raises(CastAIError, match="no 'items'"):
        client(httpserver.url_for("/")).list_clusters()


# --- mapping ---------------------------------------------------------------------------


def cluster(
    cid: str,
    name: str = "dev",
    *,
    cluster_name: str | None = None,
    status: str = "ready",
    region: str = "eu-west-1",
    account: str = ACCOUNT,
    provider_type: str = "eks",
) -> Cluster:
    return Cluster(cid, name, status, provider_type, cluster_name or name, region, account)


def test_match_eks_by_name_region_and_account() -> None:
    """Only the cluster equal on all three is the match."""
    clusters = [
        cluster("a", "dev", region="us-east-1"),
        cluster("b", "dev", account="999999999999"),
        cluster("c", "dev"),
        cluster("d", "other"),
    ]
    found = match_eks(clusters, name="dev", region="eu-west-1", account=ACCOUNT)
    assert found.cluster is not None and found.cluster.id == "c"


def test_match_eks_ignores_deleted_and_non_eks() -> None:
    clusters = [
        cluster("old", status="deleted"),
        cluster("going", status="deleting"),
        cluster("arch", status="archived"),
        cluster("gke", provider_type="gke"),
        cluster("live", status="hibernated"),
    ]
    found = match_eks(clusters, name="dev", region="eu-west-1", account=ACCOUNT)
    assert found.cluster is not None and found.cluster.id == "live"


def test_match_eks_none_is_an_error_naming_the_cluster() -> None:
    found = match_eks([cluster("a", "x")], name="dev", region="eu-west-1", account=ACCOUNT)
    assert found.cluster is None
    assert found.error is not None
    assert "'dev'" in found.error and "unknown to CAST AI" in found.error


def test_match_eks_several_is_an_error_listing_the_ids() -> None:
    found = match_eks([cluster("a"), cluster("b")], name="dev", region="eu-west-1", account=ACCOUNT)
    assert found.cluster is None
    assert found.error is not None and "2 CAST AI clusters match" in found.error
    assert "a, b" in found.error


def test_match_name_prefers_castai_name_over_eks_cluster_name() -> None:
    """A payload name matches CAST AI `name` first, then `eks.clusterName`."""
    clusters = [
        cluster("by-eks-name", "something", cluster_name="boutique"),
        cluster("by-name", "boutique", cluster_name="eks-boutique"),
    ]
    found = match_name(clusters, "boutique")
    assert found is not None and found.cluster is not None
    assert found.cluster.id == "by-name"
    fallback = match_name(clusters, "eks-boutique")
    assert fallback is not None and fallback.cluster is not None
    assert fallback.cluster.id == "by-name"


def test_match_name_unknown_is_none_and_deleted_is_explained() -> None:
    clusters = [cluster("gone", "old", status="deleted")]
    assert match_name(clusters, "nope") is None
    gone = match_name(clusters, "old")
    assert gone is not None and gone.error is not None and "'deleted'" in gone.error


def test_match_name_several_is_an_error() -> None:
    found = match_name([cluster("a", "dup"), cluster("b", "dup")], "dup")
    assert found is not None and found.cluster is None
    assert found.error is not None and "2 CAST AI clusters named 'dup'" in found.error
