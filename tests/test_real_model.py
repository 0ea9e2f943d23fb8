"""The real embedded SmolLM2-135M-Instruct through the real CLI: a full cycle killed mid-way
(SIGKILL) and resumed to the end, and a review of an existing paper."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time

import pytest
from conftest import EXAMPLES, PARACYCLE, ROOT, add_to_intro, open_page, run_cli

from paracycle.schemas import Trajectory
from paracycle.text import content_words

pytestmark = pytest.mark.slow
MODEL_ID = "SmolLM2-135M-Instruct"


def _stored_steps(db_path, thread):
    if not db_path.exists():
        return []
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT step_index, step_json FROM steps WHERE thread_id=? ORDER BY step_index", (thread,)).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


@pytest.fixture(scope="module")
def demo_cycle(tmp_path_factory, embedded_checkpoint):
    """`make demo`'s cycle, killed with SIGKILL during its first review, then resumed to the end.

    No revision (`--max-revisions 0`): the stricter claim check of issue 13 sends the embedded
    model's first draft to a revision more often, which doubled this test (125 s -> 314 s) and
    adds nothing to what it checks; revising is tested in test_graph.py."""
    tmp_path = tmp_path_factory.mktemp("demo")
    out, runs = tmp_path / "out", tmp_path / "runs"
    args = ["cycle", str(EXAMPLES / "sparse-retrieval.yaml"), "--max-revisions", "0", "--seed", "0",
            "--runs-dir", str(runs), "--out", str(out), "--thread-id", "full", "--engine", "transformers"]
    proc = subprocess.Popen([*PARACYCLE, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store_db = runs / "trajectories.sqlite"
    deadline = time.time() + 600
    while not _stored_steps(store_db, "full"):  # the draft is stored once the review starts
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "the draft never reached the store"
        time.sleep(0.5)
    time.sleep(3)  # well inside the review
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _stored_steps(store_db, "full")
    assert [i for i, _ in before] == [0]  # killed mid-way: a draft, no review

    return before, run_cli(*args), out, runs


def test_full_cycle_killed_mid_way_resumes_where_it_stopped(demo_cycle):
    """The demo cycle (above) killed during its first review and resumed: what it left."""
    before, result, out, runs = demo_cycle
    store_db = runs / "trajectories.sqlite"
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming" in result.stderr
    t = Trajectory.model_validate_json((out / "trajectory.json").read_text())
    assert t.status == "completed"
    assert json.loads(before[0][1])["draft"] == t.steps[0].draft.model_dump(mode="json")  # not redrafted
    kinds = [(s.kind, s.revision) for s in t.steps]
    assert kinds == [("draft", 0), ("review", 0)]
    assert [i for i, _ in _stored_steps(store_db, "full")] == list(range(len(kinds)))
    generations = [g for s in t.steps for g in s.generations]
    assert {g.model_id for g in generations} == {MODEL_ID}
    assert all(g.completion_tokens > 0 and g.prompt_tokens > 0 for g in generations)
    reviews = [g for g in generations if g.agent == "reviewer"]
    assert reviews and all(g.parse_status in ("ok", "failed") for g in reviews)
    assert all(s.structural_check is not None for s in t.steps if s.kind == "review")

    # on topic: what the model wrote beyond the given openings uses the structure's words
    structure_words = content_words(t.structure.model_dump_json())
    written = " ".join(g.output[len(g.prompt[-1]["content"]):] for g in generations if g.agent == "writer")
    assert len(content_words(written) & structure_words) >= 10
    roles = [p.role for p in t.final_draft.introduction]
    assert roles[0] == "scene_setting" and roles[-1] == "contribution_summary"

    final = (out / "final.md").read_text()
    assert final.startswith(f"# {t.structure.title}") and "## Introduction" in final
    assert "scores per revision" in result.stdout and "final draft" in result.stdout


def test_demo_thread_as_html_in_a_browser(demo_cycle, browser, tmp_path):
    """The demo cycle's thread, rendered by `show --html` and opened offline: the ledger,
    every paragraph with its role, the check's highlights and the generation facts."""
    _, _, out, runs = demo_cycle
    t = Trajectory.model_validate_json((out / "trajectory.json").read_text())
    html = tmp_path / "demo.html"
    shown = run_cli("show", "full", "--runs-dir", str(runs), "--html", str(html))
    assert shown.returncode == 0, shown.stderr[-2000:]
    page, requests, dialogs = open_page(browser, html, "demo-thread")
    assert page.locator("h1").inner_text() == t.structure.title
    for claim in t.structure.claims:
        assert page.locator(f"#claim-{claim.id}").is_visible()
    for p in t.steps[0].draft.introduction:
        assert page.locator(f"#r0-{p.id} .label").inner_text().lower() == f"{p.id} · {p.role}"
    check = t.steps[1].structural_check
    marks = page.locator("mark")
    assert marks.count() >= 1 if check.commitments or check.unsupported_claims else marks.count() == 0
    for u in check.unsupported_claims:  # each unsupported sentence is on screen, marked as such
        assert page.locator("mark.unsupported", has_text=u.sentence.split()[0]).first.is_visible()
    rows = page.locator("tr", has_text=MODEL_ID)
    assert rows.count() == sum(len(s.generations) for s in t.steps)
    assert requests == [] and dialogs == []
    page.close()


def test_review_of_an_existing_paper(tmp_path, embedded_checkpoint):
    paper = (EXAMPLES / "paper.md").read_text()
    sentence = "We also cut error by 40% on a benchmark the evidence never mentions."
    edited = tmp_path / "paper.md"
    edited.write_text(add_to_intro(paper, sentence))
    html = tmp_path / "review.html"
    result = run_cli("review", str(edited), "--json", "--seed", "0", "--engine", "transformers", "--html", str(html))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert [u["sentence"] for u in report["structural_check"]["unsupported_claims"]] == [sentence]
    assert html.read_text().count('<mark class="unsupported"') == 1
    assert (report["review"] is None) == (report["review_error"] is not None)
    if report["review"] is not None:
        ids = {p["id"] for p in report["draft"]["introduction"]}
        assert {r["paragraph_id"] for r in report["review"]["paragraph_roles"]} == ids
