"""Text from a paper, a structure or a model never acts on the user's terminal.

An escape sequence in a paper ("\\x1b]0;title\\x07" retitles the window, others recolour
or rewrite what is on screen) is shown as characters, and rich markup or emoji codes in
the text are shown as written.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from paracycle.loading import load_structure
from paracycle.report import print_cycle_summary, print_review
from paracycle.schemas import (
    CentralRealization,
    Draft,
    Paragraph,
    ParagraphRoleAssessment,
    Review,
    ReviewCommitment,
    Scores,
    Step,
    Trajectory,
    Weakness,
)
from paracycle.store import TrajectoryStore

from conftest import EXAMPLES, run_cli

HOSTILE = "\x1b]0;pwned\x07 [bold]x[/bold] :100: \x9b2J \u202egnp.exe"


def _draft() -> Draft:
    return Draft(
        abstract=f"We cut latency by 40% on FooBench. {HOSTILE}",
        introduction=[Paragraph(id="intro_p1", role="scene_setting", text=f"Paragraph {HOSTILE}")],
    )


def _review() -> Review:
    return Review(
        central_realization=CentralRealization(text=f"C {HOSTILE}"[:200], type="enabling", why_this_type="w"),
        paragraph_roles=[ParagraphRoleAssessment(paragraph_id="intro_p1", role="scene_setting", function=f"F {HOSTILE}")],
        commitments=[ReviewCommitment(
            claim=f"K {HOSTILE}", source_paragraph="intro_p1", status="partial", evidence_ids=["E1"], fulfilled_in="x"
        )],
        weaknesses=[Weakness(paragraph_id="intro_p1", issue=f"I {HOSTILE}", suggestion=f"S {HOSTILE}")],
        strengths=[f"G {HOSTILE}"],
        scores=Scores(closure=1, flow=2, clarity=3, significance=4, overall=5),
    )


def _trajectory() -> Trajectory:
    from paracycle.eval.structural import check_structure_draft

    structure = load_structure(EXAMPLES / "coral-thermal.yaml").model_copy(update={"title": f"Title {HOSTILE}"})
    draft = _draft()
    return Trajectory(
        thread_id="hostile", structure_hash=structure.content_hash(), structure=structure,
        steps=[
            Step(index=0, kind="draft", revision=0, draft=draft),
            Step(index=1, kind="review", revision=0, review=_review(), structural_check=check_structure_draft(structure, draft)),
            Step(index=2, kind="review", revision=1, review_error=f"E {HOSTILE}", structural_check=check_structure_draft(structure, draft)),
        ],
        final_draft=draft, status="completed", stop_reason=f"R {HOSTILE}",
    )


def _printed(fn, *args, terminal: bool) -> str:
    buffer = io.StringIO()
    fn(Console(file=buffer, width=1000, force_terminal=terminal, color_system="truecolor" if terminal else None), *args)
    return buffer.getvalue()


def _assert_shown_not_obeyed(out: str, *, terminal: bool) -> None:
    if terminal:  # rich's own styles are escape sequences; the text's must not be among them
        assert "\x1b]" not in out and "\x07" not in out
    else:
        assert "\x1b" not in out
    assert "\x9b" not in out and "\u202e" not in out
    assert "\\x1b]0;pwned\\x07" in out and "\\x9b2J" in out and "\\u202egnp.exe" in out
    assert "[bold]x[/bold] :100:" in out  # markup and emoji codes as written


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_cycle_summary_shows_hostile_text_as_text(terminal):
    out = _printed(print_cycle_summary, _trajectory(), terminal=terminal)
    _assert_shown_not_obeyed(out, terminal=terminal)
    for part in ("Title", "R", "FooBench.", "Paragraph", "E"):  # every field shown; the last review failed
        assert f"{part} \\x1b]0;pwned" in out, part


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_review_shows_hostile_text_as_text(terminal):
    draft = _draft()
    from paracycle.eval.structural import check_draft

    check = check_draft(draft, evidence=[], claims=[], contributions=[])
    out = _printed(print_review, f"Title {HOSTILE}", draft, _review(), None, check, terminal=terminal)
    _assert_shown_not_obeyed(out, terminal=terminal)
    for part in ("Title", "F", "C", "K", "I", "S", "G"):  # every field shown, the table's too
        assert f"{part} \\x1b]0;pwned" in out, part
    failed = _printed(print_review, "T", draft, None, f"E {HOSTILE}", check, terminal=terminal)
    _assert_shown_not_obeyed(failed, terminal=terminal)


def test_terminal_text_keeps_newlines_tabs_and_printable_text():
    from paracycle.report import terminal_text

    assert terminal_text("a\tb\nc – é 中 [x]") == "a\tb\nc – é 中 [x]"
    assert terminal_text("\x00\x1b\r\x7f\x85\u2066") == "\\x00\\x1b\\x0d\\x7f\\x85\\u2066"


def test_show_prints_a_stored_hostile_trajectory_as_text(tmp_path):
    runs = tmp_path / "runs"
    trajectory = _trajectory()
    store = TrajectoryStore(runs / "trajectories.sqlite")
    try:
        store.start(trajectory.thread_id, trajectory.structure)
        store.append_steps(trajectory.thread_id, trajectory.steps)
        store.finish(trajectory.thread_id, "completed", trajectory.stop_reason, trajectory.final_draft)
    finally:
        store.close()
    result = run_cli("show", "hostile", "--runs-dir", str(runs))
    assert result.returncode == 0, result.stderr
    _assert_shown_not_obeyed(result.stdout, terminal=False)


def test_an_unknown_key_with_escapes_is_shown_escaped(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text('"\\e]0;pwned\\a[bold]": 1\n' + (EXAMPLES / "coral-thermal.yaml").read_text())
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert result.stderr.strip() == f"error: {path}: '\\x1b]0;pwned\\x07[bold]': unknown field"


def test_a_role_marker_with_escapes_is_shown_escaped(tmp_path):
    paper = tmp_path / "p.md"
    paper.write_text("# T\n\n## Abstract\n\nA.\n\n## Introduction\n\n<!-- p\x1b]0;pwned\x07 role: b\x1b[2J -->\nText.\n")
    result = run_cli("review", str(paper))
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "role marker for p\\x1b]0;pwned\\x07 names unknown role 'b\\x1b[2J'" in result.stderr
