"""`paracycle check`: the claim ledger on its own, no model, usable as a linter in CI.

Run through the real CLI in a subprocess: the exit codes (0, 2 for bad input, 3 when
`--fail-on` finds what it names), one JSON document with `--json`, and no ML library
imported on the way.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from conftest import ROOT, run_cli

JOIN = ROOT / "tests" / "data" / "claims" / "a-join-sketches"

STRUCTURE = """\
title: "GlossTag: Tagging Glosses with Small Models"
problem: Interlinear glosses of low-resource languages are written by hand and take linguists months.
motivation: Field linguists spend most of their documentation time glossing recorded texts.
gap: Existing taggers need thousands of glossed sentences, which low-resource languages do not have.
insight: Morpheme boundaries predict most gloss labels, so a tagger trained on boundaries needs few glossed sentences.
realization_type: enabling
method:
  - name: GlossTag
    description: A small tagger that predicts a gloss label for each morpheme from its boundary features.
    rationale: Boundary features are cheap to annotate and carry most of the label information.
evidence:
  - id: E1
    kind: experiment
    location: Table 1
    finding: On the SIGMORPHON 2023 glossing data, GlossTag improves gloss accuracy by 12% over the baseline tagger.
claims:
  - id: C1
    text: GlossTag improves gloss accuracy over the baseline tagger.
    evidence: [E1]
contributions:
  - GlossTag, a small tagger that glosses morphemes from their boundary features.
"""

# {first}/{second}: the role markers; {gain}: the number the introduction claims.
PAPER = """\
# GlossTag: Tagging Glosses with Small Models

## Abstract

Interlinear glosses of low-resource languages are written by hand and take linguists months.
We introduce GlossTag, a small tagger that predicts a gloss label for each morpheme from its
boundary features. On the SIGMORPHON 2023 glossing data, GlossTag improves gloss accuracy by
12% over the baseline tagger.

## Introduction

<!-- intro_p1 role: {first} -->
Interlinear glosses of low-resource languages are written by hand and take linguists months.

