"""The analyst (paper sections -> ArgumentStructure) and the ingest Markdown writer.

Logic tests use a scripted engine; one slow test runs the real transformers engine on the
tiny random model to show the analysis schema compiles for constrained generation.
"""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from paracycle.agents.analyst import (
    Analysis,
    Analyst,
    AnalystSettings,
    analyse_prompt,
    analysis_schema,
    evidence_candidates,
    introduction_excerpt,
    structure_to_yaml,
)
from paracycle.engines.base import Engine, GenerationResult, parse_structured
from paracycle.ingest.markdown import FLOATS_SECTION, sections_to_markdown
from paracycle.ingest.sections import Float, PaperSections, Section
from paracycle.loading import load_structure
from paracycle.paper import parse_paper
from paracycle.schemas import SamplingParams

TITLE = "Sketch Routing for Fast Translation"

SECTIONS = PaperSections(
    title=TITLE,
    abstract="Translation models are slow.\nFlashRoute reduces latency by 2.3x on WMT14.",
    introduction=[
        "Machine translation serves millions of people every day.",
        "However, existing routers score every expert for every token. We propose FlashRoute.",
    ],
    sections=[
        Section(name="Related Work", text="Smith et al. report 41.2 BLEU with dense routing."),
        Section(name="Method", text="FlashRoute keeps a token sketch that is 4.5x smaller than an index."),
        Section(
            name="4 Experiments",
            text=(
                "FlashRoute outperforms the dense router on every language pair.\n\n"
                "On WMT14, FlashRoute reduces latency by 2.3x at equal BLEU. "
                "In an ablation without the sketch, latency rises by 1.7x.\n\n"
                "Ok 12.5 ms."  # a fragment: too short to be evidence
            ),
        ),
        Section(name="Conclusion", text="FlashRoute reduces latency by 9.9x overall."),
        Section(name="References", text="Smith et al. reach 99.1% accuracy."),
    ],
    floats=[
        Float(kind="table", number=1, label="tab:main", caption="Latency and BLEU on WMT14: 12.5 ms vs 28.8 ms.",
              section="4 Experiments"),
        Float(kind="figure", number=1, caption="Ablation of the sketch size.", section="4 Experiments"),
        Float(kind="figure", number=2, caption="", section="4 Experiments"),  # no caption: skipped
        Float(kind="figure", number=3, caption="Teaser: FlashRoute is 2.3x faster.", section="Introduction"),
    ],
)


# --------------------------------------------------------------------------------------
# Evidence candidates
# --------------------------------------------------------------------------------------


def test_captions_come_first_then_result_sentences():
    evidence = evidence_candidates(SECTIONS)
    assert [e.id for e in evidence] == [f"E{i}" for i in range(1, len(evidence) + 1)]
    assert [e.location for e in evidence[:3]] == ["Table 1 (tab:main)", "Figure 1", "Figure 3"]
    assert evidence[0].finding == "Latency and BLEU on WMT14: 12.5 ms vs 28.8 ms."
    assert evidence[0].kind == "experiment" and evidence[1].kind == "ablation"
    sentences = evidence[3:]
    assert [e.finding for e in sentences] == [
        "FlashRoute outperforms the dense router on every language pair.",
        "On WMT14, FlashRoute reduces latency by 2.3x at equal BLEU.",
        "In an ablation without the sketch, latency rises by 1.7x.",
    ]
    assert {e.location for e in sentences} == {"4 Experiments"}
    assert sentences[2].kind == "ablation"
    text = " ".join(e.finding for e in evidence)
    # conclusion, references, related work and the method section are not used
    assert "9.9x" not in text and "99.1%" not in text and "41.2" not in text and "4.5x" not in text


def test_sentences_with_numbers_are_preferred_and_keep_file_order():
    evidence = evidence_candidates(SECTIONS, max_items=5)
    assert [e.finding for e in evidence[3:]] == [
        "On WMT14, FlashRoute reduces latency by 2.3x at equal BLEU.",
        "In an ablation without the sketch, latency rises by 1.7x.",
    ]
    assert len(evidence_candidates(SECTIONS, max_items=2)) == 2
    assert evidence_candidates(SECTIONS, max_items=0) == []


def test_duplicates_are_dropped():
    doubled = SECTIONS.model_copy(update={
        "floats": [Float(kind="table", number=1, caption="On WMT14, FlashRoute reduces latency by 2.3x at equal BLEU.",
                         section="4 Experiments")],
        "sections": [Section(name="Results", text="We gain 3.1 BLEU. We gain 3.1 BLEU. "
                                                  "On WMT14, FlashRoute reduces latency by 2.3x at equal BLEU.")],
    })
    assert [e.finding for e in evidence_candidates(doubled)] == [
        "On WMT14, FlashRoute reduces latency by 2.3x at equal BLEU.",
        "We gain 3.1 BLEU.",
    ]


