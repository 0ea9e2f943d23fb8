"""What the commands do, apart from parsing arguments and printing results.

One function per command (collection and rounds have their own modules: `paracycle.collect`,
`paracycle.training.round`). Each loads what it needs, runs, closes what it opened, and
returns a result for the CLI to print. Progress goes to the rich Console they are given
(stderr); nothing here prints results.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from paracycle.agents.analyst import Analyst
from paracycle.agents.reviewer import Reviewer, ReviewOutcome
from paracycle.agents.writer import Writer
from paracycle.config import RunConfig, load_config
from paracycle.engines.base import close_engines
from paracycle.errors import InputError
from paracycle.eval.compare import GateSettings, compare_policies
from paracycle.eval.ledger import check_paper
from paracycle.eval.reward import RewardWeights
from paracycle.graphs.configuration import CycleContext
from paracycle.graphs.cycle import run_cycle
from paracycle.ingest.arxiv_fetch import ArxivSettings, FetchedPaper, fetch
from paracycle.ingest.pipeline import IngestRecord, ingest_dir, ingest_papers, structure_path
from paracycle.loading import load_model, load_structure, read_mapping, structure_files
from paracycle.metrics import GateMetrics
from paracycle.models import describe, load_engine, load_engines, loading
from paracycle.paper import Paper
from paracycle.progress import DraftProgress, StageProgress
from paracycle.registry import Policy
from paracycle.resolve import Overrides, apply_overrides, resolve_policy
from paracycle.rundir import RunDir
from paracycle.schemas import ArgumentStructure, Draft, Evidence, StructuralCheck, Trajectory
from paracycle.store import TrajectoryStore
from paracycle.training.dataset import PairsManifest, write_dataset
from paracycle.training.pairs import PairSettings, build_pairs
from paracycle.training.round import RoundConfig, load_round_config

Log = Callable[[str], None]


# -- cycle ----------------------------------------------------------------------------------


def new_thread_id(structure: ArgumentStructure) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", structure.title.lower()).strip("-")[:32].strip("-") or "cycle"
    return f"{slug}-{secrets.token_hex(3)}"


def run_thread(
    structure: ArgumentStructure, source: str, thread_id: str, run: RunConfig, run_dir: RunDir,
    store: TrajectoryStore, console: Console,
) -> Trajectory:
    """One cycle on one thread: started, resumed from its checkpoint, or (finished) shown."""
    known = store.structure_hash(thread_id)
    if known is not None and known != structure.content_hash():
        raise InputError(source, f"thread {thread_id!r} was started from a different argument structure; use another --thread-id")
    if known is None:
        console.log(f"thread {thread_id} (resume after a crash with --thread-id {thread_id})")
    if store.is_finished(thread_id):
        console.log(f"thread {thread_id} finished earlier; showing the stored trajectory")
        return store.load(thread_id)
    with store.claim(thread_id):  # a thread another process runs is refused before a model loads;
        pass  # run_cycle holds the claim while the cycle runs
    writer, reviewer = load_engines(run, log=console.log, console=console)
    try:
        with StageProgress(console) as progress:
            ctx = CycleContext(
                thread_id=thread_id,
                writer=Writer(writer, run.cycle.writer),
                reviewer=Reviewer(reviewer, run.cycle.reviewer),
                config=run.cycle,
                store=store,
                on_stage=progress.stage,
                on_tokens=progress.on_tokens,
            )
            run_cycle(structure, ctx, run_dir.checkpoints)
    finally:
        close_engines(writer, reviewer)
    return store.load(thread_id)


# -- review ---------------------------------------------------------------------------------


@dataclass
class PaperReview:
    title: str
    draft: Draft
    check: StructuralCheck
    outcome: ReviewOutcome
    evidence: list[Evidence]


def review_paper(paper: Paper, structure: ArgumentStructure | None, run: RunConfig, console: Console) -> PaperReview:
    """The structural check against the structure (or, without one, the paper's own
    evidence), then the reviewer model's review (and, with `reviewer.second_opinion` on, its
    verdict on the check's borderline commitments)."""
    ledger = check_paper(paper, structure, run.cycle.lengths)  # the same ledger `paracycle check` prints
    draft, evidence, claims, check = ledger.draft, ledger.evidence, ledger.claims, ledger.check
    # Only the reviewer's engine: the one `load_engines` would hand the reviewer, without
    # also loading a writer that a review never calls.
    spec = run.reviewer or run.writer
    with loading(spec, console):
        reviewer = load_engine(spec, log=console.log)
    console.log(describe("reviewer", reviewer))
    try:
        with StageProgress(console) as progress:
            progress.stage("reviewing")
            agent = Reviewer(reviewer, run.cycle.reviewer)
            outcome = agent.review(paper.title, draft, evidence, claims, check, on_tokens=progress.on_tokens)
            if run.cycle.reviewer.second_opinion:
                # Shown beside the check's verdicts (status and closure rate stay its own);
                # `review` keeps no generations, so only the check is kept.
                progress.stage("second opinion")
                check = agent.second_opinion(check, evidence, claims, on_tokens=progress.on_tokens).check
    finally:
        reviewer.close()
    return PaperReview(paper.title, draft, check, outcome, evidence)


