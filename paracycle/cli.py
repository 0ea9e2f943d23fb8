"""The `paracycle` command line.

Results go to stdout (`--json` prints only JSON there); progress and logs go to stderr.
Bad input is one line on stderr and exit code 2; an interrupted cycle says how to resume.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
import typer.core
from rich.console import Console

from paracycle.engines.base import EngineError, PromptTooLong
from paracycle.errors import InputError
from paracycle.fsutil import write_atomic
from paracycle.stdio import RESULTS, print_json, results_only


class _ResultCommand(typer.core.TyperCommand):
    """Parsing and --help print to the real stdout; once the command runs, stdout holds its
    result alone and everything the libraries print goes to stderr (see paracycle.stdio)."""

    def invoke(self, ctx):
        with results_only():
            return super().invoke(ctx)


class _Typer(typer.Typer):
    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or _ResultCommand, **kwargs)


app = _Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Draft -> review -> revise cycles on a paper's abstract and introduction.",
)
# Not a terminal (a pipe, CI's log): rich would assume 80 columns and squeeze the tables.
out = Console(file=RESULTS, highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 110)
err = Console(stderr=True, highlight=False, log_path=False)

ModelOpt = Annotated[
    Optional[str],
    typer.Option("--model", help='"embedded" (SmolLM2-135M-Instruct), a HF checkpoint dir, or (openai) a served model'),
]
EngineOpt = Annotated[
    Optional[str], typer.Option("--engine", help="transformers | vllm | openai | auto (vllm when installed)")
]
AdapterOpt = Annotated[
    Optional[str],
    typer.Option("--adapter", help='LoRA adapter directory for the writer (default: the promoted round\'s; "none": the base)'),
]
BaseUrlOpt = Annotated[Optional[str], typer.Option("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="YAML/JSON run config (see README)")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="sampling seed for reproducible runs")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON on stdout instead of a summary")]


def _say(console: Console, text: str) -> None:
    """One line that may hold text from a file, a paper or a model: its control characters
    shown, not obeyed, and no rich markup or emoji codes read into it ("[/x]" in a path
    would be a MarkupError)."""
    from paracycle.report import terminal_text

    console.print(terminal_text(text), markup=False, emoji=False, highlight=False, soft_wrap=True)


def main() -> None:
    from paracycle import lifeline

    _quiet_libraries()
    lifeline.ensure()  # whatever this command starts (vLLM's processes, accelerate) dies with it
    # `kill` behaves like Ctrl-C: cleanup runs (engines stop their worker processes) and
    # every command that can resume says how.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        app()
    except InputError as e:
        _say(err, f"error: {e}")
        sys.exit(2)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


# -- cycle ----------------------------------------------------------------------------------


@app.command()
def cycle(
    structure_file: Annotated[Path, typer.Argument(metavar="ARG.yaml", help="argument structure (YAML or JSON)")],
    max_revisions: Annotated[Optional[int], typer.Option(min=0, help="revisions after the first draft")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="where trajectory.json and final.md go")] = None,
    thread_id: Annotated[Optional[str], typer.Option(help="resume (or name) this thread")] = None,
    runs: Annotated[Optional[Path], typer.Option("--runs-dir", help="run directory (default ./runs)")] = None,
    engine: EngineOpt = None,
    model: ModelOpt = None,
    adapter: AdapterOpt = None,
    base_url: BaseUrlOpt = None,
    config: ConfigOpt = None,
    seed: SeedOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write and revise the abstract and introduction for an argument structure."""
    from paracycle import config as cfgmod
    from paracycle.loading import load_structure
    from paracycle.store import StoreError, TrajectoryStore

    # Validate everything the user gave before anything is opened or written.
    structure = load_structure(structure_file)
    runs_dir = cfgmod.runs_dir(runs)
    run_config = _run_config(config, engine, model, adapter, base_url, seed, max_revisions, runs_dir)
    thread = cfgmod.check_thread_id(thread_id) if thread_id else _new_thread_id(structure)
    if out_dir is not None:  # refused now, not after the whole cycle has run
        cfgmod.check_directory(out_dir, "--out")
    destination = out_dir or runs_dir / "cycles" / thread

    store = TrajectoryStore(runs_dir / "trajectories.sqlite")
    try:
        known = store.structure_hash(thread)
        if known is not None and known != structure.content_hash():
            raise InputError(
                str(structure_file),
                f"thread {thread!r} was started from a different argument structure; use another --thread-id",
            )
        if known is None:
            err.log(f"thread {thread} (resume after a crash with --thread-id {thread})")
        trajectory = _run(structure, thread, run_config, store, runs_dir)
    except StoreError as e:
        raise InputError(str(runs_dir), str(e)) from None
    finally:
        store.close()

    write_atomic(destination / "trajectory.json", trajectory.model_dump_json(indent=2))
    if trajectory.final_draft is not None:
        write_atomic(destination / "final.md", trajectory.final_draft.to_markdown(structure.title))
    if as_json:
        print_json(trajectory.model_dump_json(indent=2))
    else:
        from paracycle.report import print_cycle_summary

        print_cycle_summary(out, trajectory)
        _say(out, f"\nwrote {destination / 'trajectory.json'} and {destination / 'final.md'}")


