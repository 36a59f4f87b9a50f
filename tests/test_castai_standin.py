"""The CAST AI stand-in behaves like the API facts of castai.md, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from powercycle.castai.client import CLUSTERS_PATH, KEY_HEADER
from powercycle.local.castai_standin import CastAIStandin

KEY = "standin-key-0123"


@pytest.fixture
def standin() -> Iterator[CastAIStandin]:
    with CastAIStandin(api_key=KEY) as server:
        yield server


def call(standin: CastAIStandin, method: str, path: str, **kwargs: object) -> requests.Response:
    headers = {KEY_HEADER: str(kwargs.pop("key", KEY))}
    return requests.request(method, standin.url + path, headers=headers, timeout=5, **kwargs)  # type: ignore[arg-type]


def test_lists_clusters_with_the_fields_powercycle_reads(standin: CastAIStandin) -> None:
    """A listed cluster carries id, name, status, providerType and the eks block."""
    cid = standin.add_cluster("boutique", cluster_name="eks-boutique", region="eu-west-1")
    answer = call(standin, "GET", CLUSTERS_PATH)
    assert answer.status_code == 200
    (item,) = answer.json()["items"]
    assert item["id"] == cid
    assert item["name"] == "boutique"
    assert item["status"] == "ready"
    assert item["providerType"] == "eks"
    assert item["eks"] == {
        "clusterName": "eks-boutique",
        "region": "eu-west-1",
        "accountId": "123456789012",
    }
    assert standin.counts["list"] == 1


def test_wrong_key_is_401(standin: CastAIStandin) -> None:
    """Without the right X-API-Key every call is refused."""
    standin.add_cluster("dev", region="eu-west-1")
    assert call(standin, "GET", CLUSTERS_PATH, key="wrong").status_code == 401


def test_hibernate_then_settles_on_next_read(standin: CastAIStandin) -> None:
    """hibernate answers an operation; the cluster is hibernating, then hibernated."""
    cid = standin.add_cluster("dev", region="eu-west-1")
    answer = call(standin, "POST", f"{CLUSTERS_PATH}/{cid}/hibernate")
    assert answer.status_code == 200
    assert answer.json()["clusterId"] == cid
    operation = answer.json()["operationId"]
    assert standin.status(cid) == "hibernating"
    op = call(standin, "GET", f"{CLUSTERS_PATH}/operations/{operation}").json()
    assert op["done"] is False
    assert call(standin, "GET", f"{CLUSTERS_PATH}/{cid}").json()["status"] == "hibernated"
    op = call(standin, "GET", f"{CLUSTERS_PATH}/operations/{operation}").json()
    assert op["done"] is True


def test_settle_after_reads_delays_the_end_state() -> None:
    """With settle_after_reads=2 the transitional status is seen on two reads."""
    with CastAIStandin(api_key=KEY, settle_after_reads=2) as standin:
        cid = standin.add_cluster("dev", region="eu-west-1", status="hibernated")
        resumed = call(
            standin, "POST", f"{CLUSTERS_PATH}/{cid}/resume", json={"instanceType": "m5.large"}
        )
        assert resumed.status_code == 200
        seen = [call(standin, "GET", f"{CLUSTERS_PATH}/{cid}").json()["status"] for _ in range(3)]
    assert seen == ["resuming", "resuming", "ready"]


def test_resume_without_instance_type_is_400_with_field_violations(
    standin: CastAIStandin,
) -> None:
    """instanceType is required, as in the real API."""
    cid = standin.add_cluster("dev", region="eu-west-1", status="hibernated")
    answer = call(standin, "POST", f"{CLUSTERS_PATH}/{cid}/resume", json={})
    assert answer.status_code == 400
    assert answer.json()["fieldViolations"][0]["field"] == "instanceType"
    assert standin.status(cid) == "hibernated"


def test_refuses_to_resume_a_ready_cluster(standin: CastAIStandin) -> None:
    """Acting against the current status is an error, so a redundant call shows up."""
    cid = standin.add_cluster("dev", region="eu-west-1")
    answer = call(
        standin, "POST", f"{CLUSTERS_PATH}/{cid}/resume", json={"instanceType": "m5.large"}
    )
    assert answer.status_code == 400


def test_fail_next_answers_the_fault_then_recovers(standin: CastAIStandin) -> None:
    """fail_next(2, 429, retry_after=3): two 429s with Retry-After, then normal answers."""
    standin.fail_next(2, 429, retry_after=3)
    first = call(standin, "GET", CLUSTERS_PATH)
    second = call(standin, "GET", CLUSTERS_PATH)
    third = call(standin, "GET", CLUSTERS_PATH)
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "3"
    assert standin.counts["list"] == 3


def test_fail_next_can_target_one_route(standin: CastAIStandin) -> None:
    """A fault for `hibernate` leaves listings alone."""
    cid = standin.add_cluster("dev", region="eu-west-1")
    standin.fail_next(1, 500, route="hibernate")
    assert call(standin, "GET", CLUSTERS_PATH).status_code == 200
    assert call(standin, "POST", f"{CLUSTERS_PATH}/{cid}/hibernate").status_code == 500
    assert call(standin, "POST", f"{CLUSTERS_PATH}/{cid}/hibernate").status_code == 200


def test_unknown_cluster_and_route_are_404(standin: CastAIStandin) -> None:
    assert call(standin, "GET", f"{CLUSTERS_PATH}/nope").status_code == 404
    assert call(standin, "GET", "/v1/elsewhere").status_code == 404
    assert standin.counts["unknown"] == 1
