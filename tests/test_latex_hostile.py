"""The LaTeX parser on hostile input: every construct that used to cost a scan to the end of
the text per occurrence (quadratic) or backtrack without bound is read in linear time, and
a source cannot grow the list of notes without bound.

The repetition counts are chosen so that the old parser took 10-30 s on each; the bound is
what the ingest pipeline promises per paper.
"""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

import pytest

from paracycle.ingest.latex import MAX_NOTES, parse_latex, parse_source

BOUND_S = 5.0


def _doc(intro: str, preamble: str = "") -> str:
    return (
        f"\\documentclass{{article}}\n{preamble}\n\\begin{{document}}\n"
        "\\begin{abstract}We study robust parsing.\\end{abstract}\n"
        f"\\section{{Introduction}}\nIngestion must go on.\n\n{intro}\n\n\\end{{document}}\n"
    )


# Each: one unclosed (or unmatched) opener, repeated. Where an opener took the rest of its
# paragraph, the paragraph is the whole repetition.
HOSTILE = {
    "unclosed optional argument": "\\cite[ x " * 6000,
    "unclosed \\newcommand body": "\\newcommand\\a{ x " * 6000,
    "unclosed \\newcommand name": "\\newcommand{ " * 6000,
    "unclosed \\def body": "\\def\\a{ x " * 8000,
    "unmatched \\[": "\\[ x " * 60_000,
    "unclosed comment environment": "\\begin{comment} x " * 6000,
    "unclosed itemize": "\\begin{itemize} x " * 8000,
    "unclosed caption": "\\begin{figure}" + "\\caption{ x " * 6000 + "\\end{figure}",
    "captions and labels": "\\begin{figure}" + "\\caption{x}\\label{l}" * 20_000 + "\\end{figure}",
    "unclosed subsection titles": "\\subsection{ x " * 8000,
    "unclosed section titles, one per paragraph": "\\section{ x\n\n" * 6000,
    "unclosed \\textbf, one per paragraph": "\\textbf{ x\n\n" * 6000,
    # 200,000 different delimiters (code points past U+FFFF), none of them closed.
    "\\verb delimiters that never come back": "".join(f"\\verb{chr(0x10000 + k)}" for k in range(200_000)),
    "\\hskip with a long run of digits": "\\hskip " + "1" * 20_000 + "x",
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_construct_is_read_in_linear_time(body):
    start = time.monotonic()
    paper = parse_latex(_doc(body))
    assert time.monotonic() - start < BOUND_S
    assert paper.abstract == "We study robust parsing."
    assert paper.introduction[0] == "Ingestion must go on."
    assert len(paper.notes) <= MAX_NOTES + 1


def test_unclosed_float_keeps_the_text_before_it():
    # The note says the unclosed float's text stays; the text before it went missing.
    paper = parse_latex(_doc("Before. \\begin{figure} after \\begin{figure} end."))
    assert paper.introduction == ["Ingestion must go on.", "Before. after end."]
    assert paper.notes.count("an unclosed \\begin{figure} was left in the text") == 1


def test_notes_are_capped_and_counted(tmp_path: Path):
    missing = "".join(f"\\input{{missing-{k}}}\n" for k in range(500))
    archive = tmp_path / "src.tar"
    with tarfile.open(archive, "w") as tar:
        data = _doc(missing).encode()
        info = tarfile.TarInfo("main.tex")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    paper = parse_source(archive, tmp_path / "work")

    assert len(paper.notes) == MAX_NOTES + 1
    assert paper.notes[0] == "skipped \\input{missing-0}: the file is missing"
    assert paper.notes[-1] == f"{500 - MAX_NOTES} more notes were left out"
    assert paper.introduction[0] == "Ingestion must go on."