def _run(structure, thread, run_config, store, runs_dir):
    from paracycle.agents.reviewer import Reviewer
    from paracycle.agents.writer import Writer
    from paracycle.graphs.configuration import CycleContext
    from paracycle.graphs.cycle import run_cycle
    from paracycle.progress import StageProgress

    if store.is_finished(thread):
        err.log(f"thread {thread} finished earlier; showing the stored trajectory")
        return store.load(thread)
    with store.claim(thread):  # a thread another process runs is refused before a model loads;
        pass  # run_cycle holds the claim while the cycle runs
    writer_engine, reviewer_engine = _load_engines(run_config)
    cfg = run_config.cycle
    try:
        with StageProgress(err) as progress:
            ctx = CycleContext(
                thread_id=thread,
                writer=Writer(writer_engine, cfg.writer),
                reviewer=Reviewer(reviewer_engine, cfg.reviewer),
                config=cfg,
                store=store,
                on_stage=progress.stage,
                on_tokens=progress.on_tokens,
            )
            run_cycle(structure, ctx, runs_dir / "checkpoints.sqlite")
    except KeyboardInterrupt:
        err.print(f"\ninterrupted: resume with `paracycle cycle ... --thread-id {thread}`")
        raise typer.Exit(130) from None
    except EngineError as e:
        hint = "" if isinstance(e, PromptTooLong) else f"\nresume with `paracycle cycle ... --thread-id {thread}`"
        _say(err, f"error: {e}{hint}")
        raise typer.Exit(1) from None
    finally:
        _close(writer_engine, reviewer_engine)
    return store.load(thread)


# -- review ---------------------------------------------------------------------------------


