"""The micro-batching queue: concurrent callers become one inner batch, results find their
way back, failures reach every caller."""

from __future__ import annotations

import threading
import time

import pytest
from fakes import ScriptedEngine

from paracycle.engines.base import ChatRequest
from paracycle.engines.batching import BatchingEngine


def requests(tag: str, n: int) -> list[ChatRequest]:
    return [ChatRequest([{"role": "user", "content": f"{tag}{i}"}], prefill=f"{tag}{i}") for i in range(n)]


def run_clients(engine: BatchingEngine, tags: list[str], n: int) -> dict[str, list[str]]:
    texts: dict[str, list[str]] = {}
    barrier = threading.Barrier(len(tags))

    def client(tag):
        with engine.client():
            barrier.wait()
            texts[tag] = [r.text for r in engine.generate(requests(tag, n))]

    threads = [threading.Thread(target=client, args=(t,)) for t in tags]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return texts


def test_concurrent_calls_become_one_batch_and_results_go_home():
    inner = ScriptedEngine(continuation="!")
    engine = BatchingEngine(inner, max_wait_s=10)
    started = time.perf_counter()
    texts = run_clients(engine, ["a", "b", "c", "d"], 3)
    # every client was waiting, so the batch left at once, not after max_wait_s
    assert time.perf_counter() - started < 5
    assert inner.batches == [12] and engine.batch_sizes == [12]
    for tag, got in texts.items():
        assert got == [f"{tag}{i}!" for i in range(3)]
    engine.close()


def test_a_lone_caller_is_not_kept_waiting_for_clients_that_never_come():
    inner = ScriptedEngine(continuation="!")
    engine = BatchingEngine(inner, max_wait_s=0.2)
    assert [r.text for r in engine.generate(requests("x", 2))] == ["x0!", "x1!"]
    engine.close()


def test_an_engine_failure_reaches_every_caller_in_the_batch():
    engine = BatchingEngine(ScriptedEngine(fail_on_call=1), max_wait_s=10)
    errors = []

    def client(tag, barrier):
        with engine.client():
            barrier.wait()
            try:
                engine.generate(requests(tag, 1))
            except RuntimeError as err:
                errors.append(str(err))

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=client, args=(t, barrier)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == ["simulated crash", "simulated crash"]
    engine.close()


def test_closed_engine_refuses_work():
    engine = BatchingEngine(ScriptedEngine())
    engine.close()
    with pytest.raises(RuntimeError, match="closed"):
        engine.generate(requests("x", 1))