# -- pairs ----------------------------------------------------------------------------------


class NoPairs(RuntimeError):
    pass


def build_pairs_dataset(
    run_dir: RunDir, holdout: list[Path], min_margin: float | None, round_config: Path | None, console: Console,
) -> tuple[Path, PairsManifest]:
    """A versioned DPO dataset from every finished trajectory, held-out structures excluded
    (those of the round config and of `holdout`)."""
    settings, cycle, held = PairSettings(), None, set()
    if round_config is not None:
        config, _, held_structures = load_round_config(round_config)
        settings, cycle = config.pairs, config.run.cycle
        held = {s.content_hash() for s in held_structures}
    held |= {load_structure(f).content_hash() for f in structure_files(holdout)}
    if min_margin is not None:
        settings.min_margin = min_margin
    store = run_dir.existing_store("paracycle collect")
    try:
        with console.status("scoring drafts and building pairs"):
            trajectories = [store.load(t) for t in store.thread_ids() if store.is_finished(t)]
            built = build_pairs(trajectories, settings, cycle, exclude_structures=held)
    finally:
        store.close()
    if not built.rows:
        raise NoPairs(f"no pairs: {len(built.threads)} usable trajectories, ties dropped {dict(built.dropped_ties)}")
    return write_dataset(built, run_dir.pairs, settings, held)


# -- eval -----------------------------------------------------------------------------------


@dataclass
class EvalPlan:
    """What `paracycle eval` compares, resolved: the run's engines and cycle, the gate's
    settings and seed, and the reward weights (a round config gives all of them)."""

    run: RunConfig
    settings: GateSettings
    seed: int
    weights: RewardWeights


def eval_plan(config_file: Path | None, overrides: Overrides, settings: dict) -> EvalPlan:
    """A round config (`kind: round`) evaluates exactly as its gate does; a run config (or
    none) uses the gate's defaults. `settings`: the command line's gate options, not None."""
    if config_file is not None and read_mapping(config_file).get("kind") == "round":
        round_config = load_model(config_file, RoundConfig)
        run, gate, seed, weights = round_config.run, round_config.gate, round_config.seed, round_config.pairs.weights
    else:
        run = load_config(config_file)
        gate, seed, weights = GateSettings(), run.seed or 0, RewardWeights()
    # The writers are named on the command line: no promoted writer is looked up (run_dir None).
    run = apply_overrides(run, overrides, None)
    seed = overrides.seed if overrides.seed is not None else seed
    return EvalPlan(run, gate.model_validate({**gate.model_dump(), **settings}), seed, weights)


def evaluate_writers(
    writer: str, against: str, structures: list[ArgumentStructure], plan: EvalPlan, run_dir: RunDir, console: Console,
) -> tuple[Policy, Policy, GateMetrics]:
    base_model = plan.run.writer.model
    candidate = resolve_policy(writer, base_model, run_dir, "--writer")
    current = resolve_policy(against, base_model, run_dir, "--against")
    total = 2 * len(structures) * plan.settings.samples
    with DraftProgress(console, total) as bar:
        metrics = compare_policies(
            plan.run, candidate, current, structures, plan.settings, plan.seed, plan.weights,
            log=console.log, on_draft=bar.advance,
        )
    return candidate, current, metrics


# -- ingest ---------------------------------------------------------------------------------


@dataclass
class IngestResult:
    papers: list[FetchedPaper]
    todo: int  # papers that were (re)analysed this time
    records: list[IngestRecord]

    @property
    def failed(self) -> list[IngestRecord]:
        return [r for r in self.records if r.status == "failed"]


def ingest_arxiv(
    out_dir: Path, query: str | None, ids: list[str], max_results: int, delay_s: float, force: bool,
    run: RunConfig, console: Console,
) -> IngestResult:
    """Fetch (cached), parse, and let the analyst write an argument structure per paper."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with console.status("fetching from arXiv"):
        papers = fetch(
            query=query, ids=ids or None, max_results=max_results,
            cache_dir=ingest_dir(out_dir) / "cache", settings=ArxivSettings(delay_s=delay_s),
            on_paper=lambda p: console.log(
                f"{p.meta.id}v{p.meta.version or '?'}: {'cached' if p.cached else 'fetched'}"
                + (f" (no source: {p.error})" if p.error else "")
            ),
        )
    # Known before any model is loaded: a rerun with everything done loads none.
    todo = [p for p in papers if force or not structure_path(out_dir, p.meta).exists()]
    console.log(f"{len(papers)} papers, {len(papers) - len(todo)} ingested earlier")
    records = []
    if todo:
        # The analyst reads papers: it runs on the reviewer's engine (the base model, no adapter).
        analyst = Analyst(load_engine(run.reviewer_spec(), log=console.log))
        try:
            with StageProgress(console) as progress:
                records = ingest_papers(
                    todo, out_dir, analyst, force=force,
                    on_start=lambda p: progress.stage(f"analysing {p.meta.id}"), on_tokens=progress.on_tokens,
                )
        finally:
            analyst.engine.close()
    return IngestResult(papers, len(todo), records)
