"""Concurrent trajectory collection: K independent cycles per argument structure, C at once.

Every cycle is an ordinary durable graph thread with a deterministic id
(`<title>-<structure hash>-s<k>`), so running the same collection again skips the threads
that finished and resumes the ones that did not. Generation requests from all concurrent
threads reach an in-process engine through one micro-batching queue (`BatchingEngine`); an
HTTP engine gets concurrent requests, which the server batches itself.

A server that goes away mid-collection does not lose work: the interrupted thread records
the failure in the store, waits for the server to come back, and resumes from its last
checkpoint. A thread that another process is running (a second `collect` on the same inputs,
a round beside it) is skipped and reported, never run twice at once. Recording a failure is
best effort: a store that can not take it (a full disk) is reported on stderr, and the batch
goes on.
"""

from __future__ import annotations

import hashlib
import re
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from paracycle.agents.reviewer import Reviewer
from paracycle.agents.writer import Writer
from paracycle.config import EngineSpec, RunConfig
from paracycle.engines.base import Engine, EngineUnavailable, adapter_name, close_engines, distinct
from paracycle.engines.batching import batched
from paracycle.graphs.configuration import CycleContext
from paracycle.graphs.cycle import open_checkpointer, run_cycle
from paracycle.models import load_engines
from paracycle.progress import CollectProgress
from paracycle.rundir import RunDir
from paracycle.schemas import ArgumentStructure
from paracycle.settings import sample_seed
from paracycle.store import ThreadBusy, TrajectoryStore


@dataclass(frozen=True)
class CollectJob:
    source: str
    structure: ArgumentStructure
    sample: int
    thread_id: str


@dataclass
class CollectResult:
    finished: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    busy: dict[str, str] = field(default_factory=dict)  # thread -> why: another process runs it
    tokens: int = 0
    seconds: float = 0.0
    batches: int = 0  # engine batches (steps, for vLLM) and the requests in them, all together
    batched_requests: int = 0
    largest_batch: int = 0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        batching = (f", {self.batches} engine batches of {self.batched_requests / self.batches:.1f} requests on average"
                    if self.batches else "")
        return (f"collected {self.finished} cycles, {self.skipped} finished earlier, {len(self.failed)} failed; "
                f"{self.tokens} tokens in {self.seconds:.1f}s ({self.tokens_per_second:.1f} tok/s){batching}")

    def problems(self) -> list[str]:
        """A line per cycle that did not finish: skipped (another process runs it) or failed."""
        return [
            *(f"skipped: {thread}: {why}; rerun later to collect it" for thread, why in self.busy.items()),
            *(f"failed: {thread}: {error}" for thread, error in self.failed.items()),
        ]


def collect(
    run: RunConfig,
    jobs: list[CollectJob],
    run_dir: RunDir,
    store: TrajectoryStore,
    *,
    concurrency: int = 8,
    wait_for_server_s: float = 300.0,
    console=None,
    log: Callable[[str], None] = print,
    engines: tuple[Engine, Engine] | None = None,
) -> CollectResult:
    """The one collection path (`paracycle collect`, a round, the benchmark): the jobs not
    finished yet run on engines loaded for them, under a progress bar on `console` (a rich
    Console; None: no bar), and the engines are closed however it ends. `engines`: (writer,
    reviewer) already loaded by the caller, who keeps them open (the benchmark reuses them)."""
    done = sum(store.is_finished(j.thread_id) for j in jobs)
    log(f"{len(jobs)} cycles, {done} finished earlier")
    if done == len(jobs):
        return CollectResult(skipped=done)
    writer, reviewer = engines or load_engines(run, log=log, console=console)
    try:
        with CollectProgress(console, total=len(jobs), done=done) if console else nullcontext() as bar:
            callbacks = dict(on_tokens=bar.on_tokens, on_cycle_done=bar.cycle_done, on_failure=bar.failure) if bar else {}
            collector = Collector(
                run, writer, reviewer, store, run_dir.checkpoints,
                concurrency=concurrency, wait_for_server_s=wait_for_server_s, **callbacks,
            )
            return collector.run(jobs)
    finally:
        if engines is None:
            close_engines(writer, reviewer)


def writer_tag(writer: EngineSpec, base_model: str | None = None) -> str | None:
    """What collection thread ids say about the writer: its adapter, or (a round's full
    fine-tuning) a checkpoint other than `base_model`. None: the base writer."""
    if writer.adapter:
        return adapter_name(writer.adapter)
    if base_model is not None and writer.model != base_model:
        return Path(writer.model).name
    return None


def in_shard(thread_id: str, shard: tuple[int, int]) -> bool:
    """Whether shard (i, n) runs this thread: by a hash of the thread id alone, so every
    machine given the same inputs agrees on the split without talking to the others."""
    i, n = shard
    return int(hashlib.sha256(thread_id.encode()).hexdigest(), 16) % n == i


