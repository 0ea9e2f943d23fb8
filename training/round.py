"""A DPO round: collect -> pairs -> train -> evaluate -> gate, and the scheduler that repeats it.

    paracycle round --config round.yaml
    paracycle schedule --every 6h --min-new-pairs 200 --config round.yaml

One round at a time per run directory: a lock file (`round.lock`, an OS lock, so a crashed
process never leaves it held) guards every round. A round that fails is marked `abandoned`
at once, and one that was killed is marked so when the next round starts; its artefacts stay
for inspection and its trajectories stay unconsumed, so the next round trains on them.
Collection is resumable (deterministic thread ids per writer), so a restarted round skips the
cycles already done. The schedule logs a failed round and goes on to its next check.

Paths in manifests are absolute (the run directory is resolved first), and trained weights
are recorded with their digest, so a promoted writer is the same directory from anywhere.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import Field

from paracycle.collect import collect, plan_jobs, writer_tag
from paracycle.config import RunConfig
from paracycle.errors import InputError
from paracycle.eval.compare import GateSettings, compare_policies, reasons
from paracycle.eval.draft_cache import DraftCache
from paracycle.fsutil import tree_digest, write_atomic
from paracycle.loading import load_model, load_structure, structure_files
from paracycle.engines.base import EngineError
from paracycle.models import engine_kind, load_engine, portable_model_name, resolve_model
from paracycle.registry import Policy, RoundManifest, RoundRegistry
from paracycle.rundir import TRAIN_HISTORY, RunDir
from paracycle.schemas import ArgumentStructure, Strict
from paracycle.store import TrajectoryStore
from paracycle.training.dataset import write_dataset
from paracycle.training.dpo import TrainJob, TrainSettings, reference_description, train_with_launcher
from paracycle.training.pairs import PairSettings, build_pairs
from paracycle.training.model_card import write_model_card
from paracycle.training.round_report import write_round_report

Log = Callable[[str], None]


class CollectSettings(Strict):
    samples: int = Field(default=4, ge=0, description="cycles per training structure (0: use what is stored)")
    concurrency: int = Field(default=8, ge=1)
    max_revisions: int | None = Field(default=None, ge=0, description="None: run.cycle.max_revisions")
    per_round: int | None = Field(
        default=None, ge=1,
        description="collect on this many training structures per round, the next slice each round "
                    "(a corpus too large to sample whole on a small machine); None: all of them",
    )


class RoundConfig(Strict):
    kind: Literal["round"] = Field(default="round", description="marks this file as a round config, not a structure")
    structures: list[str] = Field(min_length=1, description="argument structures (files or directories) to train on")
    holdout: list[str] = Field(min_length=1, description="structures only ever used to evaluate")
    seed: int = 0
    run: RunConfig = Field(default_factory=RunConfig)
    collect: CollectSettings = Field(default_factory=CollectSettings)
    pairs: PairSettings = Field(default_factory=PairSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    gate: GateSettings = Field(default_factory=GateSettings)


class RoundBusy(RuntimeError):
    pass


# -- config ---------------------------------------------------------------------------------


def load_round_config(path: Path) -> tuple[RoundConfig, list[tuple[str, ArgumentStructure]], list[ArgumentStructure]]:
    """The config and its (training, held-out) structures; paths are relative to the config."""
    config = load_model(path, RoundConfig)
    if config.train.accelerate_config is not None:
        accelerate = (path.parent / config.train.accelerate_config).resolve()
        if not accelerate.is_file():
            raise InputError(str(path), f"{config.train.accelerate_config!r} is not a file (relative to the config file)",
                             field="train.accelerate_config")
        config.train.accelerate_config = str(accelerate)
    train = [(str(f), load_structure(f)) for f in _files(path, config.structures, "structures")]
    holdout = [load_structure(f) for f in _files(path, config.holdout, "holdout")]
    held = {s.content_hash() for s in holdout}
    for source, structure in train:
        if structure.content_hash() in held:
            raise InputError(str(path), f"{source} is both a training and a held-out structure", field="holdout")
    return config, train, holdout


def _files(config_path: Path, items: list[str], field: str) -> list[Path]:
    paths = []
    for item in items:
        p = (config_path.parent / item).resolve()
        if not p.exists():
            raise InputError(str(config_path), f"{item!r} does not exist (relative to the config file)", field=field)
        paths.append(p)
    return structure_files(paths)


# -- the lock -------------------------------------------------------------------------------


@contextmanager
def round_lock(run_dir: RunDir) -> Iterator[None]:
    run_dir.root.mkdir(parents=True, exist_ok=True)
    with open(run_dir.round_lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise RoundBusy(f"another round is running in {run_dir.root} (pid {holder})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- one round ------------------------------------------------------------------------------


def run_round(config_path: Path, run_dir: RunDir, log: Log = print, console=None, drafted: dict | None = None) -> RoundManifest:
    """`drafted`: held-out drafts kept across rounds by a caller that compares the same writers
    again (bench/learning_curve.py); see `compare_policies`."""
    config, train_structures, holdout = load_round_config(config_path)
    # Absolute: the adapter path a promoted round leaves must mean the same from any directory.
    run_dir = run_dir.resolved()
    with round_lock(run_dir):
        store = run_dir.open_store()
        try:
            return _Round(config, train_structures, holdout, run_dir, store, log, console, drafted).run()
        finally:
            store.close()


class _Round:
    def __init__(self, config: RoundConfig, train_structures, holdout, run_dir: RunDir, store, log: Log, console,
                 drafted: dict | None = None):
        self.config, self.train_structures, self.holdout = config, train_structures, holdout
        self.drafted = drafted
        self.run_dir = run_dir
        self.store, self.log, self.console = store, log, console  # console: progress bars
        self.registry = RoundRegistry(store)

    def run(self) -> RoundManifest:
        for stale in self.registry.unfinished():
            self._abandon(stale, f"crashed or was killed at stage {stale.status!r}; artefacts kept")
        base_model = self.config.run.writer.model
        parent = self.registry.current(base_model)
        round_id = self.registry.next_round_id()
        self.dir = self.run_dir.round(round_id)
        self.dir.mkdir(parents=True, exist_ok=True)
        m = RoundManifest(
            round_id=round_id, parent=parent, base_model=base_model, seed=self.config.seed,
            config=self.config.model_dump(mode="json"),
        )
        self.registry.record(m)
        self.log(f"{round_id}: writer {parent.id}, {len(self.train_structures)} training and {len(self.holdout)} held-out structures")
        stage = "collect"
        try:
            self._timed(m, "collect", self._collect)
            stage = "pairs"
            if not self._timed(m, "pairs", self._pairs):
                return self._finish(m, "skipped", ["no preference pairs above the margin: nothing to train"])
            stage = "train"
            self._timed(m, "train", self._train)
            stage = "evaluate"
            decision, why = self._timed(m, "evaluate", self._evaluate)
            finished = self._finish(m, decision, why)
            if decision == "promoted":
                self._register(finished)
            return finished
        except KeyboardInterrupt:
            self._abandon(m, f"interrupted during {stage}; artefacts kept, trajectories unconsumed")
            raise
        except Exception as e:  # nothing is promoted; say so now rather than at the next round
            self._abandon(m, f"failed during {stage}: {type(e).__name__}: {e}; artefacts kept, trajectories unconsumed")
            raise

    # -- stages ----------------------------------------------------------------------------

    def _collect(self, m: RoundManifest) -> None:
        c = self.config.collect
        if c.samples == 0:
            return
        run = self._run_config(m.parent)
        first = c.samples * self.registry.times_sampled(m.parent)
        tag = writer_tag(run.writer, base_model=m.base_model)
        jobs = plan_jobs(self._collect_slice(), c.samples, tag=tag, first=first)
        m.threads_collected = [j.thread_id for j in jobs]
        result = collect(
            run, jobs, self.run_dir, self.store,
            concurrency=c.concurrency, console=self.console, log=lambda line: self.log(f"collect: {line}"),
        )
        if result.failed:
            raise RuntimeError(f"{len(result.failed)} cycles failed: {next(iter(result.failed.values()))}")
        for line in result.problems():  # busy cycles join a later round once the other process is done
            self.log(f"collect: {line}")
        m.status = "collected"
        self.registry.record(m)

    def _collect_slice(self) -> list[tuple[str, ArgumentStructure]]:
        """All training structures, or (`collect.per_round`) the slice after the one the
        previous trained round took, wrapping around the corpus. The corpus is shuffled once
        by the round seed first, so a slice mixes fields rather than taking one directory."""
        n = self.config.collect.per_round
        structures = self.train_structures
        if n is None or n >= len(structures):
            return structures
        structures = sorted(structures, key=lambda item: item[1].content_hash())  # file order must not matter
        random.Random(self.config.seed).shuffle(structures)
        start = (self.registry.trained_rounds() * n) % len(structures)
        return [structures[(start + i) % len(structures)] for i in range(n)]

    def _pairs(self, m: RoundManifest) -> bool:
        # Only the config's own structures: cycles run by hand in the same run directory, or
        # another config's, are not this round's to train on.
        trajectories = unconsumed_trajectories(self.store, self.train_structures)
        held = {s.content_hash() for s in self.holdout}
        built = build_pairs(trajectories, self.config.pairs, self.config.run.cycle, exclude_structures=held)
        m.pair_counts = built.counts()
        m.threads_used = sorted(built.threads)
        earlier = len(set(m.threads_used) - set(m.threads_collected))
        self.log(f"pairs: {len(built.rows)} rows from {len(built.threads)} of {len(trajectories)} unconsumed "
                 f"trajectories ({earlier} collected before this round): {m.pair_counts}")
        if not built.rows:
            return False
        dataset, _ = write_dataset(built, self.run_dir.pairs, self.config.pairs, held)
        m.dataset = str(dataset)
        m.status = "pairs"
        self.registry.record(m)
        return True

    def _train(self, m: RoundManifest) -> None:
        base_dir, _ = resolve_model(self.config.run.writer.model, log=self.log)
        s = self.config.train
        out = self.dir / (f"{m.round_id}-lora" if s.mode == "lora" else f"{m.round_id}-model")
        m.base_model_name = s.base_model_name or portable_model_name(self.config.run.writer.model)
        job = TrainJob(
            base_model=str(base_dir), base_model_name=m.base_model_name, parent_adapter=m.parent.adapter,
            parent_model=m.parent.model, dataset=m.dataset, out=str(out), settings=s, seed=self.config.seed,
        )
        m.reference = reference_description(job)
        result = train_with_launcher(job, self.dir / "train-job.json", log=self.log)
        m.train_metrics = result.metrics
        write_atomic(self.dir / TRAIN_HISTORY, json.dumps(result.history, indent=1))
        weights = Path(result.out).resolve()
        if s.mode == "lora":
            write_model_card(weights, m, m.base_model_name)  # before the digest: the card is part of it
            m.adapter = str(weights)
        else:
            m.model = str(weights)
        m.weights_digest = tree_digest(weights)  # checked whenever the registry hands it out
        m.status = "trained"
        self.registry.record(m)

    def _evaluate(self, m: RoundManifest) -> tuple[str, list[str]]:
        g = self.config.gate
        candidate = Policy(id=m.round_id, base_model=m.base_model, adapter=m.adapter, model=m.model)
        self.log(f"evaluate: {m.round_id} vs {m.parent.id} on {len(self.holdout)} held-out structures x {g.samples}")
        metrics = compare_policies(
            self.config.run, candidate, m.parent, self.holdout, g, self.config.seed, self.config.pairs.weights,
            log=self.log, drafted=self.drafted, cache=DraftCache(self.run_dir.eval_drafts),
        )
        m.eval_metrics = metrics
        m.status = "evaluated"
        self.registry.record(m)
        return metrics.decision, reasons(metrics, g)

    def _register(self, m: RoundManifest) -> None:
        """A promoted adapter, loaded on every server the writer's engine names, so that a
        `cycle` against any of them can ask for it by name right away. Best effort: a server
        that is down gets it when a collection next uses it."""
        writer = self.config.run.writer
        if m.adapter is None or not writer.urls() or engine_kind(writer) != "openai":
            return
        try:
            engine = load_engine(writer.model_copy(update={"adapter": m.adapter}), log=self.log)
        except EngineError as e:
            self.log(f"{m.round_id}: not registered on the servers ({e}); collections load it when they need it")
            return
        try:
            self.log(f"{m.round_id}: served as {engine.adapter_id} on {', '.join(writer.urls())}")
        finally:
            engine.close()

    # -- helpers ---------------------------------------------------------------------------

    def _run_config(self, writer: Policy) -> RunConfig:
        """The run a round collects with: `writer` drafts, the base model reviews."""
        run = writer.writes(self.config.run)
        if run.seed is None:
            run.seed = self.config.seed
        if self.config.collect.max_revisions is not None:
            run.cycle.max_revisions = self.config.collect.max_revisions
        return run

    def _timed(self, m: RoundManifest, name: str, fn):
        started = time.perf_counter()
        try:
            return fn(m)
        finally:
            m.timings[name] = round(time.perf_counter() - started, 1)

    def _finish(self, m: RoundManifest, status: str, reasons: list[str]) -> RoundManifest:
        m.status, m.decision, m.reasons = status, status, reasons
        m.report = str(self.dir / "report.md")
        self.registry.record(m)  # promotion happens here, in one transaction
        write_round_report(self.dir, m, self.registry.rounds())
        self.log(f"{m.round_id}: {status}" + "".join(f"\n  {r}" for r in reasons))
        return m

    def _abandon(self, m: RoundManifest, reason: str) -> None:
        m.status, m.decision = "abandoned", "abandoned"
        m.reasons = [*m.reasons, reason]
        try:
            self.registry.record(m)
        except Exception as e:  # e.g. a full disk: the error being handled matters more
            self.log(f"{m.round_id}: could not record it as abandoned ({type(e).__name__}: {e})")
            return
        self.log(f"{m.round_id}: abandoned ({reason})")


def unconsumed_trajectories(store: TrajectoryStore, structures: list[tuple[str, ArgumentStructure]]):
    """Finished trajectories of these structures that no finished round has trained on yet."""
    consumed = RoundRegistry(store).consumed_threads()
    own = {s.content_hash() for _, s in structures}
    loaded = (store.load(t) for t in store.thread_ids() if t not in consumed and store.is_finished(t))
    return [t for t in loaded if t.structure.content_hash() in own]


# -- the scheduler --------------------------------------------------------------------------


def count_new_pairs(config_path: Path, run_dir: RunDir) -> int:
    """Rows a round would train on from trajectories that no finished round used yet."""
    config, train, holdout = load_round_config(config_path)
    if not run_dir.has_store():
        return 0
    store = run_dir.open_store()
    try:
        trajectories = unconsumed_trajectories(store, train)
    finally:
        store.close()
    held = {s.content_hash() for s in holdout}
    return len(build_pairs(trajectories, config.pairs, config.run.cycle, exclude_structures=held).rows)


def schedule(
    config_path: Path, run_dir: RunDir, every_s: float, min_new_pairs: int, max_checks: int | None = None,
    log: Log = print, sleep: Callable[[float], None] = time.sleep, console=None,
) -> list[RoundManifest]:
    """Check every `every_s` seconds; run a round when enough new pairs have accumulated."""
    load_round_config(config_path)  # a bad config fails now, not hours from now
    finished, checks = [], 0
    while max_checks is None or checks < max_checks:
        checks += 1
        new = count_new_pairs(config_path, run_dir)
        if new < min_new_pairs:
            log(f"{new} new pairs (< {min_new_pairs}): no round this time")
        else:
            log(f"{new} new pairs: starting a round")
            try:
                finished.append(run_round(config_path, run_dir, log=log, console=console))
            except RoundBusy as e:
                log(f"{e}: skipped")
            except InputError:
                raise  # a config or store the user must fix: retrying every check would not help
            except Exception as e:  # the round is marked abandoned; the next check may succeed
                log(f"round failed ({type(e).__name__}: {e}); trying again at the next check")
        if max_checks is None or checks < max_checks:
            log(f"next check in {every_s:.0f}s")
            sleep(every_s)
    return finished


def parse_duration(text: str) -> float:
    """'90s', '15m', '6h', '1d' (or plain seconds) -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise InputError("--every", f"{text!r} is not a duration (e.g. 90s, 15m, 6h, 1d)")
    value, unit = float(match.group(1)), match.group(2) or "s"
    seconds = value * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    if seconds <= 0:
        raise InputError("--every", "the interval must be positive")
    return seconds
