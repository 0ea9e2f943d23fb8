"""The writer's plan, text clean-up and revision targeting (pure logic)."""

from __future__ import annotations

from conftest import EXAMPLES

from paracycle.agents.writer import (
    clean_prose,
    in_canonical_order,
    lower_first,
    opening_values,
    planned_roles,
    problems_by_location,
    role_facts,
)
from paracycle.loading import load_structure
from paracycle.schemas import (
    ROLES,
    Draft,
    LengthCheck,
    Paragraph,
    StructuralCheck,
    UnsupportedClaim,
)

STRUCTURE = load_structure(EXAMPLES / "cache-scheduling.yaml")


def a_check(**kw) -> StructuralCheck:
    length = LengthCheck(abstract_words=1, introduction_words=1, target_abstract_words=1,
                         target_introduction_words=1, abstract_ratio=1, introduction_ratio=1, within_target=True)
    return StructuralCheck(length=length, **kw)


def a_draft() -> Draft:
    return Draft(abstract="A.", introduction=[Paragraph(id=f"intro_p{i}", role=r, text=f"T{i}.")
                                              for i, r in enumerate(ROLES, start=1)])


def test_plan_is_every_role_in_order():
    assert planned_roles(STRUCTURE) == list(ROLES)
    assert planned_roles(STRUCTURE.model_copy(update={"evidence": [], "claims": []})) == [
        r for r in ROLES if r != "evidence_preview"
    ]


def test_each_role_gets_its_own_facts():
    assert any(STRUCTURE.gap in f for f in role_facts(STRUCTURE, "gap_analysis"))
    evidence = role_facts(STRUCTURE, "evidence_preview")
    assert len(evidence) == len(STRUCTURE.evidence) and STRUCTURE.evidence[0].finding in evidence[0]
    assert role_facts(STRUCTURE, "contribution_summary") == STRUCTURE.contributions


def test_openings_come_from_the_structure():
    values = opening_values(STRUCTURE)
    assert values["problem"] == STRUCTURE.problem.strip()
    assert values["contributions"].startswith("(1) ")


def test_clean_prose_removes_markdown_and_cut_off_sentences():
    raw = "## Heading\n- First point here. Second point\nis here. And a cut-off sent"
    assert clean_prose(raw, 5) == "First point here. Second point is here."
    assert clean_prose("One. Two. Three.", 2) == "One. Two."


def test_lower_first_keeps_names():
    assert lower_first("Prior schedulers ignore caches") == "prior schedulers ignore caches"
    assert lower_first("SpanSieve keeps spans") == "SpanSieve keeps spans"
    assert lower_first("GPU memory") == "GPU memory"


def test_revision_targets_only_flagged_places():
    draft = a_draft()
    check = a_check(unsupported_claims=[UnsupportedClaim(sentence="We win by 99%.", paragraph_id="intro_p6", reason="r")],
                    dropped_contributions=["a new scheduler"])
    problems = problems_by_location(draft, None, check)
    assert set(problems) == {"intro_p6", "intro_p7"}
    assert "We win by 99%." in problems["intro_p6"][0]
    assert "a new scheduler" in problems["intro_p7"][0]


def test_unknown_locations_are_ignored_and_nothing_flagged_means_everything():
    draft = a_draft()
    check = a_check(unsupported_claims=[UnsupportedClaim(sentence="s", paragraph_id="intro_p99", reason="r")])
    problems = problems_by_location(draft, None, check)
    assert set(problems) == {"abstract", *(p.id for p in draft.introduction)}


def test_canonical_order_renumbers():
    paragraphs = [Paragraph(id="intro_p1", role="gap_analysis", text="g"),
                  Paragraph(id="intro_p2", role="problem_statement", text="p")]
    ordered = in_canonical_order(paragraphs)
    assert [(p.id, p.role, p.text) for p in ordered] == [("intro_p1", "problem_statement", "p"),
                                                         ("intro_p2", "gap_analysis", "g")]


