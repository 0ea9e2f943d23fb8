"""The cycle graph's logic on the real LangGraph SqliteSaver and the real store, with a
scripted engine (the model is not what these tests are about)."""

from __future__ import annotations

import sqlite3

import pytest
from fakes import ScriptedEngine, review_json

from paracycle.agents.reviewer import Reviewer
from paracycle.agents.writer import Writer
from paracycle.graphs.configuration import CycleConfiguration, CycleContext
from paracycle.graphs.cycle import build_graph, run_cycle, studio_graph
from paracycle.loading import load_structure
from paracycle.store import TrajectoryStore

from conftest import EXAMPLES


@pytest.fixture
def structure():
    return load_structure(EXAMPLES / "sparse-retrieval.yaml")


def make_ctx(engine, store, thread="t", **config):
    cfg = CycleConfiguration(**config)
    return CycleContext(thread, Writer(engine, cfg.writer), Reviewer(engine, cfg.reviewer), cfg, store)


def test_passing_draft_stops_after_first_review(structure, tmp_path):
    store = TrajectoryStore(tmp_path / "t.sqlite")
    engine = ScriptedEngine(reviews=[lambda r: review_json(r, overall=9)])
    state = run_cycle(structure, make_ctx(engine, store, min_overall=7, min_closure=0.0), tmp_path / "ck.sqlite")
    assert state["stop_reason"] == "passed"
    t = store.load("t")
    assert [s.kind for s in t.steps] == ["draft", "review"]
    assert t.status == "completed" and t.stop_reason == "passed"
    assert t.final_draft == t.steps[0].draft
    # the whole draft (abstract + one paragraph per role) went to the engine as one batch
    assert engine.batches[0] == 1 + len(t.steps[0].draft.introduction)


def test_failing_draft_is_revised_until_max_revisions(structure, tmp_path):
    store = TrajectoryStore(tmp_path / "t.sqlite")
    engine = ScriptedEngine(reviews=[lambda r: review_json(r, overall=2, weakness_on="intro_p3")] * 3)
    run_cycle(structure, make_ctx(engine, store, max_revisions=2), tmp_path / "ck.sqlite")
    t = store.load("t")
    assert [(s.kind, s.revision) for s in t.steps] == [
        ("draft", 0), ("review", 0), ("draft", 1), ("review", 1), ("draft", 2), ("review", 2)
    ]
    assert [s.index for s in t.steps] == list(range(6))
    assert t.stop_reason == "max_revisions"
    # a revision rewrites only what was flagged: intro_p3 (weakness) and unsupported sentences
    revision = t.steps[2]
    purposes = {g.purpose for g in revision.generations}
    assert "revise:intro_p3" in purposes
    flagged = {u.paragraph_id for u in t.steps[1].structural_check.unsupported_claims} | {"intro_p3"}
    assert purposes == {f"revise:{p}" for p in flagged}
    for p_old, p_new in zip(t.steps[0].draft.introduction, revision.draft.introduction):
        if p_old.id not in flagged:
            assert p_old.text == p_new.text


def test_schema_violations_are_retried_then_recorded_not_raised(structure, tmp_path):
    store = TrajectoryStore(tmp_path / "t.sqlite")
    engine = ScriptedEngine(reviews=['{"central_realization": ', "not json at all"])
    run_cycle(structure, make_ctx(engine, store, max_revisions=0), tmp_path / "ck.sqlite")
    review = store.load("t").steps[1]
    assert review.review is None
    assert "no schema-valid review after 2 attempts" in review.review_error
    assert [g.parse_status for g in review.generations] == ["failed", "failed"]
    assert [g.attempt for g in review.generations] == [1, 2]
    assert review.structural_check is not None  # the deterministic check still ran


