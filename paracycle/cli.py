"""The `paracycle` command line: it parses arguments and prints results; the work is done
by `paracycle.jobs`, `paracycle.collect` and `paracycle.training.round`.

Results go to stdout (`--json` prints only JSON there); progress and logs go to stderr.
Bad input is one line on stderr and exit code 2; an engine that fails is one line and exit
code 1; `check --fail-on` exits 3 when it finds what it names; an interrupted command says
how to resume.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from paracycle import lifeline
from paracycle.config import check_directory, check_output_file, check_thread_id, load_config, parse_shard
from paracycle.engines.base import EngineError, PromptTooLong
from paracycle.errors import InputError
from paracycle.eval.ledger import FAILURES, Ledger, check_paper, failed_on
from paracycle.eval.structural import open_commitments
from paracycle.fsutil import write_atomic
from paracycle.html_view import draft_page, thread_page, write_page
from paracycle.loading import load_structure, structure_files
from paracycle.options import (
    AdapterOpt,
    BaseUrlOpt,
    ConfigOpt,
    EngineOpt,
    HtmlOpt,
    JsonOpt,
    ModelOpt,
    RevisionsOpt,
    RoundConfigOpt,
    RunsOpt,
    SeedOpt,
    print_version,
)
from paracycle.paper import load_paper
from paracycle.registry import RoundRegistry, manifest_json
from paracycle.report import interval_text, print_comparison, print_cycle_summary, print_ledger, print_review, terminal_text
from paracycle.resolve import BASE_WRITER, Overrides, resolve_run_config
from paracycle.rundir import DEFAULT as DEFAULT_RUNS
from paracycle.rundir import RunDir
from paracycle.stdio import RESULTS, ResultTyper, print_json, quiet_libraries

app = ResultTyper(
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Draft -> review -> revise cycles on a paper's abstract and introduction.",
)
pairs_app = ResultTyper(no_args_is_help=True, help="Preference pairs from collected trajectories.")
rounds_app = ResultTyper(no_args_is_help=True, help="The registry of DPO rounds.")
ingest_app = ResultTyper(no_args_is_help=True, help="Real papers become argument structures with a human anchor.")
store_app = ResultTyper(no_args_is_help=True, help="The trajectory store: merge the stores of collection shards.")
app.add_typer(pairs_app, name="pairs")
app.add_typer(rounds_app, name="rounds")
app.add_typer(ingest_app, name="ingest")
app.add_typer(store_app, name="store")

# Not a terminal (a pipe, CI's log): rich would assume 80 columns and squeeze the tables.
out = Console(file=RESULTS, highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 110)
err = Console(stderr=True, highlight=False, log_path=False)


# A repeatable option takes its choices from an Enum (typer refuses list[Literal]).
FailOn = Enum("FailOn", {name: name for name in FAILURES}, type=str)

# Commands that load no model: they skip quieting the ML libraries, which imports
# transformers (about a second), so that a linter-like `check` in CI answers at once.
NO_MODEL_COMMANDS = frozenset({"check", "validate"})


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=print_version, is_eager=True, help="print the version")] = False,
) -> None:
    # Runs after the command is named and before it runs, so nothing the command imports
    # can have imported transformers unquieted first.
    if ctx.invoked_subcommand not in NO_MODEL_COMMANDS:
        quiet_libraries()


def main() -> None:
    lifeline.ensure()  # whatever this command starts (vLLM's processes, accelerate) dies with it
    # `kill` behaves like Ctrl-C: cleanup runs (engines stop their worker processes) and
    # every command that can resume says how.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        app()
    except InputError as e:
        _say(err, f"error: {e}")
        sys.exit(2)
    except EngineError as e:
        _say(err, f"error: {e}")
        sys.exit(1)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _say(console: Console, text: str) -> None:
    """One line that may hold text from a file, a paper or a model: its control characters
    shown, not obeyed, and no rich markup or emoji codes read into it ("[/x]" in a path
    would be a MarkupError)."""
    console.print(terminal_text(text), markup=False, emoji=False, highlight=False, soft_wrap=True)


# -- cycle, review, check, collect ----------------------------------------------------------


@app.command()
def cycle(
    structure_file: Annotated[Path, typer.Argument(metavar="ARG.yaml", help="argument structure (YAML or JSON)")],
    max_revisions: RevisionsOpt = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="where trajectory.json and final.md go")] = None,
    thread_id: Annotated[Optional[str], typer.Option(help="resume (or name) this thread")] = None,
    runs: RunsOpt = DEFAULT_RUNS,
    engine: EngineOpt = None,
    model: ModelOpt = None,
    adapter: AdapterOpt = None,
    base_url: BaseUrlOpt = None,
    config: ConfigOpt = None,
    seed: SeedOpt = None,
    as_json: JsonOpt = False,
    html: HtmlOpt = None,
) -> None:
    """Write and revise the abstract and introduction for an argument structure."""
    from paracycle.jobs import new_thread_id, run_thread  # langgraph, torch: off the start-up path

    # Validate everything the user gave before anything is opened or written.
    structure = load_structure(structure_file)
    run_dir = RunDir(runs)
    run = resolve_run_config(config, Overrides(
        engine=engine, model=model, adapter=adapter, base_url=base_url, seed=seed, max_revisions=max_revisions,
    ), run_dir, err.log)
    thread = check_thread_id(thread_id) if thread_id else new_thread_id(structure)
    if out_dir is not None:  # refused now, not after the whole cycle has run
        check_directory(out_dir, "--out")
    check_output_file(html, "--html")
    destination = out_dir or run_dir.cycle(thread)
    store = run_dir.open_store()
    try:
        trajectory = run_thread(structure, str(structure_file), thread, run, run_dir, store, err)
    except KeyboardInterrupt:
        err.print(f"\ninterrupted: resume with `paracycle cycle ... --thread-id {thread}`")
        raise typer.Exit(130) from None
    except EngineError as e:
        hint = "" if isinstance(e, PromptTooLong) else f"\nresume with `paracycle cycle ... --thread-id {thread}`"
        _say(err, f"error: {e}{hint}")
        raise typer.Exit(1) from None
    finally:
        store.close()
    write_atomic(destination / "trajectory.json", trajectory.model_dump_json(indent=2))
    if trajectory.final_draft is not None:
        write_atomic(destination / "final.md", trajectory.final_draft.to_markdown(structure.title))
    if html is not None:
        write_page(html, thread_page(trajectory))
    if as_json:
        print_json(trajectory.model_dump_json(indent=2))
        return
    print_cycle_summary(out, trajectory)
    _say(out, f"\nwrote {destination / 'trajectory.json'} and {destination / 'final.md'}")


@app.command()
def review(
    paper_file: Annotated[Path, typer.Argument(metavar="PAPER.md", help="paper in Markdown (# title, ## Abstract, ## Introduction, ...)")],
    structure_file: Annotated[Optional[Path], typer.Option("--structure", help="argument structure to check against")] = None,
    engine: EngineOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    config: ConfigOpt = None,
    seed: SeedOpt = None,
    second_opinion: Annotated[bool, typer.Option(
        "--second-opinion", help="also ask the reviewer whether the evidence entails each borderline claim (meant for a served reviewer)"
    )] = False,
    as_json: JsonOpt = False,
    html: HtmlOpt = None,
) -> None:
    """Review an existing abstract + introduction: roles, commitments, weaknesses, scores."""
    from paracycle.jobs import review_paper  # langgraph, torch: off the start-up path

    paper = load_paper(paper_file)
    structure = load_structure(structure_file) if structure_file else None
    check_output_file(html, "--html")
    run = resolve_run_config(config, Overrides(engine=engine, model=model, base_url=base_url, seed=seed), log=err.log)
    if second_opinion:
        run.cycle.reviewer.second_opinion = True
    r = review_paper(paper, structure, run, err)
    review = r.outcome.review
    if html is not None:
        write_page(html, draft_page(r.title, f"review of {paper_file}", r.draft, r.check, structure, r.evidence,
                                    review, r.outcome.error))
    if as_json:
        print_json(json.dumps({
            "review": review.model_dump(mode="json") if review else None,
            "review_error": r.outcome.error,
            "structural_check": r.check.model_dump(mode="json"),
            "draft": r.draft.model_dump(mode="json"),
        }, indent=2))
    else:
        print_review(out, r.title, r.draft, review, r.outcome.error, r.check)


@app.command()
def check(
    paper_file: Annotated[Path, typer.Argument(metavar="PAPER.md", help="paper in Markdown (# title, ## Abstract, ## Introduction, ...)")],
    structure_file: Annotated[
        Optional[Path], typer.Option("--structure", help="argument structure to check against (default: the paper's own results)")
    ] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="run config whose cycle.lengths are the length targets")] = None,
    fail_on: Annotated[
        Optional[list[FailOn]], typer.Option("--fail-on", help="exit 3 when the check finds this; repeat for several")
    ] = None,
    as_json: JsonOpt = False,
    html: HtmlOpt = None,
) -> None:
    """The claim ledger, no model: every claim sentence with its verdict, then closure,
    dropped contributions, role order and length. Exit 3 when --fail-on finds what it names."""
    paper = load_paper(paper_file)
    structure = load_structure(structure_file) if structure_file else None
    check_output_file(html, "--html")
    ledger = check_paper(paper, structure, load_config(config).cycle.lengths)
    if html is not None:
        write_page(html, draft_page(paper.title, f"claim ledger of {paper_file}, checked against "
                                    f"{_checked_against(ledger, structure_file)}", ledger.draft, ledger.check,
                                    structure, ledger.evidence))
    asked = {f.value for f in fail_on or []}
    names = [f for f in FAILURES if f in asked]  # each once, in the order they are reported
    failed = failed_on(ledger.check, names)
    if as_json:
        print_json(json.dumps({
            "paper": str(paper_file),
            "title": paper.title,
            "structure": str(structure_file) if structure_file else None,
            "fail_on": names,
            "failed_on": list(failed),
            "structural_check": ledger.check.model_dump(mode="json"),
            "evidence": [e.model_dump(mode="json") for e in ledger.evidence],
            "draft": ledger.draft.model_dump(mode="json"),
        }, indent=2))
    else:
        print_ledger(out, paper.title, _checked_against(ledger, structure_file), ledger.check, names, failed)
    if failed:
        raise typer.Exit(3)


def _checked_against(ledger: Ledger, structure_file: Path | None) -> str:
    if ledger.from_structure:
        return f"{structure_file} ({len(ledger.evidence)} evidence, {_plural(len(ledger.claims), 'claim')})"
    found = _plural(len(ledger.evidence), "result sentence")
    return f"the paper's own results ({found} outside the abstract and introduction)"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


@app.command()
def collect(
    inputs: Annotated[list[Path], typer.Argument(metavar="INPUT_DIR|ARG.yaml...", help="argument structures, or directories of them")],
    samples: Annotated[int, typer.Option(min=1, help="independent cycles per argument structure")] = 4,
    concurrency: Annotated[int, typer.Option(min=1, help="graph threads running at once")] = 8,
    max_revisions: RevisionsOpt = None,
    runs: RunsOpt = DEFAULT_RUNS,
    engine: EngineOpt = None,
    model: ModelOpt = None,
    adapter: AdapterOpt = None,
    base_url: BaseUrlOpt = None,
    config: ConfigOpt = None,
    seed: SeedOpt = None,
    wait_for_server: Annotated[float, typer.Option(help="seconds to wait for a server that went down")] = 300.0,
    shard: Annotated[Optional[str], typer.Option(metavar="I/N", help="run only shard I of N (by thread id); merge the stores with `store merge`")] = None,
) -> None:
    """Run K cycles per argument structure, C at once; rerun to resume after a crash."""
    from paracycle import collect as collection  # langgraph, torch: off the start-up path

    part = parse_shard(shard) if shard else None
    structures = [(str(f), load_structure(f)) for f in structure_files(inputs)]  # all valid before anything runs
    run_dir = RunDir(runs)
    run = resolve_run_config(config, Overrides(
        engine=engine, model=model, adapter=adapter, base_url=base_url, seed=seed, max_revisions=max_revisions,
    ), run_dir, err.log)
    jobs = collection.plan_jobs(structures, samples, tag=collection.writer_tag(run.writer))
    if part is not None:
        jobs = [j for j in jobs if collection.in_shard(j.thread_id, part)]
        err.log(f"shard {part[0]}/{part[1]}: {len(jobs)} of the cycles")
    store = run_dir.open_store()
    try:
        result = collection.collect(
            run, jobs, run_dir, store, concurrency=concurrency, wait_for_server_s=wait_for_server, console=err, log=err.log,
        )
    except KeyboardInterrupt:
        err.print("\ninterrupted: rerun the same command to resume (finished cycles are kept)")
        # Cycle threads may be inside a generation; their steps so far are checkpointed and
        # the engines are closed, so exit now instead of waiting for them.
        os._exit(130)
    finally:
        store.close()
    out.print(result.summary())
    _say(out, f"trajectories: {run_dir.store_path}")
    for line in result.problems():
        _say(err, line)
    if result.failed:
        err.print("rerun the same command to resume the failed cycles")
        raise typer.Exit(1)


@store_app.command("merge")
def store_merge(
    sources: Annotated[list[Path], typer.Argument(metavar="DIR...", help="run directories of collection shards")],
    runs: RunsOpt = DEFAULT_RUNS,
    as_json: JsonOpt = False,
) -> None:
    """Merge the finished threads of other run directories' stores into --runs-dir's store
    (append-only, idempotent: merging the same shard twice adds nothing)."""
    dest = RunDir(runs)
    stores = [RunDir(s).existing_store("paracycle collect --shard I/N") for s in sources]  # all exist first
    try:
        if any(s.path.resolve() == dest.store_path.resolve() for s in stores):
            raise InputError(str(dest.store_path), "a store cannot be merged into itself")
        target = dest.open_store()
        try:
            results = {str(source): target.merge_from(s) for source, s in zip(sources, stores)}
        finally:
            target.close()
    finally:
        for s in stores:
            s.close()
    if as_json:
        print_json(json.dumps({k: dataclasses.asdict(r) for k, r in results.items()}, indent=2))
    else:
        for source, r in results.items():
            _say(out, f"{source}: {len(r.added)} threads added ({sum(r.added.values())} steps), "
                      f"{len(r.present)} already here, {len(r.conflicts)} conflicts, {len(r.unfinished)} unfinished left")
            for thread, why in r.conflicts.items():
                _say(err, f"conflict: {thread}: {why}")
            if r.unfinished:
                _say(err, f"{len(r.unfinished)} unfinished threads left in {source}: finish them there, then merge again")
            if r.rounds_left:
                _say(err, f"{r.rounds_left} rounds in {source} were not merged (a registry belongs to its run directory)")
    if any(r.conflicts for r in results.values()):
        raise typer.Exit(1)


# -- preference pairs and DPO rounds --------------------------------------------------------


@pairs_app.command("build")
def pairs_build(
    runs: RunsOpt = DEFAULT_RUNS,
    holdout: Annotated[Optional[list[Path]], typer.Option("--holdout", help="held-out structure (file or dir); repeat")] = None,
    min_margin: Annotated[Optional[float], typer.Option(min=0.0, help="reward margin below which a pair is a tie")] = None,
    config: RoundConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build a versioned DPO dataset (HF datasets + JSONL) from the stored trajectories."""
    from paracycle.jobs import NoPairs, build_pairs_dataset  # datasets: off the start-up path

    try:
        directory, manifest = build_pairs_dataset(RunDir(runs), list(holdout or []), min_margin, config, err)
    except NoPairs as e:
        err.print(str(e))
        raise typer.Exit(1) from None
    if as_json:
        print_json(manifest.model_dump_json(indent=2))
        return
    counts = ", ".join(f"{k} {v}" for k, v in manifest.counts.items())
    out.print(f"{manifest.rows} pairs ({counts}) from {len(manifest.threads)} trajectories; ties dropped: {manifest.ties_dropped or 0}")
    _say(out, f"dataset {manifest.version}: {directory}")