<!-- intro_p2 role: {second} -->
GlossTag improves gloss accuracy by {gain} over the baseline tagger on the SIGMORPHON 2023
glossing data.
"""
PLANTED = "GlossTag improves gloss accuracy by 47% over the baseline tagger on the SIGMORPHON 2023 glossing data."


def _paper(tmp_path: Path, gain: str = "12%", first: str = "problem_statement", second: str = "evidence_preview") -> Path:
    structure, paper = tmp_path / "structure.yaml", tmp_path / "paper.md"
    structure.write_text(STRUCTURE)
    paper.write_text(PAPER.format(gain=gain, first=first, second=second))
    return paper


def _check(paper: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli("check", str(paper), "--structure", str(paper.parent / "structure.yaml"), *args, timeout=60)


def _json(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout)  # the whole of stdout: exactly one document


# -- the ledger -----------------------------------------------------------------------------


def test_json_has_one_entry_per_claim_sentence_with_its_verdict():
    from paracycle.eval.ledger import check_paper
    from paracycle.loading import load_structure
    from paracycle.paper import load_paper

    result = run_cli("check", str(JOIN / "paper.md"), "--structure", str(JOIN / "structure.yaml"), "--json", timeout=60)
    assert result.returncode == 0, result.stderr  # no --fail-on: findings alone never fail
    data = _json(result)
    assert data["paper"] == str(JOIN / "paper.md") and data["structure"] == str(JOIN / "structure.yaml")
    assert data["title"].startswith("LoopSketch") and data["fail_on"] == [] and data["failed_on"] == []
    commitments = data["structural_check"]["commitments"]
    # The same verdicts as the check `review` runs, sentence for sentence.
    expected = check_paper(load_paper(JOIN / "paper.md"), load_structure(JOIN / "structure.yaml")).check.commitments
    assert [(c["paragraph_id"], c["sentence"], c["status"]) for c in commitments] == [
        (c.paragraph_id, c.sentence, c.status) for c in expected
    ]
    prose = " ".join([data["draft"]["abstract"], *(p["text"] for p in data["draft"]["introduction"])])
    assert len(commitments) >= 10
    for c in commitments:
        assert c["sentence"] in prose  # a sentence of the abstract or introduction, whole
        assert c["status"] in {"fulfilled", "partial", "unfulfilled"} and c["reason"]
    assert {e["id"] for e in data["evidence"]} == {f"E{i}" for i in range(1, 7)}


def test_without_a_structure_the_paper_is_checked_against_its_own_results():
    result = run_cli("check", str(JOIN / "paper.md"), "--json", timeout=60)
    assert result.returncode == 0, result.stderr
    data = _json(result)
    assert data["structure"] is None
    evidence_ids = {e["id"] for e in data["evidence"]}
    assert evidence_ids and all(i.startswith(("ev_method_", "ev_experiments_")) for i in evidence_ids)
    cited = {i for c in data["structural_check"]["commitments"] for i in c["evidence_ids"]}
    assert cited and cited <= evidence_ids


def test_human_output_lists_every_claim_and_ends_with_the_failure(tmp_path):
    result = _check(_paper(tmp_path, gain="47%"), "--fail-on", "unsupported")
    assert result.returncode == 3, result.stderr
    out = result.stdout
    assert "claim ledger" in out
    assert re.search(r"│ abstract\s+│ supported\s+│ On the SIGMORPHON 2023", out), out
    assert re.search(r"│ intro_p2\s+│ unsupported\s+│ GlossTag improves gloss accuracy by 47%.*│ C1: E1", out), out
    assert "number 47%" in out  # the reason, wrapped in its cell
    assert re.search(r"closure 0\.\d\d \(\d+/\d+ claims fulfilled\)", out)
    last = out.strip().splitlines()[-1]
    assert last == "fail: 1 unsupported claim (--fail-on unsupported)"


# -- exit codes -----------------------------------------------------------------------------


def test_fail_on_unsupported_exits_3_on_a_planted_number_and_0_when_backed(tmp_path):
    planted = _check(_paper(tmp_path, gain="47%"), "--fail-on", "unsupported", "--json")
    assert planted.returncode == 3, planted.stderr
    data = _json(planted)
    assert data["failed_on"] == ["unsupported"]
    assert [(u["sentence"], "47%" in u["reason"]) for u in data["structural_check"]["unsupported_claims"]] == [
        (PLANTED, True)
    ]

    backed = _check(_paper(tmp_path, gain="12%"), "--fail-on", "unsupported")
    assert backed.returncode == 0, backed.stdout + backed.stderr
    assert backed.stdout.strip().splitlines()[-1] == "pass: nothing to fail on (--fail-on unsupported)"


def test_only_the_named_failures_fail(tmp_path):
    # All claims backed, but the paragraphs run backwards and the draft is far too short.
    paper = _paper(tmp_path, first="evidence_preview", second="problem_statement")
    assert _check(paper, "--fail-on", "unsupported").returncode == 0
    order = _check(paper, "--fail-on", "order", "--json")
    assert order.returncode == 3
    assert _json(order)["structural_check"]["role_order_violations"] == [
        {"paragraph_id": "intro_p2", "role": "problem_statement", "after_role": "evidence_preview"}
    ]
    both = _check(paper, "--fail-on", "length", "--fail-on", "order", "--fail-on", "unsupported")
    assert both.returncode == 3
    assert both.stdout.strip().splitlines()[-1] == (
        "fail: 1 role-order violation, length outside target (--fail-on unsupported order length)"
    )


def test_length_targets_come_from_the_run_config(tmp_path):
    paper = _paper(tmp_path)
    assert _check(paper, "--fail-on", "length").returncode == 3  # 47 and 29 words against 200 and 600
    config = tmp_path / "run.yaml"
    config.write_text("cycle:\n  lengths: {abstract_words: 45, introduction_words: 30, tolerance: 0.5}\n")
    fitted = _check(paper, "--fail-on", "length", "--config", str(config), "--json")
    assert fitted.returncode == 0, fitted.stderr
    length = _json(fitted)["structural_check"]["length"]
    assert (length["target_abstract_words"], length["target_introduction_words"], length["within_target"]) == (45, 30, True)


@pytest.mark.parametrize("case", ["missing paper", "bad structure YAML", "structure missing a field", "bad config"])
def test_bad_input_is_one_line_and_exit_2(case, tmp_path):
    paper = _paper(tmp_path)
    structure, config = tmp_path / "structure.yaml", tmp_path / "run.yaml"
    args, culprit = ["check", str(paper), "--structure", str(structure)], None
    if case == "missing paper":
        args[1], culprit = str(tmp_path / "absent.md"), tmp_path / "absent.md"
    elif case == "bad structure YAML":
        structure.write_text("title: [unclosed\nproblem: x\n")
        culprit = structure
    elif case == "structure missing a field":
        structure.write_text(STRUCTURE.replace("gap:", "gab:"))
        culprit = structure
    else:
        config.write_text("cycle:\n  lengths: {abstract_words: 0}\n")
        args += ["--config", str(config)]
        culprit = config
    result = run_cli(*args, "--fail-on", "unsupported", timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {culprit}: "), result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_an_unknown_failure_name_is_a_usage_error(tmp_path):
    result = _check(_paper(tmp_path), "--fail-on", "typos")
    assert result.returncode == 2 and result.stdout == ""
    assert "'typos' is not one of 'unsupported', 'partial', 'dropped', 'order', 'length'" in " ".join(
        result.stderr.replace("│", " ").split()
    )


# -- no model, no ML library ----------------------------------------------------------------

HEAVY = ("torch", "transformers", "vllm", "trl", "langgraph", "datasets", "peft", "httpx")

# Runs the CLI's entry point in this process, then records what it imported.
RUN_AND_LIST_IMPORTS = """\
import json, sys
report, heavy, args = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
sys.argv = ["paracycle", "check", *args]
from paracycle.cli import main
try:
    main()
    code = 0
