"""A micro-batching queue in front of an in-process engine.

Many graph threads call `generate()` at once, each with a handful of requests. Fed one by
one, an in-process engine would run each handful as its own small batch. This wrapper
collects the calls that arrive together and sends them to the inner engine as one batch:
it flushes as soon as every registered client is waiting (no one else can add work), or
after `max_wait_s`, whichever comes first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from paracycle.engines.base import BatchLog, ChatRequest, Engine, GenerationResult, TokenCallback


@dataclass
class _PendingCall:
    requests: list[ChatRequest]
    on_tokens: TokenCallback | None
    done: threading.Event = field(default_factory=threading.Event)
    results: list[GenerationResult] | None = None
    error: BaseException | None = None


class BatchingEngine(Engine):
    def __init__(self, inner: Engine, max_wait_s: float = 1.0, max_batch: int = 512, keep_sizes: int = 4096):
        self.inner = inner
        self.model_id = inner.model_id
        self.adapter_id = inner.adapter_id
        self.device = inner.device
        self.max_wait_s = max_wait_s
        self.max_batch = max_batch
        self.batch_log = BatchLog(keep_sizes)  # requests per inner call, for benchmarks and tests
        self._lock = threading.Condition()
        self._pending: list[_PendingCall] = []
        self._clients = 0
        self._closed = False
        self._worker = threading.Thread(target=self._serve, name="paracycle-batcher", daemon=True)
        self._worker.start()

    @property
    def batch_sizes(self) -> list[int]:
        """Requests per inner call, for the last `keep_sizes` calls (`batch_log` has totals)."""
        return self.batch_log.recent()

    def is_up(self) -> bool:
        return self.inner.is_up()

    def reset_prefix_cache(self) -> None:
        self.inner.reset_prefix_cache()

    @contextmanager
    def client(self):
        """Mark a thread as a client while it runs: the batcher waits for all clients."""
        with self._lock:
            self._clients += 1
        try:
            yield
        finally:
            with self._lock:
                self._clients -= 1
                self._lock.notify_all()

    def generate(
        self, requests: Sequence[ChatRequest], on_tokens: TokenCallback | None = None
    ) -> list[GenerationResult]:
        if not requests:
            return []
        self.inner.check(requests)  # in the caller's thread: a prompt too long fails this caller only
        call = _PendingCall(list(requests), on_tokens)
        with self._lock:
            if self._closed:
                raise RuntimeError("the batching engine is closed")
            self._pending.append(call)
            self._lock.notify_all()
        call.done.wait()
        if call.error is not None:
            raise call.error
        return call.results  # type: ignore[return-value]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._worker.join(timeout=5)
        self.inner.close()

    # -- the worker ---------------------------------------------------------------------

    def _serve(self) -> None:
        while True:
            calls = self._next_batch()
            if calls is None:
                return
            self._run(calls)

    def _next_batch(self) -> list[_PendingCall] | None:
        with self._lock:
            while not self._pending and not self._closed:
                self._lock.wait()
            if self._closed and not self._pending:
                return None
            deadline = time.monotonic() + self.max_wait_s
            while not self._closed:
                queued = sum(len(c.requests) for c in self._pending)
                everyone_waiting = len(self._pending) >= max(self._clients, 1)
                remaining = deadline - time.monotonic()
                if everyone_waiting or queued >= self.max_batch or remaining <= 0:
                    break
                self._lock.wait(timeout=remaining)
            calls, self._pending = self._pending, []
            return calls

    def _run(self, calls: list[_PendingCall]) -> None:
        requests = [r for c in calls for r in c.requests]
        # One call per distinct callback. Compared with ==, not id(): every cycle passes the
        # collector's same bound method, but as a new object each time, and counting the batch's
        # tokens once per caller would multiply them.
        callbacks: list[TokenCallback] = []
        for c in calls:
            if c.on_tokens is not None and c.on_tokens not in callbacks:
                callbacks.append(c.on_tokens)

        def fan_out(n: int) -> None:
            for callback in callbacks:
                callback(n)

        self.batch_log.add(len(requests))
        try:
            results = self.inner.generate(requests, on_tokens=fan_out if callbacks else None)
        except BaseException as err:  # hand the failure to every caller in this batch
            for c in calls:
                c.error = err
                c.done.set()
            return
        start = 0
        for c in calls:
            c.results = results[start : start + len(c.requests)]
            start += len(c.requests)
            c.done.set()


def batched(engine: Engine) -> Engine:
    """Engines that batch concurrent calls themselves (a server, vLLM's continuous batching)
    are used as they are; the others get the micro-batching queue."""
    return engine if engine.batches_itself else BatchingEngine(engine)