@app.command("round")
def round_(config: RoundConfigOpt = None, runs: RunsOpt = DEFAULT_RUNS, as_json: JsonOpt = False) -> None:
    """One DPO round: collect -> pairs -> train -> evaluate -> gate (promote only a winner)."""
    from paracycle.training.round import RoundBusy, run_round  # trl, torch: off the start-up path

    if config is None:
        raise InputError("--config", "a round needs a config file (see examples/round-tiny.yaml)")
    try:
        manifest = run_round(config, RunDir(runs), log=err.log, console=err)
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
        return
    out.print(f"{manifest.round_id}: {manifest.decision}")
    for reason in manifest.reasons:
        _say(out, f"  {reason}")
    _say(out, f"report: {manifest.report}")


@rounds_app.command("list")
def rounds_list(runs: RunsOpt = DEFAULT_RUNS, as_json: JsonOpt = False) -> None:
    """Every round with its status and gate decision (--json: the full manifests)."""
    run_dir, manifests = RunDir(runs), []
    if run_dir.has_store():
        store = run_dir.open_store()
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
    table = Table("round", "parent", "status", "pairs", "items", "reward vs parent [95%]", "win rate", "started")
    for m in manifests:
        ev = m.eval_metrics
        reward = ev.comparison("reward") if ev else None
        table.add_row(
            m.round_id, m.parent.id, m.status, str(sum(m.pair_counts.values())), str(ev.items) if ev else "-",
            f"{reward.diff.mean:+.3f} {interval_text(reward.diff.low, reward.diff.high)}" if reward else "-",
            f"{ev.win_rate:.2f}" if ev and ev.win_rate is not None else "-", m.started_at,
        )
    out.print(table)


