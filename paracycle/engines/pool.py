"""Several OpenAI-compatible servers of one model behind one engine.

Each request goes to the healthy server with the fewest requests in flight (every server
batches what it is given, so an even spread keeps every batch full). A server that stops
answering is marked down and the request goes to another; a down server is tried again
after `recheck_s`. Adapters are loaded on every server, and on a server that comes back
before it gets another request, so any server can serve any request.

This is the client half of load balancing only: it needs no extra process. A lab that
prefers one address can put a router in front of its servers (vLLM's router, Ray Serve LLM)
and give that one URL instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from paracycle.engines.base import (
    ChatRequest,
    Engine,
    EngineUnavailable,
    GenerationResult,
    TokenCallback,
    concurrently,
)


class ServerPool(Engine):
    batches_itself = True
    device = "server"

    def __init__(self, connect: Callable[[str], Engine], urls: Sequence[str], log=print, recheck_s: float = 30.0):
        """`connect(url)`: an engine for one server (an OpenAIEngine); a server that cannot be
        reached now is tried again later. At least one must answer."""
        self.urls, self.connect, self.log, self.recheck_s = list(urls), connect, log, recheck_s
        self.engines: list[Engine | None] = [None] * len(self.urls)
        self.in_flight = [0] * len(self.urls)
        self.served = [0] * len(self.urls)  # requests answered, per server
        self.down_at: dict[int, float] = {}
        self.adapter: tuple[str | Path | None, str | None] = (None, None)
        self.adapter_on: set[int] = set()  # servers the current adapter is loaded on
        self._lock = threading.Lock()  # the counters and the down list
        self._server_locks = [threading.Lock() for _ in self.urls]  # connecting, loading an adapter
        errors = []
        for i in range(len(self.urls)):
            try:
                self._engine(i)
            except EngineUnavailable as e:
                errors.append(str(e))
                self._mark_down(i, "not reachable")
        if len(errors) == len(self.urls):
            raise EngineUnavailable(f"none of the {len(self.urls)} servers answered: {'; '.join(errors)}")
        first = next(e for e in self.engines if e is not None)
        self.model_id = first.model_id
        self.adapter_id = None
        self.concurrency = sum(getattr(e, "concurrency", 8) for e in self.engines if e is not None) or 8

    # -- servers -------------------------------------------------------------------------------

    def _engine(self, i: int) -> Engine:
        """Server i's engine, connected and given the current adapter on first use (again
        after it was down: a restarted server has forgotten the adapters loaded at runtime)."""
        with self._server_locks[i]:
            engine = self.engines[i]
            if engine is None:
                engine = self.connect(self.urls[i])
                self.engines[i] = engine
            if i not in self.adapter_on:
                engine.set_adapter(*self.adapter)
                self.adapter_on.add(i)
            return engine

    def _mark_down(self, i: int, why: str) -> None:
        with self._lock:
            first = i not in self.down_at
            self.down_at[i] = time.monotonic()
            self.adapter_on.discard(i)
        if first:
            self.log(f"server {self.urls[i]} is down ({why}); its requests go to the others")

    def _pick(self, tried: set[int]) -> int | None:
        """The server with the fewest requests in flight among those not down (a down one
        counts again once `recheck_s` has passed), and not yet tried for this request."""
        now = time.monotonic()
        with self._lock:
            ready = [i for i in range(len(self.urls))
                     if i not in tried and now - self.down_at.get(i, -self.recheck_s - 1) > self.recheck_s]
            if not ready:
                return None
            i = min(ready, key=lambda k: (self.in_flight[k], self.served[k], k))
            self.in_flight[i] += 1
            return i

    # -- the Engine interface ------------------------------------------------------------------

    def _one(self, request: ChatRequest) -> GenerationResult:
        tried: set[int] = set()
        errors = []
        while True:
            i = self._pick(tried)
            if i is None:
                raise EngineUnavailable(f"none of the {len(self.urls)} servers answered: {'; '.join(errors)}")
            try:
                result = self._engine(i).generate([request])[0]
            except EngineUnavailable as e:
                errors.append(str(e))
                tried.add(i)
                self._mark_down(i, str(e))
                continue
            finally:
                with self._lock:
                    self.in_flight[i] -= 1
            with self._lock:
                self.served[i] += 1
                if self.down_at.pop(i, None) is not None:
                    self.log(f"server {self.urls[i]} answers again")
            return result

    def generate(self, requests: Sequence[ChatRequest], on_tokens: TokenCallback | None = None) -> list[GenerationResult]:
        return concurrently(self._one, requests, self.concurrency, on_tokens)

    def set_adapter(self, adapter: str | Path | None, name: str | None = None) -> None:
        """On every server that answers now; the others get it when they are next used."""
        with self._lock:
            self.adapter, self.adapter_on = (adapter, name), set()
        for i in range(len(self.urls)):
            try:
                self._engine(i)
            except EngineUnavailable as e:
                self._mark_down(i, str(e))
        served = [e for e in self.engines if e is not None]
        self.adapter_id = served[0].adapter_id if served else None

    def is_up(self) -> bool:
        """Some server answers (one never reached is tried now)."""
        for i, engine in enumerate(self.engines):
            try:
                if (engine or self._engine(i)).is_up():
                    return True
            except EngineUnavailable:
                continue
        return False

    def spread(self) -> dict[str, int]:
        """Requests answered per server so far."""
        return dict(zip(self.urls, self.served))

    def close(self) -> None:
        for engine in self.engines:
            if engine is not None:
                engine.close()
