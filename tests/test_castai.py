"""The CAST AI client over real HTTP against the stand-in, and the EKS -> CAST AI mapping."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from powercycle.castai.access import match_eks, match_name
from powercycle.castai.client import (
    BAD_KEY,
    CastAIClient,
    CastAIError,
    Cluster,
    Listing,
    parse_listing,
)
from powercycle.core.tags import OperationTag
from powercycle.local.castai_standin import CastAIStandin
from powercycle.runtime.budget import Budget

KEY = "castai-key-5f0e1d2c"
ACCOUNT = "123456789012"


@pytest.fixture
def standin() -> Iterator[CastAIStandin]:
    with CastAIStandin(api_key=KEY) as server:
        yield server


class RecordingBudget(Budget):
    """A budget whose sleeps are recorded, not slept (refused when they do not fit)."""

    def __init__(self, seconds: float = 600.0) -> None:
        super().__init__(seconds)
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> bool:
        if seconds > self.remaining() - self.reserve:
            return False
        self.slept.append(seconds)
        return True


@pytest.fixture
def budget() -> RecordingBudget:
    return RecordingBudget()


def client(url: str, key: str = KEY, budget: Budget | None = None) -> CastAIClient:
    return CastAIClient(url, key, backoff_factor=0.0, budget=budget)


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
    standin: CastAIStandin, budget: RecordingBudget
) -> None:
    """A 429 with Retry-After: 7 waits 7 s (recorded, not slept), then succeeds."""
    standin.add_cluster("dev", region="eu-west-1")
    standin.fail_next(1, 429, retry_after=7)
    assert len(client(standin.url, budget=budget).list_clusters()) == 1
    assert standin.counts["list"] == 2
    assert budget.slept == [7]


def test_retry_after_longer_than_max_wait_is_not_waited(
    standin: CastAIStandin, budget: RecordingBudget
) -> None:
    """Retry-After: 600 with a 600 s budget: no wait at all, a clear error, one request."""
    standin.fail_next(1, 429, retry_after=600)
    with pytest.raises(CastAIError) as caught:
        client(standin.url, budget=budget).list_clusters()
    assert budget.slept == []
    assert standin.counts["list"] == 1
    assert "HTTP 429" in str(caught.value)
    assert "does not fit the pass" in str(caught.value)
    assert caught.value.code == "CastAI429"


def test_retry_after_that_does_not_fit_the_budget_is_not_waited(standin: CastAIStandin) -> None:
    """Retry-After: 20 (under the cap) with 5 s of budget left: given up at once."""
    budget = RecordingBudget(5.0)
    standin.fail_next(1, 503, retry_after=20)
    with pytest.raises(CastAIError, match="does not fit the pass"):
        client(standin.url, budget=budget).list_clusters()
    assert budget.slept == []


def test_a_spent_budget_sends_nothing(standin: CastAIStandin) -> None:
    """No time left: the call is not made, and its code says Deferred."""
    with pytest.raises(CastAIError) as caught:
        client(standin.url, budget=Budget(0.0)).hibernate("x")
    assert caught.value.code == "Deferred"
    assert sum(standin.counts.values()) == 0


def test_get_5xx_retried_three_times_then_an_error(standin: CastAIStandin) -> None:
    """500 on every GET attempt: 1 call + 3 retries, then an error naming the status."""
    standin.fail_next(10, 500, route="list")
    with pytest.raises(CastAIError, match="HTTP 500") as caught:
        client(standin.url).list_clusters()
    assert caught.value.code == "CastAI500"
    assert standin.counts["list"] == 4


def test_post_500_is_not_retried(standin: CastAIStandin) -> None:
    """A 500 on hibernate may come after CAST AI acted: sent once, reported."""
    cid = standin.add_cluster("dev", region="eu-west-1")
    standin.fail_next(10, 500, route="hibernate")
    with pytest.raises(CastAIError, match="HTTP 500"):
        client(standin.url).hibernate(cid)
    assert standin.counts["hibernate"] == 1


@pytest.mark.parametrize("status", [429, 503])
def test_post_429_and_503_are_retried(standin: CastAIStandin, status: int) -> None:
    """Refused before processing: the write is sent again, and goes through."""
    cid = standin.add_cluster("dev", region="eu-west-1")
    standin.fail_next(2, status, route="hibernate")
    assert client(standin.url).hibernate(cid)
    assert standin.counts["hibernate"] == 3
    assert standin.status(cid) == "hibernating"


def test_dropped_post_is_sent_once(standin: CastAIStandin) -> None:
    """CAST AI received the hibernate and dropped the connection: never sent again."""
    cid = standin.add_cluster("dev", region="eu-west-1")
    standin.drop_next(1, route="hibernate")
    with pytest.raises(CastAIError, match="connection dropped") as caught:
        client(standin.url).hibernate(cid)
    assert caught.value.code == "CastAIUnavailable"
    assert standin.counts["hibernate"] == 1
    assert standin.status(cid) == "hibernating"  # it did act


def test_dropped_get_is_retried(standin: CastAIStandin) -> None:
    standin.drop_next(1, route="list")
    assert client(standin.url).list_clusters() == []
    assert standin.counts["list"] == 2


def test_post_is_not_retried_after_a_read_timeout(standin: CastAIStandin) -> None:
    """No answer in time: the write may have happened, so it is not sent again."""
    cid = standin.add_cluster("dev", region="eu-west-1")
    standin.hang_next(1, 5.0, route="hibernate")
    api = CastAIClient(standin.url, KEY, backoff_factor=0.0, timeout=(1.0, 0.3))
    with pytest.raises(CastAIError, match="no answer in time"):
        api.hibernate(cid)
    assert standin.counts["hibernate"] == 1


def test_connection_refused_post_is_retried() -> None:
    """Nothing listening: the request certainly never arrived, so it is tried again."""
    url = closed_port_url()
    budget = RecordingBudget()
    with pytest.raises(CastAIError, match="connection failed"):
        CastAIClient(url, KEY, backoff_factor=0.25, budget=budget).hibernate("x")
    assert budget.slept == [0.25, 0.5, 1.0]


def test_backoff_is_capped(standin: CastAIStandin, budget: RecordingBudget) -> None:
    standin.fail_next(3, 503)
    CastAIClient(standin.url, KEY, backoff_factor=5.0, budget=budget).list_clusters()
    assert budget.slept == [5.0, 8.0, 8.0]


def test_a_redirect_is_not_followed_and_the_key_stays_home(standin: CastAIStandin) -> None:
    """A 307 to another host: an error naming the status and host; the other host sees
    no request at all (so no key)."""
    with CastAIStandin(api_key="other") as elsewhere:
        other = elsewhere.url.removeprefix("http://")
        standin.redirect_next(1, elsewhere.url + "/x?token=abc")
        with pytest.raises(CastAIError) as caught:
            client(standin.url).list_clusters()
        assert elsewhere.calls == []
    message = str(caught.value)
    assert "HTTP 307" in message
    assert f"redirect to {other} not followed" in message
    assert "token" not in message and "abc" not in message
    assert caught.value.code == "CastAIRedirect"


def test_url_credentials_are_never_shown() -> None:
    """user:password in CASTAI_API_URL: used, never printed (nor in the repr)."""
    url = closed_port_url().replace("http://", "http://ops:hunter2-pw@")
    api = client(url)
    with pytest.raises(CastAIError) as caught:
        api.list_clusters()
    assert "hunter2-pw" not in str(caught.value) + repr(api)
    assert "ops" not in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


def test_url_with_a_query_string_is_refused() -> None:
    with pytest.raises(CastAIError, match="query string") as caught:
        client("https://api.cast.ai/?token=s3cret-tok")
    assert "s3cret-tok" not in str(caught.value)


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


def test_one_malformed_item_is_kept_apart(httpserver: HTTPServer) -> None:
    """ "eks": "x", a missing id, a wrong type: errors for those items, the rest read."""
    good = {
        "id": "c1",
        "name": "dev",
        "status": "ready",
        "providerType": "eks",
        "eks": {"clusterName": "dev", "region": "eu-west-1", "accountId": ACCOUNT},
    }
    items = [
        {"id": "bad1", "name": "qa", "eks": "x"},
        {"name": "nameless"},
        {"id": "bad3", "name": 7},
        "not an object",
        good,
    ]
    httpserver.expect_request("/v1/kubernetes/external-clusters").respond_with_json(
        {"items": items}
    )
    listing = client(httpserver.url_for("/")).listing()
    assert [c.id for c in listing.clusters] == ["c1"]
    assert [b.index for b in listing.bad] == [0, 1, 2, 3]
    assert "'eks' is 'x', not an object" in listing.bad[0].describe()
    assert "id bad1" in listing.bad[0].describe()
    assert "no 'id'" in listing.bad[1].error
    assert "'name' is 7" in listing.bad[2].error


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
    found = match_eks(Listing(clusters), name="dev", region="eu-west-1", account=ACCOUNT)
    assert found.cluster is not None and found.cluster.id == "c"


def test_match_eks_ignores_deleted_and_non_eks() -> None:
    clusters = [
        cluster("old", status="deleted"),
        cluster("going", status="deleting"),
        cluster("arch", status="archived"),
        cluster("gke", provider_type="gke"),
        cluster("live", status="hibernated"),
    ]
    found = match_eks(Listing(clusters), name="dev", region="eu-west-1", account=ACCOUNT)
    assert found.cluster is not None and found.cluster.id == "live"


def test_match_eks_none_is_an_error_naming_the_cluster() -> None:
    found = match_eks(Listing([cluster("a", "x")]), name="dev", region="eu-west-1", account=ACCOUNT)
    assert found.cluster is None
    assert found.error is not None
    assert "'dev'" in found.error and "unknown to CAST AI" in found.error


def test_match_eks_several_is_an_error_listing_the_ids() -> None:
    found = match_eks(
        Listing([cluster("a"), cluster("b")]), name="dev", region="eu-west-1", account=ACCOUNT
    )
    assert found.cluster is None
    assert found.error is not None and "2 CAST AI clusters match" in found.error
    assert "a, b" in found.error


def test_match_name_prefers_castai_name_over_eks_cluster_name() -> None:
    """A payload name matches CAST AI `name` first, then `eks.clusterName`."""
    clusters = [
        cluster("by-eks-name", "something", cluster_name="boutique"),
        cluster("by-name", "boutique", cluster_name="eks-boutique"),
    ]
    found = match_name(Listing(clusters), "boutique")
    assert found is not None and found.cluster is not None
    assert found.cluster.id == "by-name"
    fallback = match_name(Listing(clusters), "eks-boutique")
    assert fallback is not None and fallback.cluster is not None
    assert fallback.cluster.id == "by-name"


def test_match_name_unknown_is_none_and_deleted_is_explained() -> None:
    clusters = [cluster("gone", "old", status="deleted")]
    assert match_name(Listing(clusters), "nope") is None
    gone = match_name(Listing(clusters), "old")
    assert gone is not None and gone.error is not None and "'deleted'" in gone.error


def test_match_name_several_is_an_error() -> None:
    found = match_name(Listing([cluster("a", "dup"), cluster("b", "dup")]), "dup")
    assert found is not None and found.cluster is None
    assert found.error is not None and "2 CAST AI clusters named 'dup'" in found.error


def test_a_cluster_matched_only_by_a_malformed_item_says_so() -> None:
    listing = parse_listing([{"id": "m1", "name": "dev", "eks": "x"}])
    found = match_eks(listing, name="dev", region="eu-west-1", account=ACCOUNT)
    assert found.cluster is None and found.error is not None
    assert "malformed" in found.error and "id m1" in found.error
    by_name = match_name(listing, "dev")
    assert by_name is not None and by_name.error is not None and "id m1" in by_name.error


@pytest.mark.parametrize(
    "value",
    ["hibernate@2026-11-23T18:00:00Z/op-1", "resume@2026-11-23T08:00:00Z/abc", "bare-id"],
)
def test_operation_tag_round_trip(value: str) -> None:
    tag = OperationTag.parse(value)
    assert tag is not None
    if "@" in value:
        assert tag.value() == value
    else:
        assert tag.operation_id == "bare-id" and tag.accepted is None


@pytest.mark.parametrize("value", ["", "hibernate@2026-11-23T18:00:00Z/", "a/b"])
def test_operation_tag_without_an_id_is_none(value: str) -> None:
    assert OperationTag.parse(value) is None