@app.command("eval")
def eval_(
    writer: Annotated[str, typer.Option("--writer", help='the candidate: "base", a round id (round-0002), or an adapter directory')],
    against: Annotated[str, typer.Option("--against", help="the writer it is compared with (same forms)")],
    structures: Annotated[list[Path], typer.Option("--structures", help="held-out structures (file or directory); repeat")],
    samples: Annotated[Optional[int], typer.Option(min=1, help="drafts per structure and writer, paired by seed")] = None,
    min_items: Annotated[Optional[int], typer.Option(min=2, help="fewer paired items than this: inconclusive")] = None,
    min_effect: Annotated[Optional[float], typer.Option(help="the reward interval's lower bound must exceed this")] = None,
    judge: Annotated[Optional[bool], typer.Option("--judge/--no-judge", help="also ask the base model to judge each pair")] = None,
    config: Annotated[Optional[Path], typer.Option(
        "--config", help="run config, or a round config (kind: round) to evaluate exactly as its gate does")] = None,
    engine: EngineOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    seed: SeedOpt = None,
    runs: RunsOpt = DEFAULT_RUNS,
    as_json: JsonOpt = False,
) -> None:
    """Compare two writers on the same structures and seeds: paired differences with 95%
    intervals, and the gate's decision (promoted / rejected / inconclusive)."""
    from paracycle.eval.compare import reasons  # torch, transformers: off the start-up path
    from paracycle.jobs import eval_plan, evaluate_writers

    loaded = [load_structure(f) for f in structure_files(structures)]  # all valid before a model loads
    gate = {"samples": samples, "min_items": min_items, "min_effect": min_effect, "judge": judge}
    plan = eval_plan(config, Overrides(engine=engine, model=model, base_url=base_url, seed=seed),
                     {k: v for k, v in gate.items() if v is not None})
    candidate, current, metrics = evaluate_writers(writer, against, loaded, plan, RunDir(runs), err)
    why = reasons(metrics, plan.settings)
    if as_json:
        print_json(json.dumps({
            "writer": candidate.model_dump(mode="json"), "against": current.model_dump(mode="json"),
            "structures": [str(f) for f in structure_files(structures)], "seed": plan.seed,
            "settings": plan.settings.model_dump(mode="json"), "decision": metrics.decision, "reasons": why,
            "metrics": metrics.model_dump(mode="json"),
        }, indent=2))
        return
    print_comparison(out, candidate.id, current.id, metrics, why)