@app.command()
def review(
    paper_file: Annotated[Path, typer.Argument(metavar="PAPER.md", help="paper in Markdown (# title, ## Abstract, ## Introduction, ...)")],
    structure_file: Annotated[Optional[Path], typer.Option("--structure", help="argument structure to check against")] = None,
    engine: EngineOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    config: ConfigOpt = None,
    seed: SeedOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Review an existing abstract + introduction: roles, commitments, weaknesses, scores."""
    from paracycle.agents.reviewer import Reviewer
    from paracycle.eval.structural import check_draft, check_structure_draft
    from paracycle.loading import load_structure
    from paracycle.paper import load_paper
    from paracycle.progress import StageProgress

    paper = load_paper(paper_file)
    structure = load_structure(structure_file) if structure_file else None
    run_config = _run_config(config, engine, model, None, base_url, seed)
    cfg = run_config.cycle
    draft = paper.to_draft()
    targets = dict(
        target_abstract_words=cfg.target_abstract_words,
        target_introduction_words=cfg.target_introduction_words,
        length_tolerance=cfg.length_tolerance,
    )
    if structure is not None:
        check = check_structure_draft(structure, draft, **targets)
        evidence, claims = structure.evidence, structure.claims
    else:
        evidence, claims = paper.evidence(), []
        check = check_draft(draft, evidence=evidence, claims=claims, contributions=[], **targets)

    writer_engine, reviewer_engine = _load_engines(run_config)
    try:
        with StageProgress(err) as progress:
            progress.stage("reviewing")
            outcome = Reviewer(reviewer_engine, cfg.reviewer).review(
                paper.title, draft, evidence, claims, check, on_tokens=progress.on_tokens
            )
    except EngineError as e:
        _say(err, f"error: {e}")
        raise typer.Exit(1) from None
    finally:
        _close(writer_engine, reviewer_engine)
    if as_json:
        print_json(json.dumps({
            "review": outcome.review.model_dump(mode="json") if outcome.review else None,
            "review_error": outcome.error,
            "structural_check": check.model_dump(mode="json"),
            "draft": draft.model_dump(mode="json"),
        }, indent=2))
    else:
        from paracycle.report import print_review

        print_review(out, paper.title, draft, outcome.review, outcome.error, check)


# -- collect --------------------------------------------------------------------------------


@app.command()
def collect(
    inputs: Annotated[list[Path], typer.Argument(metavar="INPUT_DIR|ARG.yaml...", help="argument structures, or directories of them")],
    samples: Annotated[int, typer.Option(min=1, help="independent cycles per argument structure")] = 4,
    concurrency: Annotated[int, typer.Option(min=1, help="graph threads running at once")] = 8,
    max_revisions: Annotated[Optional[int], typer.Option(min=0, help="revisions after the first draft")] = None,
    runs: Annotated[Optional[Path], typer.Option("--runs-dir", help="run directory (default ./runs)")] = None,
    engine: EngineOpt = None,
    model: ModelOpt = None,
    adapter: AdapterOpt = None,
    base_url: BaseUrlOpt = None,
    config: ConfigOpt = None,
    seed: SeedOpt = None,
    wait_for_server: Annotated[float, typer.Option(help="seconds to wait for a server that went down")] = 300.0,
) -> None:
    """Run K cycles per argument structure, C at once; rerun to resume after a crash."""
    from paracycle import config as cfgmod
    from paracycle.collect import Collector, CollectResult, plan_jobs
    from paracycle.engines.base import adapter_name
    from paracycle.loading import load_structure, structure_files
    from paracycle.progress import CollectProgress
    from paracycle.store import TrajectoryStore

    files = structure_files(inputs)
    structures = [(str(f), load_structure(f)) for f in files]  # all valid before anything runs
    runs_dir = cfgmod.runs_dir(runs)
    run_config = _run_config(config, engine, model, adapter, base_url, seed, max_revisions, runs_dir)
    writer = run_config.writer
    jobs = plan_jobs(structures, samples, tag=adapter_name(writer.adapter) if writer.adapter else None)
    store = TrajectoryStore(runs_dir / "trajectories.sqlite")
    done = sum(store.is_finished(j.thread_id) for j in jobs)
    err.log(f"{len(jobs)} cycles ({len(structures)} structures x {samples} samples), {done} finished earlier")
    result = CollectResult(skipped=done)
    try:
        if done < len(jobs):
            writer_engine, reviewer_engine = _load_engines(run_config)
            try:
                with CollectProgress(err, total=len(jobs), done=done) as progress:
                    collector = Collector(
                        run_config, writer_engine, reviewer_engine, store, runs_dir / "checkpoints.sqlite",
                        concurrency=concurrency, wait_for_server_s=wait_for_server,
                        on_tokens=progress.on_tokens, on_cycle_done=progress.cycle_done, on_failure=progress.failure,
                    )
                    result = collector.run(jobs)
            except KeyboardInterrupt:
                err.print("\ninterrupted: rerun the same command to resume (finished cycles are kept)")
                _close(writer_engine, reviewer_engine)
                # Cycle threads may be inside a generation; their steps so far are checkpointed,
                # so exit now instead of waiting for them.
                os._exit(130)
            finally:
                _close(writer_engine, reviewer_engine)
    finally:
        store.close()
    batching = (f", {result.batches} engine batches of {result.batched_requests / result.batches:.1f} requests on average"
                if result.batches else "")
    out.print(
        f"collected {result.finished} cycles, {result.skipped} finished earlier, {len(result.failed)} failed; "
        f"{result.tokens} tokens in {result.seconds:.1f}s ({result.tokens_per_second:.1f} tok/s){batching}"
    )
    _say(out, f"trajectories: {runs_dir / 'trajectories.sqlite'}")
    for thread, why in result.busy.items():  # not failures: another process is running them
        _say(err, f"skipped: {thread}: {why}; rerun later to collect it")
    if result.failed:
        for thread, error in result.failed.items():
            _say(err, f"failed: {thread}: {error}")
        err.print("rerun the same command to resume the failed cycles")
        raise typer.Exit(1)


# -- preference pairs and DPO rounds --------------------------------------------------------

pairs_app = _Typer(no_args_is_help=True, help="Preference pairs from collected trajectories.")
rounds_app = _Typer(no_args_is_help=True, help="The registry of DPO rounds.")
app.add_typer(pairs_app, name="pairs")
app.add_typer(rounds_app, name="rounds")
RunsOpt = Annotated[Optional[Path], typer.Option("--runs-dir", help="run directory (default ./runs)")]
RoundConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="round config (YAML/JSON, `kind: round`)")]


ingest_app = _Typer(no_args_is_help=True, help="Real papers become argument structures with a human anchor.")
app.add_typer(ingest_app, name="ingest")


@ingest_app.command("arxiv")
def ingest_arxiv(
    out_dir: Annotated[Path, typer.Option("--out", help="ingest directory: one <id>.yaml and <id>.md per paper")],
    query: Annotated[Optional[str], typer.Option("--query", help='arXiv search, e.g. "cat:cs.CL AND ti:alignment"')] = None,
    ids: Annotated[Optional[list[str]], typer.Option("--id", help="arXiv id, e.g. 2312.01552 or 2312.01552v2; repeat")] = None,
    max_results: Annotated[int, typer.Option("--max", min=1, help="papers a --query fetches at most")] = 10,
    delay: Annotated[float, typer.Option(min=0.0, help="seconds between requests to arXiv (their policy asks for 3)")] = 3.0,
    force: Annotated[bool, typer.Option(help="analyse papers again even if their YAML exists")] = False,
    engine: EngineOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    config: ConfigOpt = None,
    seed: SeedOpt = None,
) -> None:
    """Fetch papers (metadata + LaTeX source, cached), parse them, and let the analyst write
    an argument structure per paper. Rerun the same command to resume."""
    from paracycle.ingest.arxiv_fetch import ArxivError, ArxivSettings, fetch
    from paracycle.ingest.pipeline import ingest_dir, ingest_papers, structure_path
    from paracycle.progress import StageProgress

    if (query is None) == (not ids):
        raise InputError("ingest arxiv", "give either --query or one or more --id")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(str(out_dir), "--out must be a directory")
    run_config = _run_config(config, engine, model, "none", base_url, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = ArxivSettings(delay_s=delay)
    try:
        with err.status("fetching from arXiv"):
            papers = fetch(
                query=query, ids=list(ids or []) or None, max_results=max_results,
                cache_dir=ingest_dir(out_dir) / "cache", settings=settings,
                on_paper=lambda p: err.log(f"{p.meta.id}v{p.meta.version or '?'}: {'cached' if p.cached else 'fetched'}"
                                           + (f" (no source: {p.error})" if p.error else "")),
            )
    except ArxivError as e:
        _say(err, f"error: {e}")
        raise typer.Exit(1)
    if not papers:
        err.print("arXiv returned no papers for this query")
        raise typer.Exit(1)
    # Known before any model is loaded: a rerun with everything done loads none.
    todo = [p for p in papers if force or not structure_path(out_dir, p.meta).exists()]
    err.log(f"{len(papers)} papers, {len(papers) - len(todo)} ingested earlier")
    records = []
    if todo:
        analyst = _load_analyst(run_config)
        try:
            with StageProgress(err) as progress:
                records = ingest_papers(
                    todo, out_dir, analyst, force=force,
                    on_start=lambda p: progress.stage(f"analysing {p.meta.id}"), on_tokens=progress.on_tokens,
                )
        finally:
            analyst.engine.close()
    failed = [r for r in records if r.status == "failed"]
    for r in records:
        line = f"{r.id}: {r.status}" + (f" -> {r.structure}" if r.structure else "") + (f" ({r.error})" if r.error else "")
        _say(out, line)
        for note in r.notes:
            _say(out, f"  note: {note}")
    _say(out, f"ingested {len(records) - len(failed)} of {len(todo)} papers into {out_dir} ({len(papers) - len(todo)} earlier)")
    if failed:
        err.print("rerun the same command to retry the failed papers")
        raise typer.Exit(1)


def _load_analyst(run_config):
    """The analyst reads papers: it runs on the reviewer's engine (the base model, no adapter)."""
    from paracycle.agents.analyst import Analyst
    from paracycle.models import load_engine

    spec = run_config.reviewer or run_config.writer
    return Analyst(load_engine(spec, log=err.log))


@pairs_app.command("build")
def pairs_build(
    runs: RunsOpt = None,
    holdout: Annotated[Optional[list[Path]], typer.Option("--holdout", help="held-out structure (file or dir); repeat")] = None,
    min_margin: Annotated[Optional[float], typer.Option(min=0.0, help="reward margin below which a pair is a tie")] = None,
    config: RoundConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build a versioned DPO dataset (HF datasets + JSONL) from the stored trajectories."""
    from paracycle import config as cfgmod
    from paracycle.loading import load_structure, structure_files
    from paracycle.store import TrajectoryStore
    from paracycle.training.dataset import write_dataset
    from paracycle.training.pairs import PairSettings, build_pairs
    from paracycle.training.round import load_round_config

    settings, cycle, held = PairSettings(), None, set()
    if config is not None:
        round_config, _, held_structures = load_round_config(config)
        settings, cycle = round_config.pairs, round_config.run.cycle
        held = {s.content_hash() for s in held_structures}
    held |= {load_structure(f).content_hash() for f in structure_files(list(holdout or []))}
    if min_margin is not None:
        settings.min_margin = min_margin
    runs_dir = cfgmod.runs_dir(runs)
    path = runs_dir / "trajectories.sqlite"
    if not path.exists():
        raise InputError(str(path), "no trajectory store here (run `paracycle collect` first)")
    store = TrajectoryStore(path)
    try:
        with err.status("scoring drafts and building pairs"):
            trajectories = [store.load(t) for t in store.thread_ids() if store.is_finished(t)]
            built = build_pairs(trajectories, settings, cycle, exclude_structures=held)
    finally:
        store.close()
    if not built.rows:
        err.print(f"no pairs: {len(built.threads)} usable trajectories, ties dropped {dict(built.dropped_ties)}")
        raise typer.Exit(1)
    directory, manifest = write_dataset(built, runs_dir / "pairs", settings, held)
    if as_json:
        print_json(manifest.model_dump_json(indent=2))
        return
    counts = ", ".join(f"{k} {v}" for k, v in manifest.counts.items())
    out.print(f"{manifest.rows} pairs ({counts}) from {len(manifest.threads)} trajectories; ties dropped: {manifest.ties_dropped or 0}")
    _say(out, f"dataset {manifest.version}: {directory}")


@app.command("round")
def round_(config: RoundConfigOpt = None, runs: RunsOpt = None, as_json: JsonOpt = False) -> None:
    """One DPO round: collect -> pairs -> train -> evaluate -> gate (promote only a winner)."""
    from paracycle import config as cfgmod
    from paracycle.training.round import RoundBusy, run_round

    if config is None:
        raise InputError("--config", "a round needs a config file (see examples/round-tiny.yaml)")
    runs_dir = cfgmod.runs_dir(runs)
    try:
        manifest = run_round(config, runs_dir, log=err.log, console=err)
    except RoundBusy as e:
        _say(err, f"error: {e}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("\ninterrupted: the round is marked abandoned (nothing promoted); trajectories are kept. "
                  "Run `paracycle round` again to start a new one.")
        raise typer.Exit(130) from None
    except EngineError as e:
        _say(err, f"error: {e}\nthe round is marked abandoned (nothing promoted); trajectories are kept")
        raise typer.Exit(1) from None
    if as_json:
        print_json(manifest.model_dump_json(indent=2))
    else:
        out.print(f"{manifest.round_id}: {manifest.decision}")
        for reason in manifest.reasons:
            _say(out, f"  {reason}")
        _say(out, f"report: {manifest.report}")


@rounds_app.command("list")
def rounds_list(runs: RunsOpt = None, as_json: JsonOpt = False) -> None:
    """Every round with its status and gate decision (--json: the full manifests)."""
    from paracycle import config as cfgmod
    from paracycle.store import TrajectoryStore
    from paracycle.training.registry import RoundRegistry, manifest_json

    path = cfgmod.runs_dir(runs) / "trajectories.sqlite"
    manifests = []
    if path.exists():
        store = TrajectoryStore(path)
        try:
            manifests = RoundRegistry(store).rounds()
        finally:
            store.close()
    if as_json:
        print_json(manifest_json(manifests))
        return
    if not manifests:
        out.print("no rounds yet (run `paracycle round --config FILE`)")
        return
    from rich.table import Table

    table = Table("round", "parent", "status", "pairs", "win rate", "reward", "started")
    for m in manifests:
        ev = m.eval_metrics
        table.add_row(
            m.round_id, m.parent.id, m.status, str(sum(m.pair_counts.values())),
            f"{ev['win_rate']:.2f}" if "win_rate" in ev else "-",
            f"{ev['candidate']['reward']:.3f}" if "candidate" in ev else "-", m.started_at,
        )
    out.print(table)


@app.command()
def schedule(
    every: Annotated[str, typer.Option(help="how often to check, e.g. 30m, 6h, 1d")] = "6h",
    min_new_pairs: Annotated[int, typer.Option(min=1, help="run a round when this many new pairs are waiting")] = 100,
    config: RoundConfigOpt = None,
    runs: RunsOpt = None,
    max_checks: Annotated[Optional[int], typer.Option(min=1, help="stop after this many checks (default: run forever)")] = None,
) -> None:
    """Run rounds unattended: one at a time, whenever enough new pairs have accumulated."""
    from paracycle import config as cfgmod
    from paracycle.training.round import parse_duration, schedule as run_schedule

    if config is None:
        raise InputError("--config", "the schedule needs a round config file (see examples/round-tiny.yaml)")
    seconds = parse_duration(every)
    try:
        finished = run_schedule(config, cfgmod.runs_dir(runs), seconds, min_new_pairs, max_checks, log=err.log, console=err)
    except KeyboardInterrupt:
        err.print("\nschedule stopped")
        raise typer.Exit(130) from None
    out.print(f"{len(finished)} rounds: " + (", ".join(f"{m.round_id} {m.decision}" for m in finished) or "none"))


# -- validate / show ------------------------------------------------------------------------


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(metavar="ARG.yaml...", help="argument structures to check")],
) -> None:
    """Check argument structures without running a model (exit 2 on the first bad one)."""
    from paracycle.eval.structural import open_commitments
    from paracycle.loading import load_structure

    for f in files:
        s = load_structure(f)
        open_ = open_commitments(s)
        note = f"; open commitments: {', '.join(open_)}" if open_ else ""
        _say(out, f"{f}: ok ({len(s.method)} method components, {len(s.evidence)} evidence, {len(s.claims)} claims{note})")


@app.command()
def show(
    thread_id: Annotated[str, typer.Argument(help="thread to show")],
    runs: Annotated[Optional[Path], typer.Option("--runs-dir", help="run directory (default ./runs)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a stored trajectory (finished or not)."""
    from paracycle import config as cfgmod
    from paracycle.report import print_cycle_summary
    from paracycle.store import StoreError, TrajectoryStore

    cfgmod.check_thread_id(thread_id)
    path = cfgmod.runs_dir(runs) / "trajectories.sqlite"
    if not path.exists():
        raise InputError(str(path), "no trajectory store here (run `paracycle cycle` first)")
    store = TrajectoryStore(path)
    try:
        trajectory = store.load(thread_id)
    except StoreError as e:
        raise InputError(str(path), str(e)) from None
    finally:
        store.close()
    if as_json:
        print_json(trajectory.model_dump_json(indent=2))
    else:
        print_cycle_summary(out, trajectory)


# -- helpers --------------------------------------------------------------------------------


def _run_config(config_file, engine, model, adapter, base_url, seed, max_revisions=None, runs_dir=None):
    """The config file with the command line's flags applied (flags name the writer's engine).

    With a run directory, a writer that names no adapter gets the adapter of the newest
    promoted DPO round for its base model (`--adapter none` keeps the base model)."""
    from paracycle.config import load_config
    from paracycle.models import check_run_config

    run_config = load_config(config_file)
    flags = {"engine": engine, "model": model, "adapter": adapter, "base_url": base_url}
    for key, value in flags.items():
        if value is not None:
            if key == "engine" and value not in ("auto", "transformers", "vllm", "openai"):
                raise InputError("--engine", f"{value!r} is not one of auto, transformers, vllm, openai")
            setattr(run_config.writer, key, value)
    if run_config.writer.adapter is not None and run_config.writer.adapter.lower() == "none":
        run_config.writer.adapter = None
    elif run_config.writer.adapter is None and runs_dir is not None:
        _use_promoted_writer(run_config, runs_dir)
    if seed is not None:
        run_config.seed = seed
    if max_revisions is not None:
        run_config.cycle.max_revisions = max_revisions
    check_run_config(run_config)
    if run_config.seed is not None:
        c = run_config.cycle
        for sampling in (c.writer.paragraph, c.writer.abstract, c.reviewer.sampling):
            sampling.seed = run_config.seed
    return run_config


def _use_promoted_writer(run_config, runs_dir: Path) -> None:
    path = runs_dir / "trajectories.sqlite"
    if not path.exists():
        return
    from paracycle.store import TrajectoryStore
    from paracycle.training.registry import RoundRegistry

    store = TrajectoryStore(path)
    try:
        policy = RoundRegistry(store).current(run_config.writer.model)
    finally:
        store.close()
    if policy.id == "base":
        return
    if run_config.reviewer is None:  # the reviewer stays the base model
        run_config.reviewer = run_config.writer.model_copy()
    run_config.writer.adapter = policy.adapter
    if policy.model:
        run_config.writer.model = policy.model
    err.log(f"writer: promoted {policy.id} ({policy.adapter or policy.model}); --adapter none for the base model")


def _load_engines(run_config):
    from paracycle.models import engine_kind, load_engines

    kind = engine_kind(run_config.writer)
    with err.status(f"loading {kind} engine for {run_config.writer.model}"):
        try:
            writer, reviewer = load_engines(run_config, log=err.log)
        except EngineError as e:
            _say(err, f"error: {e}")
            raise typer.Exit(1) from None
    for name, engine in (("writer", writer), ("reviewer", reviewer)):
        adapter = f" + adapter {engine.adapter_id}" if engine.adapter_id else ""
        err.log(f"{name}: {engine.model_id}{adapter} ({type(engine).__name__} on {engine.device})")
    return writer, reviewer


def _close(*engines) -> None:
    for engine in {id(e): e for e in engines}.values():
        engine.close()


def _new_thread_id(structure) -> str:
    import re

    slug = re.sub(r"[^a-z0-9]+", "-", structure.title.lower()).strip("-")[:32].strip("-") or "cycle"
    return f"{slug}-{secrets.token_hex(3)}"


def _quiet_libraries() -> None:
    """Library chatter (weight-loading bars, advisory warnings) would drown the progress."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # vLLM logs to stdout by default; stdout carries results (see paracycle.stdio).
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    import warnings

    warnings.filterwarnings("ignore")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


if __name__ == "__main__":
    main()