def test_without_result_sections_any_section_but_conclusion_and_prior_work_is_used():
    plain = SECTIONS.model_copy(update={"floats": [], "sections": [
        s for s in SECTIONS.sections if s.name != "4 Experiments"
    ]})
    findings = [e.finding for e in evidence_candidates(plain)]
    assert findings == ["FlashRoute keeps a token sketch that is 4.5x smaller than an index."]


# --------------------------------------------------------------------------------------
# The schema
# --------------------------------------------------------------------------------------


def analysis_dict(evidence: list[list[str]] | None = None, **overrides) -> dict:
    data = {
        "problem": "Mixture-of-experts translation is slow.",
        "motivation": "Translation serves millions of people.",
        "gap": "Existing routers score every expert for every token.",
        "insight": "A token sketch predicts the useful experts.",
        "realization_type": "enabling",
        "method": [{"name": "sketch router", "description": "keeps a token sketch", "rationale": "scoring is slow"}],
        "claims": [{"text": f"Claim {i}.", "evidence": ids} for i, ids in enumerate(evidence or [["E1"]], start=1)],
        "contributions": ["FlashRoute, a sketch router."],
        "limitations": [],
    }
    return {**data, **overrides}


def test_schema_forbids_unknown_evidence_ids():
    schema = analysis_schema(["E1", "E2"])
    schema.model_validate(analysis_dict([["E1", "E2"], []]))
    with pytest.raises(ValidationError):
        schema.model_validate(analysis_dict([["E9"]]))
    with pytest.raises(ValidationError):  # at most 3 ids per claim
        schema.model_validate(analysis_dict([["E1", "E2", "E1", "E2"]]))
    with pytest.raises(ValidationError):  # the bounds a small model needs
        schema.model_validate(analysis_dict(problem="x" * 301))
    with pytest.raises(ValidationError):
        schema.model_validate(analysis_dict(method=[]))
    claim = schema.model_json_schema()["$defs"]["GroundedAnalysisClaim"]
    assert claim["properties"]["evidence"]["items"]["enum"] == ["E1", "E2"]
    assert issubclass(schema, Analysis)


def test_schema_without_candidates_allows_only_empty_evidence():
    schema = analysis_schema([])
    schema.model_validate(analysis_dict([[]]))
    with pytest.raises(ValidationError):
        schema.model_validate(analysis_dict([["E1"]]))


# --------------------------------------------------------------------------------------
# The agent, with a scripted engine
# --------------------------------------------------------------------------------------


class FakeEngine(Engine):
    """Returns the scripted texts in order, parsed against each request's schema."""

    model_id = "fake"

    def __init__(self, *texts: str):
        self.texts = list(texts)
        self.requests = []

    def generate(self, requests, on_tokens=None):
        results = []
        for request in requests:
            self.requests.append(request)
            text = self.texts.pop(0)
            result = GenerationResult(text=text, prompt_tokens=50, completion_tokens=20, finish_reason="stop")
            result.parsed, result.parse_status, result.parse_error = parse_structured(text, request.schema)
            results.append(result)
        return results


def test_a_valid_answer_becomes_a_structure_with_anchor():
    engine = FakeEngine(json.dumps(analysis_dict([["E1", "E1", "E4"], []], limitations=["  ", "Only WMT."])))
    outcome = Analyst(engine).analyse(TITLE, SECTIONS, field="machine translation")
    assert outcome.error is None, outcome.error
    structure = outcome.structure
    assert structure.title == TITLE and structure.field == "machine translation"
    assert structure.evidence == evidence_candidates(SECTIONS)  # every candidate is kept
    assert [(c.id, c.evidence) for c in structure.claims] == [("c1", ["E1", "E4"]), ("c2", [])]
    assert structure.limitations == ["Only WMT."]
    assert structure.anchor.abstract == SECTIONS.abstract
    assert structure.anchor.introduction == SECTIONS.introduction
    [generation] = outcome.generations
    assert generation.agent == "analyst" and generation.purpose == "analyse" and generation.parse_status == "ok"
    prompt = engine.requests[0].messages[1]["content"]
    assert "E1 [Table 1 (tab:main)] Latency and BLEU" in prompt and "machine translation" in prompt
    assert SECTIONS.introduction[1] in prompt


def test_no_anchor_without_introduction_and_no_evidence_means_open_claims():
    bare = PaperSections(abstract="A short abstract.", from_latex=False)
    engine = FakeEngine(json.dumps(analysis_dict([[]])))
    outcome = Analyst(engine).analyse(TITLE, bare)
    assert outcome.error is None, outcome.error
    assert outcome.structure.anchor is None and outcome.structure.evidence == []
    assert outcome.structure.claims[0].evidence == []
    assert "(none found" in engine.requests[0].messages[1]["content"]


