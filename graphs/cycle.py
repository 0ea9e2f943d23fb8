"""The draft -> review -> revise cycle as a LangGraph state machine.

    START -> write -> review -> decide -> finish -> END
                        ^          |
                        +- revise <+

`review` runs the model's review and the deterministic structural check side by side (and,
with `reviewer.second_opinion` on, the model's verdict on the check's borderline commitments).
`decide` passes the draft when the reviewer's overall score and the structural closure rate
both reach their thresholds, and otherwise revises until `max_revisions`. With
`cycle.review: structural` no model reviews: the check alone scores the draft and says what
to revise.

Every node first copies the steps already committed to the checkpoint into the trajectory
store (idempotent, keyed by step index). A step therefore reaches the store only after the
checkpointer has it, and a step replayed after a crash is never stored twice.

`run_cycle` claims the thread in the store first (one process per thread), and a thread whose
checkpoint says it finished but whose outcome row never reached the store (the last commit
was lost) gets that row on its next run.
"""

from __future__ import annotations

import sqlite3
from contextlib import nullcontext
from pathlib import Path
from typing import Literal

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from paracycle.eval.structural import check_structure_draft
from paracycle.graphs.configuration import CycleContext
from paracycle.graphs.state import CycleState
from paracycle.schemas import ArgumentStructure, Draft, Step
from paracycle.settings import CycleConfiguration

# -- nodes --------------------------------------------------------------------------------


def write(state: CycleState, runtime: Runtime[CycleContext]) -> Command[Literal["review"]]:
    ctx = runtime.context
    structure = _sync(ctx, state)
    ctx.stage("drafting")
    draft, generations = ctx.writer.draft(structure, on_tokens=ctx.on_tokens)
    step = Step(index=len(state["steps"]), kind="draft", revision=0, draft=draft, generations=generations)
    return Command(update={"steps": [step.model_dump(mode="json")]}, goto="review")


def review(state: CycleState, runtime: Runtime[CycleContext]) -> Command[Literal["decide"]]:
    ctx = runtime.context
    structure = _sync(ctx, state)
    last = Step.model_validate(state["steps"][-1])
    check = check_structure_draft(structure, last.draft, ctx.config.lengths)
    if ctx.config.review == "structural":  # the ledger alone: no model call
        step = Step(index=len(state["steps"]), kind="review", revision=last.revision, structural_check=check)
        return Command(update={"steps": [step.model_dump(mode="json")]}, goto="decide")
    ctx.stage(f"reviewing revision {last.revision}")
    outcome = ctx.reviewer.review(
        structure.title, last.draft, structure.evidence, structure.claims, check, on_tokens=ctx.on_tokens
    )
    generations = outcome.generations
    if ctx.reviewer.settings.second_opinion:  # recorded beside the check's verdicts, never in their place
        ctx.stage(f"second opinion on revision {last.revision}")
        opinion = ctx.reviewer.second_opinion(check, structure.evidence, structure.claims, on_tokens=ctx.on_tokens)
        check, generations = opinion.check, [*generations, *opinion.generations]
    step = Step(
        index=len(state["steps"]),
        kind="review",
        revision=last.revision,
        review=outcome.review,
        review_error=outcome.error,
        structural_check=check,
        generations=generations,
    )
    return Command(update={"steps": [step.model_dump(mode="json")]}, goto="decide")


def decide(state: CycleState, runtime: Runtime[CycleContext]) -> Command[Literal["revise", "finish"]]:
    ctx = runtime.context
    _sync(ctx, state)
    last = Step.model_validate(state["steps"][-1])
    if passes(last, ctx.config):
        return Command(update={"stop_reason": "passed"}, goto="finish")
    if last.revision >= ctx.config.max_revisions:
        return Command(update={"stop_reason": "max_revisions"}, goto="finish")
    return Command(goto="revise")


def revise(state: CycleState, runtime: Runtime[CycleContext]) -> Command[Literal["review"]]:
    ctx = runtime.context
    structure = _sync(ctx, state)
    reviewed = Step.model_validate(state["steps"][-1])
    drafted = Step.model_validate(state["steps"][-2])
    ctx.stage(f"revising (revision {drafted.revision + 1})")
    draft, generations = ctx.writer.revise(
        structure, drafted.draft, reviewed.review, reviewed.structural_check, on_tokens=ctx.on_tokens
    )
    step = Step(
        index=len(state["steps"]), kind="draft", revision=drafted.revision + 1, draft=draft, generations=generations
    )
    return Command(update={"steps": [step.model_dump(mode="json")]}, goto="review")


