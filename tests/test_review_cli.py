"""`paracycle review` end to end through the CLI, on a tiny random model: the structural
verdict does not depend on the model, and a schema-violating review is recorded, not raised."""

from __future__ import annotations

import json

from conftest import EXAMPLES, add_to_intro, run_cli

SENTENCE = "We also cut error by 40% on a benchmark the evidence never mentions."
# A random model fills every string to its bound: keep its reviews short so the test is fast.
SHORT_REVIEWS = "cycle:\n  reviewer:\n    max_attempts: 1\n    sampling: {max_new_tokens: 160}\n"


def short_reviews(tmp_path):
    config = tmp_path / "short.yaml"
    config.write_text(SHORT_REVIEWS)
    return str(config)


def review(tmp_path, text, tiny_model):
    paper = tmp_path / "paper.md"
    paper.write_text(text)
    result = run_cli("review", str(paper), "--json", "--model", str(tiny_model), "--engine", "transformers", "--seed", "0",
                     "--config", short_reviews(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_an_unbacked_sentence_is_reported_and_only_that(tmp_path, tiny_model):
    paper = (EXAMPLES / "paper.md").read_text()
    clean = review(tmp_path, paper, tiny_model)
    assert clean["structural_check"]["unsupported_claims"] == []
    assert clean["structural_check"]["closure_rate"] == 1.0

    edited = review(tmp_path, add_to_intro(paper, SENTENCE), tiny_model)
    unsupported = edited["structural_check"]["unsupported_claims"]
    assert [u["sentence"] for u in unsupported] == [SENTENCE]
    assert "40%" in unsupported[0]["reason"]
    # the review is either schema-valid or its failure is recorded
    assert (edited["review"] is None) == (edited["review_error"] is not None)


def test_review_against_a_structure(tmp_path, tiny_model):
    draft_md = tmp_path / "final.md"
    from paracycle.loading import load_structure
    from paracycle.schemas import Draft, Paragraph

    s = load_structure(EXAMPLES / "cache-scheduling.yaml")
    draft = Draft(
        abstract=s.problem,
        introduction=[
            Paragraph(id="intro_p1", role="gap_analysis", text=s.gap),
            Paragraph(id="intro_p2", role="problem_statement", text=s.problem),  # backwards
        ],
    )
    draft_md.write_text(draft.to_markdown(s.title))
    result = run_cli("review", str(draft_md), "--structure", str(EXAMPLES / "cache-scheduling.yaml"),
                     "--json", "--model", str(tiny_model), "--engine", "transformers", "--config", short_reviews(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    check = json.loads(result.stdout)["structural_check"]
    assert check["role_order_violations"] == [
        {"paragraph_id": "intro_p2", "role": "problem_statement", "after_role": "gap_analysis"}
    ]
    assert len(check["dropped_contributions"]) == len(s.contributions)
