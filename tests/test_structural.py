"""The deterministic structural check and the claim extraction it rests on."""

from __future__ import annotations

from pathlib import Path

import pytest

from paracycle import text
from paracycle.eval.structural import (
    check_draft,
    check_structure_draft,
    dropped_contributions,
    length_check,
    open_commitments,
    role_order_violations,
)
from paracycle.paper import load_paper, parse_paper
from paracycle.schemas import (
    ArgumentStructure,
    Claim,
    Draft,
    Evidence,
    MethodComponent,
    Paragraph,
)
from paracycle.settings import LengthTargets

EXAMPLE_PAPER = Path(__file__).resolve().parents[1] / "examples" / "paper.md"
INVENTED = "We also cut error by 40% on a benchmark the evidence never mentions."


@pytest.fixture
def structure() -> ArgumentStructure:
    return ArgumentStructure(
        title="FlashRoute: Sparse Expert Routing for Fast Translation",
        problem="Mixture-of-experts translation models are slow at inference.",
        motivation="Latency limits where translation models can be deployed.",
        gap="Existing routers score every expert for every token.",
        insight="Routing can be decided from a cheap sketch of the token.",
        realization_type="enabling",
        method=[
            MethodComponent(name="router", description="a sparse router", rationale="dense scoring is slow"),
            MethodComponent(name="sketch", description="a token sketch", rationale="cheap to compute"),
        ],
        evidence=[
            Evidence(
                id="e1",
                kind="experiment",
                location="Table 2",
                finding="On WMT14, FlashRoute improves BLEU by 2.1 points over the dense baseline.",
            ),
            Evidence(
                id="e2",
                kind="theorem",
                location="Section 4",
                finding="Theorem 1: the routing objective converges to the optimal assignment.",
            ),
            Evidence(
                id="e3",
                kind="experiment",
                location="Table 3",
                finding="FlashRoute reduces inference latency by 2.3x on WMT14 at equal BLEU.",
            ),
        ],
        claims=[
            Claim(id="c1", text="FlashRoute improves translation quality on WMT14", evidence=["e1"]),
            Claim(id="c2", text="Routing converges to the optimal assignment", evidence=["e2"]),
            Claim(id="c3", text="FlashRoute transfers to low-resource languages", evidence=[]),
        ],
        contributions=[
            "a sparse router that picks experts per token",
            "a convergence theorem for the routing objective",
        ],
    )


def draft_of(abstract: str, *paragraphs: tuple[str, str]) -> Draft:
    """A draft with the given abstract and (role, text) introduction paragraphs."""
    intro = paragraphs or (("scene_setting", "Machine translation is widely used."),)
    return Draft(
        abstract=abstract,
        introduction=[Paragraph(id=f"intro_p{i}", role=role, text=t) for i, (role, t) in enumerate(intro, 1)],
    )


def only_commitment(structure: ArgumentStructure, sentence: str):
    result = check_structure_draft(structure, draft_of(sentence))
    assert len(result.commitments) == 1, result.commitments
    return result, result.commitments[0]


# --------------------------------------------------------------------------------------
# Open commitments
# --------------------------------------------------------------------------------------


def test_open_commitments_are_claims_without_evidence(structure):
    assert open_commitments(structure) == ["c3"]
    backed = structure.model_copy(
        update={"claims": [c for c in structure.claims if c.id != "c3"]}
    )
    assert open_commitments(backed) == []


# --------------------------------------------------------------------------------------
# Claim extraction
# --------------------------------------------------------------------------------------


def test_split_sentences_keeps_abbreviations_and_decimals_together():
    prose = (
        "Prior work (e.g. Smith et al. 2020) fails on long inputs. We improve accuracy by 3.5. "
        "See Fig. 2 for the curve, i.e. the full picture! J. Doe et al. agree? Yes."
    )
    assert text.split_sentences(prose) == [
        "Prior work (e.g. Smith et al. 2020) fails on long inputs.",
        "We improve accuracy by 3.5.",
        "See Fig. 2 for the curve, i.e. the full picture!",
        "J. Doe et al. agree?",
        "Yes.",
    ]


@pytest.mark.parametrize(
    "sentence",
    [
        "Our method cuts error by 40% on CIFAR-10.",
        "It reaches 0.91 F1 on the test set.",
        "Decoding is 2.3x faster than with the dense model.",
        "FlashRoute outperforms every baseline we tried.",
        "This sets a new state-of-the-art on GLUE.",
        "We show that routing can be learned from a sketch.",
        "We prove that the objective is convex.",
        "The router achieves near-perfect expert balance.",
        "Training converges in half the steps.",
        "The sketch reduces memory by an order of magnitude.",
        "It needs fewer experts per token.",
    ],
)
def test_claim_sentences_are_detected(sentence):
    assert text.is_claim_sentence(sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        "Language models are widely used.",
        "We propose FlashRoute, a sparse router.",
        "Existing routers score every expert for every token.",
        "In 2023, translation models moved to mixtures of experts.",
        "Section 3 describes the method and Table 2 lists the data.",
        "The method has 3 components.",
    ],
)
def test_motivation_and_plans_are_not_claims(sentence):
    assert not text.is_claim_sentence(sentence)