def finish(state: CycleState, runtime: Runtime[CycleContext]) -> Command:
    ctx = runtime.context
    _sync(ctx, state)
    if ctx.store is not None:
        ctx.store.finish(ctx.thread_id, "completed", state.get("stop_reason"), final_draft(state))
    return Command(update={"status": "completed"}, goto=END)


# -- helpers ------------------------------------------------------------------------------


def passes(review_step: Step, config: CycleConfiguration) -> bool:
    """Both the model and the deterministic check must agree the draft is good enough (with
    `review: structural`, the check alone, and then it must find no unsupported claim)."""
    check = review_step.structural_check
    if check is None or check.closure_rate is None:
        return False  # a draft that commits to nothing never passes
    if config.review == "structural":
        return check.closure_rate >= config.min_closure and not check.unsupported_claims
    if review_step.review is None:
        return False  # no valid review
    return review_step.review.scores.overall >= config.min_overall and check.closure_rate >= config.min_closure


def final_draft(state: CycleState) -> Draft | None:
    drafts = [s for s in state.get("steps", []) if s["kind"] == "draft"]
    return Draft.model_validate(drafts[-1]["draft"]) if drafts else None


def _sync(ctx: CycleContext, state: CycleState) -> ArgumentStructure:
    """Copy committed steps into the trajectory store; return the structure."""
    structure = ArgumentStructure.model_validate(state["structure"])
    if ctx.store is not None:
        ctx.store.start(ctx.thread_id, structure)
        ctx.store.append_steps(ctx.thread_id, [Step.model_validate(s) for s in state.get("steps", [])])
    return structure


# -- wiring -------------------------------------------------------------------------------


def build_graph(checkpointer=None):
    builder = StateGraph(CycleState, context_schema=CycleContext)
    builder.add_node("write", write)
    builder.add_node("review", review)
    builder.add_node("decide", decide)
    builder.add_node("revise", revise)
    builder.add_node("finish", finish)
    builder.add_edge(START, "write")
    return builder.compile(checkpointer=checkpointer)


def studio_graph():
    """For `langgraph.json`: LangGraph Studio refuses graphs with a custom checkpointer."""
    return build_graph()


def open_checkpointer(path: str | Path) -> SqliteSaver:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    saver = SqliteSaver(conn)
    saver.setup()  # create its tables now, not lazily inside concurrent threads
    return saver


def run_cycle(
    structure: ArgumentStructure, ctx: CycleContext, checkpoints: str | Path | SqliteSaver
) -> CycleState:
    """Run (or resume) thread `ctx.thread_id` to the end; returns the final state.

    A thread with a checkpoint is resumed where it stopped: the step that was interrupted
    runs again, steps already committed are never redone. A finished thread returns at once.
    `checkpoints` is a database path, or an open saver that concurrent threads share (one
    connection: SqliteSaver serialises its own use; many connections would race to set up
    the database).
    """
    # One writer per thread: a second process on this thread gets ThreadBusy, before anything
    # is read or written (its checkpoints would interleave with ours).
    with ctx.store.claim(ctx.thread_id) if ctx.store is not None else nullcontext():
        saver = checkpoints if isinstance(checkpoints, SqliteSaver) else open_checkpointer(checkpoints)
        try:
            graph = build_graph(saver)
            config = {"configurable": {"thread_id": ctx.thread_id}}
            snapshot = graph.get_state(config)
            if snapshot.values and not snapshot.next:
                _repair_outcome(ctx, snapshot.values)
                return snapshot.values  # finished earlier
            if snapshot.values:
                ctx.stage("resuming")
                graph.invoke(None, config, context=ctx, durability="sync")
            else:
                initial = {"structure": structure.model_dump(mode="json"), "steps": [], "status": "running"}
                graph.invoke(initial, config, context=ctx, durability="sync")
            return graph.get_state(config).values
        finally:
            if saver is not checkpoints:
                saver.conn.close()


def _repair_outcome(ctx: CycleContext, state: CycleState) -> None:
    """The finish node writes the outcome row, then the checkpoint commits. If the store lost
    its part (or the run predates a durable store), the checkpoint still says "finished":
    write the steps and the outcome from it now, or the thread is never finished in the store
    (and `pairs build` never sees it)."""
    if ctx.store is None or ctx.store.is_finished(ctx.thread_id):
        return
    _sync(ctx, state)
    ctx.store.finish(ctx.thread_id, state.get("status", "completed"), state.get("stop_reason"), final_draft(state))
