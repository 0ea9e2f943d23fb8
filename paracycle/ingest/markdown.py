"""A parsed paper as Markdown, in the format `paracycle.paper` reads (`paracycle review`).

    # Title
    ## Abstract
    ## Introduction          paragraphs separated by blank lines
    ## <section name>        every other section, in file order

Table and figure captions are written as sentences ("Table 2: <caption>") at the end of the
section they appear in, so `Paper.evidence()` sees them; floats of the introduction (or of
no known section) go to a final "## Tables and figures" section, which keeps the
introduction's paragraphs exactly the paper's own.
"""

from __future__ import annotations

import re

from paracycle.ingest.sections import Float, PaperSections
from paracycle.paper import canonical_section_name
from paracycle.text import markdown_line

FLOATS_SECTION = "Tables and figures"

# Line starts that paper.py would read as structure: headings, code fences, comments.
_STRUCTURAL_START = re.compile(r"^\s*(#|```|~~~|<!--)")


def sections_to_markdown(title: str, sections: PaperSections) -> str:
    """The paper as Markdown. ValueError when there is no title, abstract or introduction."""
    title = _one_line(title or sections.title or "")
    abstract = _one_line(sections.abstract)
    # markdown_line: the escapes paper.py reads back, so the anchor text round-trips exactly
    paragraphs = [markdown_line(p) for p in sections.introduction if p.strip()]
    if not title:
        raise ValueError("the paper has no title")
    if not abstract:
        raise ValueError("the paper has no abstract")
    if not paragraphs:
        raise ValueError("the paper's introduction is empty")

    names = [_section_name(s.name, i) for i, s in enumerate(sections.sections, start=1)]
    captions: dict[int, list[str]] = {}
    unplaced: list[str] = []
    for float_ in sections.floats:
        if not float_.caption.strip():
            continue
        index = _section_index(float_.section, names)
        (captions.setdefault(index, []) if index is not None else unplaced).append(_caption_sentence(float_))

    lines = [f"# {_escape(title)}", "", "## Abstract", "", markdown_line(abstract), "", "## Introduction", ""]
    for paragraph in paragraphs:
        lines += [paragraph, ""]
    for index, (name, section) in enumerate(zip(names, sections.sections)):
        lines += [f"## {name}", ""]
        for block in [*_paragraphs(section.text), *captions.get(index, [])]:
            lines += [block, ""]
    if unplaced:
        lines += [f"## {FLOATS_SECTION}", ""]
        for caption in unplaced:
            lines += [caption, ""]
    return "\n".join(lines)


def _section_name(name: str, position: int) -> str:
    name = _one_line(name) or f"Section {position}"
    # A second Abstract or Introduction heading would make the file unreadable.
    if canonical_section_name(name) in ("abstract", "introduction"):
        name += " (continued)"
    return _escape(name)


def _section_index(section: str, names: list[str]) -> int | None:
    wanted = _one_line(section)
    if not wanted or canonical_section_name(wanted) == "introduction":
        return None
    for match in (lambda n: n == _escape(wanted), lambda n: canonical_section_name(n) == canonical_section_name(wanted)):
        for i, name in enumerate(names):
            if match(name):
                return i
    return None


def _caption_sentence(float_: Float) -> str:
    caption = _one_line(float_.caption)
    if not caption.endswith((".", "!", "?")):
        caption += "."
    return _escape(f"{float_.kind.capitalize()} {float_.number}: {caption}")


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each on one line."""
    return [_escape(_one_line(block)) for block in re.split(r"\n\s*\n", text) if block.strip()]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _escape(line: str) -> str:
    """A backslash before a leading '#', '```', '~~~' or '<!--', so the line stays text."""
    return "\\" + line if _STRUCTURAL_START.match(line) else line
