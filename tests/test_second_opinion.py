"""The reviewer's second opinion on borderline commitments: asked as constrained entailment
questions, recorded beside the deterministic verdict and never in its place."""

from __future__ import annotations

import json
import time

import pytest
from fakes import ScriptedEngine, review_json

from conftest import EXAMPLES
from paracycle.agents.reviewer import Reviewer, borderline_questions
from paracycle.config import load_config
from paracycle.engines.base import EngineError, EngineUnavailable, PromptTooLong
from paracycle.loading import load_structure
from paracycle.schemas import Claim, CommitmentCheck, Entailment, LengthCheck, StructuralCheck
from paracycle.settings import CycleConfiguration, ReviewerSettings

STRUCTURE = load_structure(EXAMPLES / "cache-scheduling.yaml")
E1 = STRUCTURE.evidence[0]  # Table 2: memcached latency 1.9 ms -> 0.7 ms
ON = ReviewerSettings(second_opinion=True)


def commitment(sentence: str, status: str, confidence: float = 1.0, **kw) -> CommitmentCheck:
    return CommitmentCheck(sentence=sentence, paragraph_id="intro_p6", status=status, confidence=confidence,
                           reason=f"deterministic: {status}", **kw)


def a_check(*commitments: CommitmentCheck) -> StructuralCheck:
    length = LengthCheck(abstract_words=1, introduction_words=1, target_abstract_words=1,
                         target_introduction_words=1, abstract_ratio=1, introduction_ratio=1, within_target=True)
    fulfilled = sum(c.status == "fulfilled" for c in commitments)
    return StructuralCheck(commitments=list(commitments), closure_rate=fulfilled / len(commitments), length=length)


def answers(*verdicts: str):
    """Scripted engine answers: one Entailment JSON per schema request, in order."""
    return [json.dumps({"verdict": v, "reason": f"the model says {v}"}) for v in verdicts]


def ask(check: StructuralCheck, engine, settings: ReviewerSettings = ON):
    return Reviewer(engine, settings).second_opinion(check, STRUCTURE.evidence, STRUCTURE.claims)


def test_a_partial_commitment_gets_the_models_verdict_beside_its_own():
    check = a_check(
        commitment("PairSched cuts tail latency by 63% on memcached.", "partial", evidence_ids=["E1"]),
        commitment("PairSched raises utilization from 41% to 68%.", "fulfilled", evidence_ids=["E2"]),
    )
    engine = ScriptedEngine(reviews=answers("no"))
    outcome = ask(check, engine)
    asked, sure = outcome.check.commitments
    assert asked.second_opinion.verdict == "no" and asked.second_opinion.reason == "the model says no"
    assert asked.second_opinion.model == "scripted" and asked.second_opinion.evidence_ids == ["E1"]
    assert asked.second_opinion.error is None
    # the deterministic verdict stays the verdict
    assert (asked.status, asked.reason) == ("partial", "deterministic: partial")
    assert outcome.check.closure_rate == check.closure_rate == 0.5
    assert outcome.check.model_dump(exclude={"commitments"}) == check.model_dump(exclude={"commitments"})
    # a confident commitment is not asked about, and the input check is not changed
    assert sure.second_opinion is None and sure == check.commitments[1]
    assert check.commitments[0].second_opinion is None
    # one question, recorded as a reviewer generation constrained to the Entailment schema
    assert [(g.agent, g.purpose, g.parse_status) for g in outcome.generations] == [
        ("reviewer", "second_opinion:0", "ok")
    ]


def test_the_prompt_shows_the_sentence_and_the_finding_it_names():
    sentence = "PairSched cuts tail latency by 63% on memcached."
    engine = ScriptedEngine(reviews=answers("partial"))
    prompt = ask(a_check(commitment(sentence, "partial", evidence_ids=["E1"])), engine).generations[0].prompt
    user = prompt[1]["content"]
    assert sentence in user and E1.finding in user and "E1 (experiment, Table 2)" in user
    assert "deterministic" not in user  # an independent opinion: the check's verdict is not shown
    assert "entail" in prompt[0]["content"]


def test_a_sentence_naming_no_evidence_is_shown_its_claim_and_that_claims_evidence():
    c2 = STRUCTURE.claims[1]  # C2, backed by E2
    check = a_check(commitment("Operators can run servers much busier.", "partial", matched_claim="C2"))
    outcome = ask(check, ScriptedEngine(reviews=answers("yes")))
    user = outcome.generations[0].prompt[1]["content"]
    assert c2.text in user and STRUCTURE.evidence[1].finding in user
    assert outcome.check.commitments[0].second_opinion.evidence_ids == ["E2"]