except SystemExit as e:
    code = e.code
with open(report, "w") as f:
    json.dump({"code": code, "heavy": [m for m in heavy if m in sys.modules]}, f)
"""


def test_check_imports_no_ml_library(tmp_path):
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_IMPORTS, str(report), json.dumps(HEAVY),
         str(JOIN / "paper.md"), "--structure", str(JOIN / "structure.yaml"), "--json"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    found = json.loads(report.read_text())
    assert found["code"] == 0, done.stderr
    assert len(_json(done)["structural_check"]["commitments"]) >= 10  # it did run the check
    assert found["heavy"] == []


# -- printing untrusted text ----------------------------------------------------------------

HOSTILE = "\x1b]0;pwned\x07 [bold]x[/bold] \u202egnp"


def _ledger_text(check, **kwargs) -> str:
    from paracycle.report import print_ledger

    buffer = io.StringIO()
    # Wide enough that no cell wraps inside the hostile text.
    print_ledger(Console(file=buffer, width=400, color_system=None), f"Title {HOSTILE}", f"s {HOSTILE}.yaml", check, **kwargs)
    return buffer.getvalue()


def _commitment(**fields):
    from paracycle.schemas import CommitmentCheck

    return CommitmentCheck(**{"sentence": f"We gain 57% on FooBench {HOSTILE}.", "paragraph_id": "intro_p1",
                              "status": "unfulfilled", "reason": f"number 57% appears in no evidence {HOSTILE}", **fields})


def _structural_check(*commitments):
    from paracycle.schemas import LengthCheck, StructuralCheck

    length = LengthCheck(abstract_words=10, introduction_words=20, target_abstract_words=200,
                         target_introduction_words=600, abstract_ratio=0.05, introduction_ratio=0.03, within_target=False)
    return StructuralCheck(commitments=list(commitments), closure_rate=0.0, length=length,
                           dropped_contributions=[f"D {HOSTILE}"])


def test_unbacked_specifics_and_second_opinions_are_shown_under_their_sentence():
    from paracycle.schemas import SecondOpinion, SpecificCheck

    commitment = _commitment(
        evidence_ids=["E2"], matched_claim="C1", confidence=0.4,
        specifics=[
            SpecificCheck(kind="number", text="57%", backed=False, source="E2", matched="37%",
                          reason="no evidence or other field states 57% (E2 says 37%)"),
            SpecificCheck(kind="name", text="FooBench", backed=False, reason="in no evidence"),
            SpecificCheck(kind="number", text="3x", backed=True, source="E1", matched="3x"),
        ],
        second_opinion=SecondOpinion(verdict="no", reason="E2 says 37%", model="m"),
    )
    out = _ledger_text(_structural_check(commitment), fail_on=["unsupported", "dropped"], failed={"unsupported": 1, "dropped": 1})
    assert "✗ number 57% — no evidence or other field states 57% (E2 says 37%)" in out
    assert "✗ name FooBench — in no evidence" in out
    assert "3x" not in out  # a backed specific is not news
    assert "second opinion (m): no — E2 says 37%" in out
    assert "unsupported (0.40)" in out and "C1: E2" in out
    assert out.strip().splitlines()[-1] == "fail: 1 unsupported claim, 1 dropped contribution (--fail-on unsupported dropped)"


def test_the_ledger_shows_hostile_text_as_text():
    out = _ledger_text(_structural_check(_commitment()))
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    # title, source, sentence, reason and dropped contribution
    assert out.count("\\x1b]0;pwned\\x07 [bold]x[/bold] \\u202egnp") == 5, out