def test_numbers_are_normalised():
    assert text.numbers("cuts error by 40 %") == text.numbers("cuts error by 40%") == ["40%"]
    assert text.numbers("2.3× faster") == text.numbers("2.3x faster") == ["2.3x"]
    assert text.numbers("a 40.0 percent drop on 1,000 prompts") == ["40%", "1000"]
    assert text.numbers("0.91 F1") == ["0.91"]


def test_structural_numbers_are_not_specifics():
    sentence = "In 2023 (1), Section 3.1 and Table 12 [4, 5] used CIFAR-10 with 7B models and 3 seeds."
    assert text.numbers(sentence) == []


def test_named_entities_find_dataset_like_names():
    sentence = "On WMT14 and CIFAR-10, FlashRoute beats GLUE-style baselines on Wikipedia using LLMs."
    found = text.named_entities(sentence)
    assert {"WMT14", "CIFAR-10", "FlashRoute", "Wikipedia"} <= set(found)
    assert "On" not in found and "LLMs" not in found
    assert text.named_entities("Smith et al. report results on ImageNet.") == ["ImageNet"]
    # A capital after a colon starts a clause; it is not a name.
    assert text.named_entities("In summary: First, we beat the Transformer on SQuAD.") == [
        "Transformer",
        "SQuAD",
    ]


def test_guarantee_cues_skip_negated_uses():
    from paracycle import assertions

    found = assertions.guarantee_cues("Our router is provably optimal and always converges.")
    assert [c.text for c in found] == ["provably", "optimal", "always"]
    assert assertions.guarantee_cues("Existing routers offer no guarantee and are not always stable.") == []


def test_content_words_drop_stopwords_and_stem():
    assert text.content_words("The router reduces the latency") == text.content_words(
        "routers reduced latency"
    )
    assert "the" not in text.content_words("the router")


# --------------------------------------------------------------------------------------
# Commitments
# --------------------------------------------------------------------------------------


def test_backed_claim_is_fulfilled(structure):
    result, commitment = only_commitment(
        structure, "On WMT14, FlashRoute improves BLEU by 2.1 points over the dense baseline."
    )
    assert commitment.status == "fulfilled"
    assert commitment.matched_claim == "c1"
    assert "e1" in commitment.evidence_ids
    assert result.unsupported_claims == []
    assert result.closure_rate == 1.0


def test_number_not_in_evidence_is_unsupported(structure):
    result, commitment = only_commitment(structure, "FlashRoute improves BLEU by 3.4 points on WMT14.")
    assert commitment.status == "unfulfilled"
    assert [u.sentence for u in result.unsupported_claims] == [commitment.sentence]
    reason = result.unsupported_claims[0].reason
    assert "states 3.4 points" in reason and "e1 says 2.1 points" in reason  # what the evidence says instead
    assert result.unsupported_claims[0].paragraph_id == "abstract"


def test_number_in_a_backed_claim_text_counts_as_backed():
    evidence = [Evidence(id="e", kind="experiment", location="Table 1", finding="X cuts latency substantially.")]
    claims = [Claim(id="c", text="X cuts latency by 35%", evidence=["e"])]
    result = check_draft(draft_of("X cuts latency by 35%."), evidence=evidence, claims=claims, contributions=[])
    assert [c.status for c in result.commitments] == ["fulfilled"]
    unbacked = [Claim(id="c", text="X cuts latency by 35%", evidence=[])]
    result = check_draft(draft_of("X cuts latency by 35%."), evidence=evidence, claims=unbacked, contributions=[])
    assert "no evidence or other field states 35%" in result.commitments[0].reason


def test_unknown_dataset_name_is_unsupported(structure):
    result, commitment = only_commitment(structure, "FlashRoute improves BLEU by 2.1 points on IWSLT17.")
    assert commitment.status == "unfulfilled"
    assert "IWSLT17 appears nowhere in the structure" in commitment.reason
    assert len(result.unsupported_claims) == 1


def test_guarantee_without_theorem_evidence_is_unsupported(structure):
    result, commitment = only_commitment(
        structure, "FlashRoute provably reduces inference latency by 2.3x on WMT14."
    )
    assert commitment.status == "unfulfilled"
    assert "'provably' promises a guarantee" in commitment.reason
    assert "theorem" in commitment.reason
    assert [(sp.kind, sp.backed) for sp in commitment.specifics if sp.kind == "guarantee"] == [("guarantee", False)]


def test_guarantee_with_theorem_evidence_is_fulfilled(structure):
    _, commitment = only_commitment(structure, "We prove that routing converges to the optimal assignment.")
    assert commitment.status == "fulfilled"
    assert commitment.matched_claim == "c2"
    assert commitment.evidence_ids == ["e2"]


def test_matching_an_open_commitment_is_unfulfilled(structure):
    _, commitment = only_commitment(structure, "We show that FlashRoute transfers to low-resource languages.")
    assert commitment.status == "unfulfilled"
    assert commitment.matched_claim == "c3"
    assert "restates claim c3, which cites no evidence" in commitment.reason