def test_borderline_is_partial_or_low_confidence_and_needs_evidence_to_show():
    check = a_check(
        commitment("sure and fulfilled", "fulfilled", 0.9, evidence_ids=["E1"]),
        commitment("shaky but fulfilled", "fulfilled", 0.5, evidence_ids=["E1"]),
        commitment("partial", "partial", 1.0, evidence_ids=["E2"]),
        commitment("shaky and unfulfilled", "unfulfilled", 0.6, evidence_ids=["E3"]),
        commitment("unfulfilled: its specifics failed", "unfulfilled", 1.0, evidence_ids=["E3"]),
        commitment("nothing to show", "partial", 0.1),  # names no evidence, matches no claim
        commitment("an open claim", "partial", 0.2, matched_claim="C9"),  # C9 cites no evidence
    )
    claims = [*STRUCTURE.claims, Claim(id="C9", text="PairSched works everywhere.", evidence=[])]
    asked = [q.commitment.sentence for q in borderline_questions(check, STRUCTURE.evidence, claims, ON)]
    assert asked == ["shaky but fulfilled", "shaky and unfulfilled", "partial"]  # least confident first


def test_at_most_max_questions_per_draft_most_borderline_first():
    confidences = [0.7, 0.1, 0.5, 0.3, 0.6]
    check = a_check(*(commitment(f"s{i}", "fulfilled", c, evidence_ids=["E1"]) for i, c in enumerate(confidences)))
    engine = ScriptedEngine(reviews=answers("yes", "yes"))
    outcome = ask(check, engine, ON.model_copy(update={"second_opinion_max": 2}))
    assert [c.second_opinion is not None for c in outcome.check.commitments] == [False, True, False, True, False]
    assert [g.purpose for g in outcome.generations] == ["second_opinion:1", "second_opinion:3"]
    assert len(engine.batches) == 2


def test_an_answer_that_never_validates_is_a_recorded_failure_not_an_exception():
    check = a_check(commitment("s", "partial", evidence_ids=["E1"]))
    engine = ScriptedEngine(reviews=['{"verdict": "maybe", "reason": "x"}', '{"verdict": "yes"'])
    outcome = ask(check, engine)
    opinion = outcome.check.commitments[0].second_opinion
    assert opinion.verdict is None and opinion.model == "scripted" and opinion.evidence_ids == ["E1"]
    assert opinion.error.startswith("no schema-valid answer after 2 attempts (attempt 2:")
    assert [g.parse_status for g in outcome.generations] == ["failed", "failed"]
    assert outcome.check.commitments[0].status == "partial"


class Refusing(ScriptedEngine):
    """Refuses the first request it gets with `error`, then answers like its parent."""

    def __init__(self, error: Exception, **kw):
        super().__init__(**kw)
        self.error = error

    def generate(self, requests, on_tokens=None):
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return super().generate(requests, on_tokens)


def test_an_engine_error_fails_only_its_own_question():
    check = a_check(
        commitment("a", "partial", 0.2, evidence_ids=["E1"]), commitment("b", "partial", 0.4, evidence_ids=["E2"])
    )
    engine = Refusing(PromptTooLong("too long for the context"), reviews=answers("yes"))
    first, second = ask(check, engine).check.commitments
    assert first.second_opinion.verdict is None and "PromptTooLong: too long" in first.second_opinion.error
    assert second.second_opinion.verdict == "yes"


def test_a_server_that_is_down_is_not_a_question_failure():
    """The collection waits for the server and reruns the review node: recording every
    question as failed would store a review step whose second opinions were never asked."""
    check = a_check(commitment("a", "partial", evidence_ids=["E1"]))
    assert issubclass(EngineUnavailable, EngineError)
    with pytest.raises(EngineUnavailable):
        ask(check, Refusing(EngineUnavailable("connection refused")))


def test_nothing_borderline_asks_nothing():
    check = a_check(commitment("sure", "fulfilled", evidence_ids=["E1"]))
    engine = ScriptedEngine()
    outcome = ask(check, engine)
    assert outcome.check == check and outcome.generations == [] and engine.batches == []