@app.command()
def schedule(
    every: Annotated[str, typer.Option(help="how often to check, e.g. 30m, 6h, 1d")] = "6h",
    min_new_pairs: Annotated[int, typer.Option(min=1, help="run a round when this many new pairs are waiting")] = 100,
    config: RoundConfigOpt = None,
    runs: RunsOpt = DEFAULT_RUNS,
    max_checks: Annotated[Optional[int], typer.Option(min=1, help="stop after this many checks (default: run forever)")] = None,
) -> None:
    """Run rounds unattended: one at a time, whenever enough new pairs have accumulated."""
    from paracycle.training.round import parse_duration  # trl, torch: off the start-up path
    from paracycle.training.round import schedule as run_schedule

    if config is None:
        raise InputError("--config", "the schedule needs a round config file (see examples/round-tiny.yaml)")
    seconds = parse_duration(every)
    try:
        finished = run_schedule(config, RunDir(runs), seconds, min_new_pairs, max_checks, log=err.log, console=err)
    except KeyboardInterrupt:
        err.print("\nschedule stopped")
        raise typer.Exit(130) from None
    out.print(f"{len(finished)} rounds: " + (", ".join(f"{m.round_id} {m.decision}" for m in finished) or "none"))


# -- ingest ---------------------------------------------------------------------------------


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
    from paracycle.ingest.arxiv_fetch import ArxivError  # arxiv: off the start-up path
    from paracycle.jobs import ingest_arxiv as run_ingest  # langgraph, torch: off the start-up path

    if (query is None) == (not ids):
        raise InputError("ingest arxiv", "give either --query or one or more --id")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(str(out_dir), "--out must be a directory")
    run = resolve_run_config(config, Overrides(
        engine=engine, model=model, adapter=BASE_WRITER, base_url=base_url, seed=seed,
    ), log=err.log)
    try:
        result = run_ingest(out_dir, query, list(ids or []), max_results, delay, force, run, err)
    except ArxivError as e:
        _say(err, f"error: {e}")
        raise typer.Exit(1) from None
    if not result.papers:
        err.print("arXiv returned no papers for this query")
        raise typer.Exit(1)
    for r in result.records:
        _say(out, f"{r.id}: {r.status}" + (f" -> {r.structure}" if r.structure else "") + (f" ({r.error})" if r.error else ""))
        for note in r.notes:
            _say(out, f"  note: {note}")
    earlier = len(result.papers) - result.todo
    _say(out, f"ingested {len(result.records) - len(result.failed)} of {result.todo} papers into {out_dir} ({earlier} earlier)")
    if result.failed:
        err.print("rerun the same command to retry the failed papers")
        raise typer.Exit(1)


