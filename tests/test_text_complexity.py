"""Paper text is anyone's text: reading it must take time linear in its length.

Each input here is crafted against one function that used to be quadratic or worse; the
comment says how long the old code took (on a 2-core machine). The new code takes well
under a second on each; the 2 s bound leaves room for a loaded CI machine. That the
results on normal text did not change is covered by test_structural.py and test_paper.py.
"""

from __future__ import annotations

import itertools
import time

import pytest

from paracycle import assertions, quantities
from paracycle import text as claims
from paracycle.eval.structural import check_draft
from paracycle.paper import parse_paper

LIMIT_S = 2.0
HEAD = "# T\n\n## Abstract\n\nx\n\n## Introduction\n\ny\n\n"


def _seconds(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def test_heading_pattern_is_linear_on_a_long_run_of_spaces():
    # The old r"^(#{1,6})\s+(.*?)\s*#*\s*$" was cubic here: 60 s for this 4 KB line.
    line = "# a" + " " * 4000 + "b"
    assert _seconds(parse_paper, HEAD + line + "\n", "p.md") < LIMIT_S


def test_heading_text_is_what_the_old_pattern_gave():
    paper = parse_paper("# C# #\n\n## Abstract ##\n\nx\n\n##   Introduction  ###  \n\ny\n\n##\tMethod # x #\n\nz\n", "p.md")
    assert paper.title == "C#"
    assert list(paper.sections) == ["Method # x"]


# (function, crafted text, what the old code took)
CRAFTED = {
    # every number searched the whole prefix for a reference word: 8 s
    "numbers": (claims.numbers, "x 12 " * 4_000),
    # every number of a citation list searched the prefix for its "[": 7 s
    "citation list": (claims.numbers, "[" + ", ".join(str(10 + i % 80) for i in range(5_000)) + "]"),
    # "Table 12" over and over: 3 s
    "references": (claims.numbers, "Table 12 " * 2_500),
    # every guarantee word searched the prefix for a negation: 24 s
    "guarantees": (assertions.guarantee_cues, "no " + "always " * 15_000),
    # "reduc...[^.;]*?by" rescanned the clause from every verb: 34 s
    "change verbs": (claims.is_claim_sentence, "cut " * 25_000),
    # the text before every candidate period was copied and lower-cased: 15 s
    "sentence splitting": (claims.split_sentences, "A. " * 170_000),
    # the text before and after every token was copied: about 5 s
    "names": (claims.named_entities, "a B " * 112_500),
    # a list's `in` for every distinct name: 8 s
    "distinct names": (claims.named_entities, " ".join(f"Name{i}" for i in range(40_000))),
    # the quantities of issue 13: each hedge, unit and spelled number read in a bounded window
    "quantities": (quantities.quantities, "about 12.5 ms " * 14_000),
    "spelled numbers": (quantities.quantities, "four in five of a third " * 10_000),
    "multipliers": (quantities.multipliers, "nearly twice as fast " * 15_000),
    "scope cues": (assertions.scope_cues, "on every x " * 20_000),
    "causal cues": (assertions.causal_cues, "because of x " * 20_000),
    "compared systems": (assertions.baseline_cues, "outperforms A, B and C " * 10_000),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_claim_extraction_is_linear(case):
    fn, text = CRAFTED[case]
    assert _seconds(fn, text) < LIMIT_S


def test_name_backing_is_a_lookup_not_a_scan_per_name():
    names = " ".join(f"Name{i}" for i in range(20_000))  # each name scanned the whole text: 32 s
    key = claims.name_key(names)
    found = claims.named_entities(names)
    start = time.perf_counter()
    assert all(claims.name_is_backed(name, key) for name in found)
    assert not claims.name_is_backed("Name20000", key)
    assert time.perf_counter() - start < LIMIT_S


def test_a_repeated_section_heading_is_not_quadratic():
    # Each repeat copied the section so far: 7.6 s for this 2.8 MB file.
    text = HEAD + "## A\nWe cut latency by 40%.\n" * 100_000
    start = time.perf_counter()
    paper = parse_paper(text, "p.md")
    assert time.perf_counter() - start < LIMIT_S
    assert list(paper.sections) == ["A"]


def test_many_sections_with_one_slug_get_unique_ids_in_linear_time():
    # "A.", "A!", "A..", ...: one slug; each new id counted up from 2 again: 11 s.
    names = ["".join(c) for n in range(1, 15) for c in itertools.product(".!", repeat=n)][:12_000]
    paper = parse_paper(HEAD + "".join(f"## A{n}\nWe cut latency by 40%.\n" for n in names), "p.md")
    start = time.perf_counter()
    evidence = paper.evidence()
    assert time.perf_counter() - start < LIMIT_S
    assert [e.id for e in evidence[:3]] == ["ev_a_1", "ev_a2_1", "ev_a3_1"]
    assert len({e.id for e in evidence}) == len(evidence) == 12_000


# Paragraphs of 100 KB, each crafted against one part of the claim check (issue 13 rebuilt it:
# every number is now compared only with the structure's numbers near its value, and a
# sentence's cues, multipliers and numbers are tied to each other at most MAX_TIED at a time).
CRAFTED_PAPERS = {
    "numbers": "x 12.5 " * 14_000,  # minutes before issue 11
    "ratios": "x 1.5x " * 14_000,
    "changes": "we cut it by 12% " * 8_000,
    "multipliers": "twice as fast " * 10_000,
    "scope": "we do it on every x " * 8_000,  # 377 s while the rebuild was under way
    "causes": "it works because x " * 8_000,  # 61 s likewise
    "compared systems": "We outperform A, B and C " * 5_000,
    "spelled numbers": "four in five " * 10_000,
}
# The whole check reads each number as a quantity (units, hedges, its binding), so it costs
# more per number than the other functions here; quadratic would still take minutes.
CHECK_LIMIT_S = 5.0


@pytest.mark.parametrize("case", list(CRAFTED_PAPERS))
def test_structural_check_of_a_crafted_paper_is_linear(case):
    # The whole path `paracycle review` (and `check`) takes, the paper's own sections as evidence.
    body = CRAFTED_PAPERS[case]
    paper = parse_paper(f"{HEAD}{body}\n\n## Experiments\n\n{body}\n", "p.md")
    start = time.perf_counter()
    check_draft(paper.to_draft(), evidence=paper.evidence(), claims=[], contributions=[])
    assert time.perf_counter() - start < CHECK_LIMIT_S