def test_a_baseline_no_finding_compares_against_is_unfulfilled(structure):
    _, commitment = only_commitment(structure, "Our approach outperforms humans at poetry writing.")
    assert commitment.status == "unfulfilled"
    assert "no finding compares against humans" in commitment.reason


def test_weak_match_is_partial(structure):
    result, commitment = only_commitment(
        structure, "FlashRoute outperforms baselines across many diverse multilingual settings."
    )
    assert commitment.status == "partial"
    assert result.unsupported_claims == []
    assert result.closure_rate == 0.0


def test_closure_rate_is_fulfilled_over_commitments(structure):
    draft = draft_of(
        "On WMT14, FlashRoute improves BLEU by 2.1 points over the dense baseline. "
        "FlashRoute improves BLEU by 3.4 points on WMT14.",
        ("scene_setting", "Machine translation is widely used."),
        ("evidence_preview", "We prove that routing converges to the optimal assignment."),
    )
    result = check_structure_draft(structure, draft)
    assert [c.status for c in result.commitments] == ["fulfilled", "unfulfilled", "fulfilled"]
    assert [c.paragraph_id for c in result.commitments] == ["abstract", "abstract", "intro_p2"]
    assert result.closure_rate == pytest.approx(2 / 3)
    assert result.open_commitments == ["c3"]


def test_closure_rate_is_none_without_claims(structure):
    draft = draft_of("Machine translation is slow.", ("scene_setting", "Translation serves millions."))
    result = check_structure_draft(structure, draft)
    assert result.commitments == []
    assert result.closure_rate is None


# --------------------------------------------------------------------------------------
# Contributions, roles, length
# --------------------------------------------------------------------------------------


def test_dropped_contributions(structure):
    draft = draft_of(
        "We present a sparse router that picks experts for each token.",
        ("scene_setting", "Machine translation is widely used."),
    )
    assert dropped_contributions(draft, structure.contributions) == [
        "a convergence theorem for the routing objective"
    ]
    both = draft_of(
        "We present a sparse router that picks experts for each token. "
        "We give a convergence theorem for the routing objective."
    )
    assert dropped_contributions(both, structure.contributions) == []


def test_role_going_backwards_is_a_violation():
    draft = draft_of(
        "Abstract.",
        ("scene_setting", "a"),
        ("method_preview", "b"),
        ("problem_statement", "c"),
        ("gap_analysis", "d"),
        ("evidence_preview", "e"),
    )
    violations = role_order_violations(draft)
    assert [(v.paragraph_id, v.role, v.after_role) for v in violations] == [
        ("intro_p3", "problem_statement", "method_preview"),
        ("intro_p4", "gap_analysis", "method_preview"),
    ]


def test_skipped_and_repeated_roles_are_fine():
    draft = draft_of(
        "Abstract.",
        ("scene_setting", "a"),
        ("gap_analysis", "b"),
        ("gap_analysis", "c"),
        ("evidence_preview", "d"),
        ("contribution_summary", "e"),
    )
    assert role_order_violations(draft) == []


def test_length_check_ratios_and_tolerance():
    draft = draft_of("word " * 100, ("scene_setting", "word " * 300), ("gap_analysis", "word " * 150))
    length = length_check(draft, LengthTargets(abstract_words=200, introduction_words=600, tolerance=0.5))
    assert (length.abstract_words, length.introduction_words) == (100, 450)
    assert length.abstract_ratio == 0.5 and length.introduction_ratio == 0.75
    assert length.within_target
    short = draft_of("word " * 99, ("scene_setting", "word " * 450))
    assert not length_check(short, LengthTargets(tolerance=0.5)).within_target
    assert not length_check(draft, LengthTargets(tolerance=0.2)).within_target


def test_check_draft_reports_length_targets(structure):
    draft = draft_of("word " * 50)
    result = check_structure_draft(structure, draft, LengthTargets(abstract_words=50, introduction_words=5))
    assert result.length.abstract_ratio == 1.0
    assert result.length.target_introduction_words == 5


# --------------------------------------------------------------------------------------
# Acceptance: examples/paper.md
# --------------------------------------------------------------------------------------


def check_paper(paper):
    return check_draft(paper.to_draft(), evidence=paper.evidence(), claims=[], contributions=[])


def test_example_paper_has_no_unsupported_claims():
    paper = load_paper(EXAMPLE_PAPER)
    result = check_paper(paper)
    assert len(result.commitments) >= 4  # the abstract and introduction do make claims
    assert result.unsupported_claims == []
    assert result.role_order_violations == []


def test_example_paper_with_an_invented_claim_reports_exactly_that_sentence():
    markdown = EXAMPLE_PAPER.read_text(encoding="utf-8")
    anchor = "before the\nquestion appears."  # the end of the gap paragraph
    assert anchor in markdown
    paper = parse_paper(markdown.replace(anchor, f"{anchor} {INVENTED}"), "edited.md")
    result = check_paper(paper)
    assert [(u.sentence, u.paragraph_id) for u in result.unsupported_claims] == [(INVENTED, "intro_p3")]
    assert "no evidence or other field states 40%" in result.unsupported_claims[0].reason