def test_crash_mid_cycle_resumes_without_redoing_committed_steps(structure, tmp_path):
    store = TrajectoryStore(tmp_path / "t.sqlite")
    crashing = ScriptedEngine(fail_on_call=2)  # call 1 = draft batch, call 2 = first review
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_cycle(structure, make_ctx(crashing, store, max_revisions=1), tmp_path / "ck.sqlite")
    stored_draft = store.load("t").steps  # the draft reached the store when review started
    assert [s.kind for s in stored_draft] == ["draft"]

    resumed = ScriptedEngine(continuation=" A different continuation.")
    run_cycle(structure, make_ctx(resumed, store, max_revisions=1), tmp_path / "ck.sqlite")
    t = store.load("t")
    assert [s.index for s in t.steps] == [0, 1, 2, 3]
    assert t.steps[0] == stored_draft[0]  # not redrafted
    assert resumed.batches[0] == 1  # its first call was the review, not a new draft
    rows = store.db.execute("SELECT COUNT(*) FROM steps WHERE thread_id='t'").fetchone()[0]
    assert rows == 4


def test_finished_thread_is_not_run_again(structure, tmp_path):
    store = TrajectoryStore(tmp_path / "t.sqlite")
    run_cycle(structure, make_ctx(ScriptedEngine(), store, max_revisions=0), tmp_path / "ck.sqlite")
    again = ScriptedEngine()
    run_cycle(structure, make_ctx(again, store, max_revisions=0), tmp_path / "ck.sqlite")
    assert again.batches == []


def test_checkpoints_are_written_by_the_real_sqlite_saver(structure, tmp_path):
    store = TrajectoryStore(tmp_path / "t.sqlite")
    run_cycle(structure, make_ctx(ScriptedEngine(), store, max_revisions=0), tmp_path / "ck.sqlite")
    db = sqlite3.connect(tmp_path / "ck.sqlite")
    count = db.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id='t'").fetchone()[0]
    assert count >= 5  # input, write, review, decide, finish


def test_studio_graph_has_the_cycle_shape():
    graph = studio_graph().get_graph()
    edges = {(e.source, e.target) for e in graph.edges}
    assert {("__start__", "write"), ("write", "review"), ("review", "decide"), ("decide", "revise"),
            ("decide", "finish"), ("revise", "review")} <= edges
    assert build_graph().checkpointer is None


class NoSchemas(ScriptedEngine):
    """Refuses every schema request: a structural-only cycle must never ask for a review."""

    def generate(self, requests, on_tokens=None):
        assert all(r.schema is None for r in requests), "the model was asked to review"
        return super().generate(requests, on_tokens)


def test_structural_review_scores_by_the_ledger_alone(structure, tmp_path):
    store = TrajectoryStore(tmp_path / "t.sqlite")
    # Every paragraph ends in an overclaim the structure cannot back: the ledger finds it each time.
    engine = NoSchemas(continuation=" SpanSieve answers every question about any document perfectly.")
    run_cycle(structure, make_ctx(engine, store, review="structural", max_revisions=1), tmp_path / "ck.sqlite")
    t = store.load("t")
    assert [(s.kind, s.revision) for s in t.steps] == [("draft", 0), ("review", 0), ("draft", 1), ("review", 1)]
    for review in t.steps[1::2]:
        assert review.review is None and review.review_error is None and review.structural_check is not None
        assert not review.generations and review.structural_check.unsupported_claims
    assert t.stop_reason == "max_revisions"
    # Without the overclaim the first draft passes on the ledger's word.
    run_cycle(structure, make_ctx(NoSchemas(), store, "t2", review="structural"), tmp_path / "ck.sqlite")
    assert store.load("t2").stop_reason == "passed"


def test_structural_review_passes_a_draft_the_ledger_accepts(structure, tmp_path):
    from paracycle.graphs.cycle import passes
    from paracycle.schemas import Step, StructuralCheck

    config = CycleConfiguration(review="structural", min_closure=0.8)
    length = {"abstract_words": 150, "introduction_words": 500, "target_abstract_words": 200,
              "target_introduction_words": 600, "abstract_ratio": 0.75, "introduction_ratio": 0.83, "within_target": True}
    check = StructuralCheck.model_validate({"closure_rate": 0.9, "length": length})
    step = Step(index=1, kind="review", revision=0, structural_check=check)
    assert passes(step, config)
    assert not passes(step, CycleConfiguration(min_closure=0.8))  # the model review mode needs a review
    lower = step.model_copy(update={"structural_check": check.model_copy(update={"closure_rate": 0.5})})
    assert not passes(lower, config)