def plan_jobs(
    structures: list[tuple[str, ArgumentStructure]], samples: int, tag: str | None = None, first: int = 0
) -> list[CollectJob]:
    """`tag` names the writer (a round's adapter): a new writer's cycles are new threads,
    not the base writer's finished ones. Samples are numbered from `first`, so a writer
    sampled again (its round was not promoted) gets new seeds and new threads."""
    jobs = []
    writer = f"-{re.sub(r'[^A-Za-z0-9._-]+', '-', tag)[:40]}" if tag else ""
    for source, structure in structures:
        slug = re.sub(r"[^a-z0-9]+", "-", structure.title.lower()).strip("-")[:24].strip("-") or "cycle"
        for k in range(first, first + samples):
            jobs.append(CollectJob(source, structure, k, f"{slug}-{structure.content_hash()[:8]}{writer}-s{k}"))
    return jobs


class Collector:
    def __init__(
        self,
        run_config: RunConfig,
        writer_engine: Engine,
        reviewer_engine: Engine,
        store: TrajectoryStore,
        checkpoint_path: str | Path,
        concurrency: int = 8,
        wait_for_server_s: float = 300.0,
        on_tokens=None,
        on_cycle_done=None,
        on_failure=None,
    ):
        self.run_config = run_config
        self.store = store
        self.checkpoint_path = checkpoint_path
        self.concurrency = concurrency
        self.wait_for_server_s = wait_for_server_s
        self.on_tokens = on_tokens
        self.on_cycle_done = on_cycle_done or (lambda: None)
        self.on_failure = on_failure or (lambda: None)
        self.writer_engine = batched(writer_engine)
        self.reviewer_engine = self.writer_engine if reviewer_engine is writer_engine else batched(reviewer_engine)
        self._tokens = 0
        self._tokens_lock = threading.Lock()

    def run(self, jobs: list[CollectJob]) -> CollectResult:
        result = CollectResult()
        todo = [j for j in jobs if not self.store.is_finished(j.thread_id)]
        result.skipped = len(jobs) - len(todo)
        started = time.perf_counter()
        self._saver = open_checkpointer(self.checkpoint_path)  # one connection for all threads
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="paracycle-cycle")
        try:
            for job, (outcome, message) in zip(todo, pool.map(self._run_job, todo)):
                if outcome == "finished":
                    result.finished += 1
                elif outcome == "busy":
                    result.busy[job.thread_id] = message
                else:
                    result.failed[job.thread_id] = message
        except KeyboardInterrupt:
            # Every step is checkpointed: nothing is lost by not waiting for running cycles.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        self._saver.conn.close()
        result.seconds = time.perf_counter() - started
        result.tokens = self._tokens
        for engine in distinct(self.writer_engine, self.reviewer_engine):
            log = engine.batch_log  # None: a server batches out of our sight
            if log is not None:
                result.batches += log.count
                result.batched_requests += log.requests
                result.largest_batch = max(result.largest_batch, log.largest)
        return result

    # -- one thread -----------------------------------------------------------------------

    def _run_job(self, job: CollectJob) -> tuple[str, str | None]:
        """("finished", None), ("busy", why) or ("failed", error)."""
        cfg = self.run_config.cycle.with_seed(sample_seed(self.run_config.seed, job.structure.content_hash(), job.sample))
        ctx = CycleContext(
            thread_id=job.thread_id,
            writer=Writer(self.writer_engine, cfg.writer),
            reviewer=Reviewer(self.reviewer_engine, cfg.reviewer),
            config=cfg,
            store=self.store,
            on_tokens=self._count_tokens,
        )
        with ExitStack() as clients:  # each batching queue learns of this thread
            for engine in distinct(self.writer_engine, self.reviewer_engine):
                clients.enter_context(engine.client())
            while True:
                try:
                    run_cycle(job.structure, ctx, self._saver)
                    self.on_cycle_done()
                    return "finished", None
                except ThreadBusy as err:  # not a failure: the other process is running it
                    return "busy", f"being run by another process (pid {err.pid})"
                except EngineUnavailable as err:
                    self._record_failure(job.thread_id, str(err))
                    self.on_failure()
                    if not self._wait_for_server():
                        return "failed", str(err)
                except Exception as err:  # one broken thread must not stop the collection
                    message = f"{type(err).__name__}: {err}"
                    self._record_failure(job.thread_id, message)
                    self.on_failure()
                    return "failed", message

    def _record_failure(self, thread_id: str, message: str) -> None:
        """The failure row is a note for later; a store that can not take it (a full disk)
        must not turn one failed cycle into a crashed batch."""
        try:
            self.store.record_failure(thread_id, message)
        except Exception as err:
            print(f"warning: could not record the failure of {thread_id} in the store ({type(err).__name__}: {err}): "
                  f"{message}", file=sys.stderr)

    def _count_tokens(self, n: int) -> None:
        with self._tokens_lock:
            self._tokens += n
        if self.on_tokens is not None:
            self.on_tokens(n)

    def _wait_for_server(self) -> bool:
        deadline = time.monotonic() + self.wait_for_server_s
        while time.monotonic() < deadline:
            if all(e.is_up() for e in distinct(self.writer_engine, self.reviewer_engine)):
                return True
            time.sleep(2.0)
        return False
