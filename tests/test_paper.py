"""Reading an existing paper in Markdown (`paracycle review PAPER.md`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from paracycle.errors import InputError
from paracycle.paper import MAX_PAPER_BYTES, infer_roles, load_paper, parse_paper
from paracycle.schemas import Draft, Paragraph

EXAMPLE_PAPER = Path(__file__).resolve().parents[1] / "examples" / "paper.md"

PAPER = """\
# Sketch Routing for Fast Translation

Some Author, Some Lab

## Abstract

Translation models are slow.
FlashRoute reduces latency by 2.3x on WMT14.

## 1 Introduction

Machine translation serves millions of
people every day.

However, existing routers score every expert for every token.

## Method

FlashRoute keeps a token sketch.

### Router details

The router picks two experts.

## Experiments

On WMT14, FlashRoute reduces latency by 2.3x at equal BLEU.
In an ablation without the sketch, latency rises by 1.7x.

| Model | Latency |
|---|---|
| FlashRoute | 12.5 ms |

## Theory

We prove that routing converges to the optimal assignment.

## Conclusion

FlashRoute reduces latency by 2.3x.
"""


def write(tmp_path: Path, content: str | bytes, name: str = "paper.md") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------


def test_parse_paper_splits_title_abstract_introduction_and_rest():
    paper = parse_paper(PAPER, "paper.md")
    assert paper.title == "Sketch Routing for Fast Translation"
    assert paper.abstract == "Translation models are slow. FlashRoute reduces latency by 2.3x on WMT14."
    # Blank lines separate paragraphs; soft line breaks inside one are joined.
    assert paper.introduction == [
        "Machine translation serves millions of people every day.",
        "However, existing routers score every expert for every token.",
    ]
    assert list(paper.sections) == ["Method", "Experiments", "Theory", "Conclusion"]
    assert "### Router details" in paper.sections["Method"]  # deeper headings stay inside


def test_roles_are_inferred_without_markers():
    paper = parse_paper(PAPER, "paper.md")
    draft = paper.to_draft()
    assert [(p.id, p.role) for p in draft.introduction] == [
        ("intro_p1", "scene_setting"),
        ("intro_p2", "gap_analysis"),
    ]


def test_role_heuristic_cues_and_default():
    paragraphs = [
        "Translation is everywhere.",
        "The central challenge is latency.",
        "Yet prior work scores every expert.",
        "Nothing here names a role.",
        "Our key insight is that routing is predictable.",
        "Our method consists of two components.",
        "We evaluate on three benchmarks.",
        "In summary, we make the following contributions.",
    ]
    assert infer_roles(paragraphs) == [
        "scene_setting",
        "problem_statement",
        "gap_analysis",
        "gap_analysis",  # no cue: keeps the previous role
        "insight_delivery",
        "method_preview",
        "evidence_preview",
        "contribution_summary",
    ]


def test_role_markers_round_trip_through_draft_markdown():
    draft = Draft(
        abstract="We study routing. It cuts latency by 2.3x.",
        introduction=[
            Paragraph(id="intro_p1", role="scene_setting", text="Translation is everywhere."),
            # Roles a keyword guess would get wrong, so the markers must be what decides.
            Paragraph(id="intro_p2", role="insight_delivery", text="However, routing is predictable."),
            Paragraph(id="intro_p3", role="gap_analysis", text="In summary, experiments fail."),
        ],
    )
    paper = parse_paper(draft.to_markdown("Routing"), "draft.md")
    assert paper.title == "Routing"
    assert paper.to_draft() == draft
    assert all("<!--" not in p for p in paper.introduction)


# Text a model may well write, each piece of which the old Markdown reshaped: a heading
# that started a section, a role marker that took over the next paragraph's role, a code
# fence that hid the rest of the file, a blank line that split a paragraph in two.
HOSTILE_PARAGRAPHS = [
    "Results first.\n## Introduction\nThis line followed a heading.",
    "## Method",
    "# A title?",
    "<!-- intro_p9 role: contribution_summary -->",
    "<!-- a comment --> is not all of this line <!-- but it ends like one -->",
    "```python",
    "~~~ tilde fence",
    "\\## an escaped heading, written as such",
    "\\alpha is LaTeX, not an escape",
    "\\",
    "One paragraph\n\nwith a blank line inside.",
    "| a table | row |",
    "  ### indented heading  ",
    "Ends with a marker\n<!-- intro_p1 role: gap_analysis -->",
]


def test_draft_markdown_reads_back_as_the_same_paragraphs_and_roles():
    roles = ["scene_setting", "problem_statement", "gap_analysis", "insight_delivery", "method_preview",
             "evidence_preview", "contribution_summary"]
    draft = Draft(
        abstract="Abstract text.\n## Introduction\n```\nStill the abstract.",
        introduction=[
            Paragraph(id=f"intro_p{i}", role=roles[(i * 3) % len(roles)], text=text)
            for i, text in enumerate(HOSTILE_PARAGRAPHS, start=1)
        ],
    )
    paper = parse_paper(draft.to_markdown("C#\n## Abstract"), "final.md")
    # Reading joins a paragraph's lines with single spaces: the same text, whitespace collapsed.
    assert paper.title == "C# ## Abstract"
    assert paper.abstract == "Abstract text. ## Introduction ``` Still the abstract."
    expected = draft.model_copy(update={
        "abstract": paper.abstract,
        "introduction": [p.model_copy(update={"text": " ".join(p.text.split())}) for p in draft.introduction],
    })
    assert paper.to_draft() == expected
    assert list(paper.sections) == []


def test_text_without_odd_whitespace_reads_back_exactly():
    texts = ["## Method", "\\# x", "<!-- x -->", "```", "plain text", "\\\\ two backslashes"]
    draft = Draft(abstract="# Abstract?", introduction=[
        Paragraph(id=f"intro_p{i}", role="scene_setting", text=t) for i, t in enumerate(texts, start=1)
    ])
    paper = parse_paper(draft.to_markdown("Title"), "final.md")
    assert paper.abstract == "# Abstract?"
    assert paper.introduction == texts


def test_markdown_escapes_are_read_as_markdown_does():
    text = "# T\n\n## Abstract\n\n\\# one\n\n## Introduction\n\n\\<!-- kept -->\n\\\\ two\n\n\\x\n"
    paper = parse_paper(text, "p.md")
    assert paper.abstract == "# one"
    assert paper.introduction == ["<!-- kept --> \\ two", "\\x"]


def test_marker_alone_on_its_line_applies_to_next_paragraph():
    text = (
        "# T\n\n## Abstract\n\nA.\n\n## Introduction\n\n"
        "<!-- intro_p1 role: problem_statement -->\n\nHard problem here.\n\nSecond one.\n"
    )
    draft = parse_paper(text, "t.md").to_draft()
    assert [p.text for p in draft.introduction] == ["Hard problem here.", "Second one."]
    assert draft.introduction[0].role == "problem_statement"


def test_unknown_role_in_marker_is_an_input_error():
    text = "# T\n\n## Abstract\n\nA.\n\n## Introduction\n\n<!-- intro_p1 role: preamble -->\nText.\n"
    with pytest.raises(InputError) as caught:
        parse_paper(text, "t.md")
    assert "preamble" in str(caught.value) and str(caught.value).startswith("t.md")


def test_evidence_comes_from_result_sentences_of_the_rest():
    paper = parse_paper(PAPER, "paper.md")
    evidence = {e.id: e for e in paper.evidence()}
    assert evidence["ev_experiments_1"].finding == "On WMT14, FlashRoute reduces latency by 2.3x at equal BLEU."
    assert evidence["ev_experiments_1"].kind == "experiment"
    assert evidence["ev_experiments_1"].location == "Experiments"
    assert evidence["ev_experiments_2"].kind == "ablation"
    assert evidence["ev_theory_1"].kind == "theorem"
    assert any("12.5" in e.finding for e in evidence.values())  # a table row
    # Method has no result sentence; the conclusion only restates the introduction.
    assert not any(e.location in {"Method", "Conclusion"} for e in evidence.values())


def test_example_paper_loads():
    paper = load_paper(EXAMPLE_PAPER)
    assert 5 <= len(paper.introduction) <= 6
    assert 90 <= len(paper.abstract.split()) <= 150
    assert {"Method", "Experiments", "Conclusion"} <= set(paper.sections)
    assert any(e.kind == "ablation" for e in paper.evidence())


# --------------------------------------------------------------------------------------
# Input errors: one line, naming the file
# --------------------------------------------------------------------------------------


def assert_one_line_error(caught: pytest.ExceptionInfo[InputError], path: Path | str, words: str) -> None:
    message = str(caught.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    assert words in message, message


def test_missing_file(tmp_path):
    path = tmp_path / "nope.md"
    with pytest.raises(InputError) as caught:
        load_paper(path)
    assert_one_line_error(caught, path, "not found")


def test_empty_file(tmp_path):
    path = write(tmp_path, "  \n\n")
    with pytest.raises(InputError) as caught:
        load_paper(path)
    assert_one_line_error(caught, path, "empty")


def test_non_utf8_file(tmp_path):
    path = write(tmp_path, b"# Title\n\n## Abstract\n\ncaf\xe9\n")
    with pytest.raises(InputError) as caught:
        load_paper(path)
    assert_one_line_error(caught, path, "not valid UTF-8")


def test_file_larger_than_5_mb(tmp_path):
    path = write(tmp_path, PAPER + "x" * MAX_PAPER_BYTES)
    with pytest.raises(InputError) as caught:
        load_paper(path)
    assert_one_line_error(caught, path, "larger than 5 MB")


@pytest.mark.parametrize(
    ("content", "words", "field"),
    [
        ("## Abstract\n\nA.\n\n## Introduction\n\nB.\n", "no title", "title"),
        ("# T\n\n## Introduction\n\nB.\n", "no '## Abstract' section", "abstract"),
        ("# T\n\n## Abstract\n\nA.\n\n## Method\n\nB.\n", "no '## Introduction' section", "introduction"),
        ("# T\n\n## Abstract\n\nA.\n\n## Introduction\n\n\n## Method\n\nB.\n", "no paragraphs", "introduction"),
        ("# T\n\n## Abstract\n\n\n## Introduction\n\nB.\n", "'## Abstract' section is empty", "abstract"),
    ],
)
def test_malformed_paper(tmp_path, content, words, field):
    path = write(tmp_path, content)
    with pytest.raises(InputError) as caught:
        load_paper(path)
    assert_one_line_error(caught, path, words)
    assert caught.value.field == field


def test_valid_file_loads_from_disk(tmp_path):
    path = write(tmp_path, PAPER)
    paper = load_paper(path)
    assert paper.source == str(path)
    assert paper.to_draft().paragraph("intro_p2") is not None
