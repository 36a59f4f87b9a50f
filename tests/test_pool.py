"""The one thread pool (`runtime.pool`), the text helpers (`runtime.text`), and a pass whose
slow waits overlap (a provider acts while another's schedule document is still read)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from powercycle import engine, sources
from powercycle.config import Config
from powercycle.core.decide import Power
from powercycle.core.schedule import Action, Schedule
from powercycle.providers import ActionError, ActRequest, Resource
from powercycle.runtime import pool, text
from powercycle.runtime.budget import Budget
from powercycle.sources import fetch
from tests.helpers import client_error

SEED = '{"start": "0 8 * * 1-5", "stop": "55 17 * * 1-5"}'
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)  # Monday: the 17:55 stop is due


class MainThreadExecutor(Executor):
    """Runs each task at once on the calling thread (cloud-custodian's test executor)."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


def test_answers_in_order_with_exceptions_in_place() -> None:
    def work(n: int) -> int:
        if n == 3:
            raise ValueError("three")
        time.sleep(0.01 * (5 - n))  # finishing out of order
        return n * 10

    answers = pool.map_guarded([1, 2, 3, 4], work, workers=4)
    assert answers[:2] == [10, 20] and answers[3] == 40
    assert isinstance(answers[2], ValueError) and str(answers[2]) == "three"


def test_a_spent_budget_defers_every_item_not_started() -> None:
    ran: list[int] = []
    answers = pool.map_guarded([1, 2], ran.append, workers=2, budget=Budget(0))
    assert answers == [pool.DEFERRED, pool.DEFERRED] and ran == []
    assert str(pool.DEFERRED) == "pass budget spent"


def test_the_executor_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []

    def main_thread(workers: int) -> Executor:
        sizes.append(workers)
        return MainThreadExecutor(workers)

    monkeypatch.setattr(pool, "EXECUTOR", main_thread)
    threads = pool.map_guarded(range(20), lambda _: threading.get_ident(), workers=8)
    assert set(threads) == {threading.get_ident()} and sizes == [8]
    with pool.Streams(2) as streams:
        assert streams.submit(lambda: 7).result() == 7


def test_text_helpers() -> None:
    assert text.squash(" a\n  b\tc ") == "a b c"
    assert text.clip("abcdef", 5) == "ab..." and text.clip("abc", 5) == "abc"
    assert text.one_line("x \n" * 300, 10) == "x x x x..."
    assert text.first_line("one\ntwo") == "one"
    assert text.duration(timedelta(hours=3)) == "3h"
    assert text.duration(timedelta(minutes=90)) == "90m"
    assert text.duration(timedelta(days=2)) == "2d"
    aws = client_error("Throttling", "Rate exceeded\nmore", "DescribeInstances")
    assert text.error_line(aws) == "Throttling: Rate exceeded"
    assert text.error_line(KeyError("k")) == "KeyError: 'k'"
    assert text.error_line(RuntimeError()) == "RuntimeError"


class Lane:
    """A provider with one running resource; `act` calls `on_act` first."""

    kind = "ec2"

    def __init__(self, region: str, schedule: str, on_act: Callable[[], None]) -> None:
        self.region = region
        self.schedule = schedule
        self.on_act = on_act
        self.acted: list[str] = []

    def discover(self, tag: str) -> list[Resource]:
        box = f"i-{self.region}"
        return [Resource("ec2", box, self.region, {tag: self.schedule}, Power.RUNNING)]

    def lookup(self, refs: Sequence[str]) -> dict[str, Resource]:
        return {}

    def act(self, action: Action, requests: Sequence[ActRequest]) -> dict[str, ActionError | None]:
        self.on_act()
        self.acted += [f"{action} {r.resource.id}" for r in requests]
        return {r.resource.id: None for r in requests}

    def record(self, key: str, values: Any) -> dict[str, str]:
        return {}


def test_a_lane_acts_while_another_lanes_document_is_still_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The inline lane's action releases the document: were the waits one after the other
    (every document before any action), the document would time out and the pass would
    take its whole window."""
    acted = threading.Event()

    def slow_get(url: str, **_: Any) -> bytes:
        assert acted.wait(10), "no lane acted while this document was read"
        return SEED.encode()

    monkeypatch.setattr(fetch, "http_get", slow_get)
    url = "https://schedules.example.com/office.json"
    inline = Lane("eu-west-1", SEED, acted.set)
    fetched = Lane("eu-west-2", url, lambda: None)
    config = Config(regions=("eu-west-1", "eu-west-2"), url_allowlist=(url,))
    started = time.monotonic()
    summary = engine.run_pass(config, NOW, providers=[inline, fetched])
    assert time.monotonic() - started < 10
    assert inline.acted == ["stop i-eu-west-1"] and fetched.acted == ["stop i-eu-west-2"]
    assert summary.counts == {"done": 2}


def test_resolving_together_failing_falls_back_to_one_by_one(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = sources.Resolution
    failures = iter([RuntimeError("can't start new thread")])

    def flaky(*a: Any, **kw: Any) -> sources.Resolution:
        for failure in failures:
            raise failure
        return real(*a, **kw)

    monkeypatch.setattr(sources, "Resolution", flaky)
    config = Config(regions=("eu-west-1",))
    schedules = sources.resolution([SEED, "notjson!"], config, Budget(60))
    assert "resolving schedules together failed" in caplog.text
    assert isinstance(schedules.get(SEED), Schedule)
    assert str(schedules.get("notjson!")).startswith("bad schedule: not JSON")