# -- validate / show ------------------------------------------------------------------------


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(metavar="ARG.yaml...", help="argument structures to check")],
) -> None:
    """Check argument structures without running a model (exit 2 on the first bad one)."""

    for f in files:
        s = load_structure(f)
        open_ = open_commitments(s)
        note = f"; open commitments: {', '.join(open_)}" if open_ else ""
        _say(out, f"{f}: ok ({len(s.method)} method components, {len(s.evidence)} evidence, {len(s.claims)} claims{note})")


@app.command()
def show(
    thread_id: Annotated[str, typer.Argument(help="thread to show")],
    runs: RunsOpt = DEFAULT_RUNS,
    as_json: JsonOpt = False,
    html: HtmlOpt = None,
) -> None:
    """Show a stored trajectory (finished or not) and the failures recorded for it."""
    check_thread_id(thread_id)
    check_output_file(html, "--html")
    store = RunDir(runs).existing_store("paracycle cycle")
    try:
        trajectory, failures = store.load(thread_id), store.failures(thread_id)
    finally:
        store.close()
    if html is not None:
        write_page(html, thread_page(trajectory))
    if as_json:
        print_json(trajectory.model_dump_json(indent=2))
        return
    print_cycle_summary(out, trajectory)
    if html is not None:
        _say(out, f"wrote {html}")
    for _, at, error in failures:
        _say(out, f"failed at {at}: {error}")


if __name__ == "__main__":
    main()