def test_invalid_output_is_retried_then_returned_as_an_error():
    settings = AnalystSettings(sampling=SamplingParams(temperature=0.2, max_new_tokens=900, seed=7))
    engine = FakeEngine('{"problem": "trunc', json.dumps(analysis_dict([["E99"]])))
    outcome = Analyst(engine, settings).analyse(TITLE, SECTIONS)
    assert outcome.structure is None and "2 attempts" in outcome.error
    assert [g.attempt for g in outcome.generations] == [1, 2]
    assert [g.parse_status for g in outcome.generations] == ["failed", "failed"]
    assert [g.sampling.seed for g in outcome.generations] == [7, 8]


def test_an_invalid_assembled_structure_is_retried():
    engine = FakeEngine(json.dumps(analysis_dict(problem="   ")), json.dumps(analysis_dict()))
    outcome = Analyst(engine).analyse(TITLE, SECTIONS)
    assert outcome.error is None and outcome.structure.problem.startswith("Mixture")
    assert len(outcome.generations) == 2

    engine = FakeEngine(json.dumps(analysis_dict(contributions=[" "])))
    outcome = Analyst(engine, AnalystSettings(max_attempts=1)).analyse(TITLE, SECTIONS)
    assert outcome.structure is None and "contributions" in outcome.error


def test_long_introductions_are_cut_at_paragraphs():
    paragraphs = ["a " * 100, "b " * 100, "c " * 100]
    excerpt = introduction_excerpt(paragraphs, 450)
    assert excerpt.count("\n\n") == 1 and excerpt.endswith("b [...]")
    assert len(introduction_excerpt(["word " * 1000], 300)) < 320
    long = SECTIONS.model_copy(update={"introduction": ["x " * 5000]})
    prompt = analyse_prompt(TITLE, long, [], settings=AnalystSettings(max_intro_chars=1000))
    assert len(prompt) < 3500


def test_yaml_round_trip(tmp_path):
    outcome = Analyst(FakeEngine(json.dumps(analysis_dict(gap="Prior work: dense — “slow”; # not a comment")))).analyse(
        TITLE, SECTIONS
    )
    path = tmp_path / "structure.yaml"
    path.write_text(structure_to_yaml(outcome.structure), encoding="utf-8")
    assert load_structure(path) == outcome.structure
    assert "field:" not in path.read_text()  # None is left out


# --------------------------------------------------------------------------------------
# Markdown for `paracycle review`
# --------------------------------------------------------------------------------------


def test_markdown_parses_back_with_captions_as_evidence():
    text = sections_to_markdown(TITLE, SECTIONS)
    paper = parse_paper(text, "paper.md")
    assert paper.title == TITLE
    assert paper.abstract == " ".join(SECTIONS.abstract.split())
    assert paper.introduction == SECTIONS.introduction
    assert list(paper.sections) == ["Related Work", "Method", "4 Experiments", "Conclusion", "References", FLOATS_SECTION]
    findings = {e.finding: e.location for e in paper.evidence()}
    assert findings["Table 1: Latency and BLEU on WMT14: 12.5 ms vs 28.8 ms."] == "4 Experiments"
    assert findings["Figure 3: Teaser: FlashRoute is 2.3x faster."] == FLOATS_SECTION


def test_markdown_keeps_text_that_looks_like_structure_as_text():
    tricky = SECTIONS.model_copy(update={
        "introduction": ["# not a heading, 40% of the time", "```", "<!-- x -->"],
        "sections": [Section(name="Introduction", text="More.\n## also not a heading")],
        "floats": [],
    })
    paper = parse_paper(sections_to_markdown(TITLE, tricky), "paper.md")
    assert len(paper.introduction) == 3
    assert list(paper.sections) == ["Introduction (continued)"]


def test_markdown_needs_an_introduction():
    with pytest.raises(ValueError, match="introduction"):
        sections_to_markdown(TITLE, SECTIONS.model_copy(update={"introduction": ["  "]}))


# --------------------------------------------------------------------------------------
# The real engine: the schema compiles for constrained generation
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_engine_gives_a_structure_or_a_recorded_failure(tiny_model):
    from paracycle.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(tiny_model, max_batch_size=1)
    settings = AnalystSettings(
        sampling=SamplingParams(temperature=1.0, max_new_tokens=48, repetition_penalty=1.1, seed=3),
        max_attempts=2,
    )
    tokens: list[int] = []
    outcome = Analyst(engine, settings).analyse(TITLE, SECTIONS, on_tokens=tokens.append)
    assert (outcome.structure is None) != (outcome.error is None)
    assert 1 <= len(outcome.generations) <= 2
    for generation in outcome.generations:
        assert generation.agent == "analyst"
        assert generation.prompt_tokens > 0 and generation.completion_tokens > 0
        assert generation.output.startswith("{")  # the grammar was in force
    assert sum(tokens) > 0
    if outcome.structure is not None:
        assert outcome.structure.anchor is not None
