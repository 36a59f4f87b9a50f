"""Verified actions for CAST AI (moto for EKS, the stand-in on loopback): an operation that
ends in an error is retried under the same `POWERCYCLE_MAX_ATTEMPTS` rule as EC2 starts,
then reported on every pass without another call until the next event."""

from __future__ import annotations

from typing import Any

import pytest

from powercycle.core.verify import ATTEMPTS_TAG
from powercycle.handler import run_event
from powercycle.local.castai_standin import CastAIStandin
from tests.test_faults_castai import (  # noqa: F401 - the fixtures, by name
    STATE,
    STOP_EVENT,
    at,
    aws,
    castai,
    cluster_tags,
    config,
    errors,
    pair,
)


@pytest.mark.usefixtures("aws")
def test_failed_operations_are_bounded_by_max_attempts(request: pytest.FixtureRequest) -> None:
    standin: CastAIStandin = request.getfixturevalue("castai")
    ids = pair(standin)
    standin.fail_operations(10, reason="HibernationFailed", details="drain", cluster_id=ids["dev"])
    seen: list[dict[str, Any]] = []
    for minute in ("18:00", "18:15", "18:30"):
        seen.append(run_event({}, config(standin), at(f"2026-11-23 {minute}")))
        assert cluster_tags("dev")[STATE] == STOP_EVENT
    assert cluster_tags("dev")[ATTEMPTS_TAG] == f"{STOP_EVENT}/3"
    assert "(attempt 2 of 3)" in errors(seen[-1])["dev"]
    hibernates = standin.counts["hibernate"]

    for minute in ("18:45", "21:00"):
        later = run_event({}, config(standin), at(f"2026-11-23 {minute}"))
        error = errors(later)["dev"]
        assert error.startswith(f"stop did not take after 3 attempts for {STOP_EVENT}: ")
        assert "HibernationFailed drain" in error and "next event" in error
        assert [a for a in later["actions"] if a["id"] == "dev"] == []
    assert standin.counts["hibernate"] == hibernates  # no more calls for this event