def test_the_setting_is_off_by_default_and_loads_from_a_config_file(tmp_path):
    assert ReviewerSettings().second_opinion is False
    path = tmp_path / "run.yaml"
    path.write_text(
        "cycle:\n  reviewer:\n    second_opinion: true\n    second_opinion_below: 0.6\n"
        "    second_opinion_max: 3\n    second_opinion_sampling: {max_new_tokens: 96}\n"
    )
    reviewer = load_config(path).cycle.reviewer
    assert (reviewer.second_opinion, reviewer.second_opinion_below, reviewer.second_opinion_max) == (True, 0.6, 3)
    assert reviewer.second_opinion_sampling.max_new_tokens == 96
    assert ReviewerSettings.model_validate(reviewer.model_dump()) == reviewer
    seeded = CycleConfiguration(reviewer=reviewer).with_seed(11)
    assert seeded.reviewer.second_opinion_sampling.seed == 11  # every sampling step gets the run's seed


def test_the_cycle_records_second_opinions_in_its_review_steps(tmp_path, monkeypatch):
    from paracycle.agents.writer import Writer
    from paracycle.graphs import cycle
    from paracycle.graphs.configuration import CycleContext
    from paracycle.store import TrajectoryStore

    borderline = a_check(commitment("PairSched cuts tail latency.", "partial", evidence_ids=["E1"]))
    monkeypatch.setattr(cycle, "check_structure_draft", lambda structure, draft, lengths: borderline)

    def answer(request):  # the review and the entailment question share the engine
        return answers("yes")[0] if request.schema is Entailment else review_json(request, overall=9)

    engine = ScriptedEngine(reviews=[answer] * 2)
    cfg = CycleConfiguration(max_revisions=0, reviewer=ON)
    store = TrajectoryStore(tmp_path / "t.sqlite")
    ctx = CycleContext("t", Writer(engine, cfg.writer), Reviewer(engine, cfg.reviewer), cfg, store)
    cycle.run_cycle(STRUCTURE, ctx, tmp_path / "ck.sqlite")
    step = store.load("t").steps[1]
    assert step.structural_check.commitments[0].second_opinion.verdict == "yes"
    assert step.structural_check.commitments[0].status == "partial"
    assert [g.purpose for g in step.generations] == ["review", "second_opinion:0"]


# -- a real model -------------------------------------------------------------------------


def test_a_real_constrained_entailment_question(tiny_model):
    """A tiny random model through the transformers engine: the grammar makes its answer
    valid JSON unless it runs out of tokens, so the verdict is one of yes/partial/no or the
    failure is recorded as data."""
    from paracycle.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(tiny_model, max_batch_size=1)
    sampling = ON.second_opinion_sampling.model_copy(update={"seed": 5})
    settings = ON.model_copy(update={"second_opinion_sampling": sampling})
    check = a_check(commitment("PairSched cuts tail latency by 63% on memcached.", "partial", evidence_ids=["E1"]))
    started = time.perf_counter()
    outcome = Reviewer(engine, settings).second_opinion(check, STRUCTURE.evidence, STRUCTURE.claims)
    seconds = time.perf_counter() - started
    opinion = outcome.check.commitments[0].second_opinion
    assert opinion.model == engine.model_id and opinion.evidence_ids == ["E1"]
    assert 1 <= len(outcome.generations) <= settings.max_attempts
    last = outcome.generations[-1]
    if opinion.verdict is not None:
        assert opinion.verdict in ("yes", "partial", "no") and opinion.error is None
        assert Entailment.model_validate_json(last.output).verdict == opinion.verdict
    else:
        assert opinion.error and last.parse_status == "failed"
    assert E1.finding in last.prompt[1]["content"]
    assert seconds < 20


def test_review_paper_shows_second_opinions_when_the_config_turns_them_on(tmp_path, monkeypatch):
    """`paracycle review --config run.yaml` with `cycle.reviewer.second_opinion: true`: the
    check `review --json` prints under structural_check carries the model's verdicts."""
    import io

    from rich.console import Console

    from paracycle import jobs
    from paracycle.paper import load_paper

    borderline = a_check(commitment("PairSched cuts tail latency.", "partial", evidence_ids=["E1"]))
    from paracycle.eval import ledger

    monkeypatch.setattr(ledger, "check_draft", lambda draft, **kw: borderline)
    engine = ScriptedEngine(reviews=[review_json, *answers("partial")])  # the review, then one question
    monkeypatch.setattr(jobs, "load_engine", lambda spec, log: engine)
    paper = load_paper(EXAMPLES / "paper.md")
    monkeypatch.setattr(type(paper), "evidence", lambda self: STRUCTURE.evidence)
    path = tmp_path / "run.yaml"
    path.write_text("cycle:\n  reviewer:\n    second_opinion: true\n")
    result = jobs.review_paper(paper, None, load_config(path), Console(file=io.StringIO()))
    opinion = result.check.commitments[0].second_opinion
    assert opinion.verdict == "partial" and result.check.commitments[0].status == "partial"
    assert result.outcome.review is not None
