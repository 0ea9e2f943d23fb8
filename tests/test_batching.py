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


def test_batch_sizes_are_kept_in_bounded_memory_with_totals_for_every_batch():
    """A collection runs for days: the batcher keeps totals over every batch and the sizes of
    only the last few, not a list that grows with every batch."""
    engine = BatchingEngine(ScriptedEngine(continuation="!"), max_wait_s=0.2, keep_sizes=3)
    for n in range(1, 11):  # one caller: every call is its own batch, of n requests
        engine.generate(requests("x", n))
    assert engine.batch_sizes == [8, 9, 10]  # the last three, oldest first
    log = engine.batch_log
    assert (log.count, log.requests, log.largest, log.mean) == (10, 55, 10, 5.5)
    engine.close()


def test_the_default_keeps_a_bounded_number_of_sizes():
    engine = BatchingEngine(ScriptedEngine(continuation="!"), max_wait_s=0.2)
    for _ in range(5000):
        engine.generate(requests("x", 1))
    assert 0 < len(engine.batch_sizes) <= 4096 and engine.batch_log.count == 5000
    engine.close()
