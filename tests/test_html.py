"""The HTML views, opened in a real browser (Debian's chromium, driven by Playwright).

What is asserted is what a person would see: the highlighted unsupported sentence is on
screen, the diff shows the words a revision changed, the ledger names the claims and their
evidence, a `<script>` in a paper is shown as text, and no request leaves the page. The
screenshots are kept in test-artifacts/ (PARACYCLE_ARTIFACTS overrides). The `browser`
fixture is in conftest.py; test_real_model.py opens pages made from the embedded model's
own cycle and review."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import ScriptedEngine, VariedEngine, review_json

from conftest import EXAMPLES, add_to_intro, open_page, run_cli
from paracycle.agents.reviewer import Reviewer
from paracycle.agents.writer import Writer
from paracycle.collect import Collector, plan_jobs
from paracycle.config import RunConfig
from paracycle.graphs.configuration import CycleConfiguration, CycleContext
from paracycle.graphs.cycle import run_cycle
from paracycle.html_view import highlight, word_diff
from paracycle.loading import load_structure
from paracycle.registry import Policy, RoundManifest
from paracycle.store import TrajectoryStore
from paracycle.training.dataset import write_dataset
from paracycle.training.dpo import training_history
from paracycle.training.pairs import PairSettings, build_pairs
from paracycle.rundir import TRAIN_HISTORY
from paracycle.training.round_report import write_round_report

OVERCLAIM = "It is 97% faster than every index ever built."


# -- the logic, no browser ---------------------------------------------------------------------


def test_word_diff_names_the_words_added_and_removed():
    diff = word_diff("the cache is small and fast", "the cache is large and fast today")
    assert ("del", "small") in diff and ("add", "large") in diff and ("add", "today") in diff
    assert " ".join(w for op, w in diff if op != "del") == "the cache is large and fast today"


def test_highlight_marks_each_sentence_once_whatever_the_spacing():
    text = "First sentence.  It is   97% faster. Last one."
    segments = highlight(text, [("It is 97% faster.", "unsupported", "no evidence"), ("It is 97%", "partial", "x")])
    marked = [s for s in segments if s.verdict]
    assert [(s.text, s.verdict, s.number) for s in marked] == [("It is   97% faster.", "unsupported", 1)]
    assert "".join(s.text for s in segments) == text


# -- the browser ---------------------------------------------------------------------------------


class Overclaiming(ScriptedEngine):
    """The first draft's paragraphs end with an overclaim; revisions end with a new sentence."""

    def __init__(self):
        super().__init__(reviews=[lambda r: review_json(r, overall=2, weakness_on="intro_p1")] * 2)
        self.drafting = True

    def generate(self, requests, on_tokens=None):
        if any(r.schema is None for r in requests):
            self.continuation = f" {OVERCLAIM}" if self.drafting else " Revised with what Table 2 reports."
            self.drafting = False
        return super().generate(requests, on_tokens)


@pytest.fixture
def revised_thread(tmp_path):
    """A cycle with one revision, through the real graph, store and checkpointer."""
    runs = tmp_path / "runs"
    runs.mkdir()
    store = TrajectoryStore(runs / "trajectories.sqlite")
    engine = Overclaiming()
    cfg = CycleConfiguration(max_revisions=1)
    ctx = CycleContext("demo", Writer(engine, cfg.writer), Reviewer(engine, cfg.reviewer), cfg, store)
    run_cycle(load_structure(EXAMPLES / "sparse-retrieval.yaml"), ctx, runs / "checkpoints.sqlite")
    store.close()
    return runs


def test_show_html_shows_the_ledger_the_diff_and_the_unsupported_sentence(browser, revised_thread, tmp_path):
    out = tmp_path / "thread.html"
    result = run_cli("show", "demo", "--runs-dir", str(revised_thread), "--html", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    page, requests, _ = open_page(browser, out, "show-thread")

    structure = load_structure(EXAMPLES / "sparse-retrieval.yaml")
    ledger = page.locator("table").first
    assert ledger.is_visible()
    for claim in structure.claims:
        assert page.locator(f"#claim-{claim.id}").is_visible()
    flagged = page.locator("#revision-0 ~ .unit mark.unsupported", has_text="97% faster").first
    assert flagged.is_visible()
    assert "unsupported" in flagged.get_attribute("title")
    # the revision's diff: the overclaim struck out, the new sentence added
    diff = page.locator("#r1-intro_p1 details.diff")
    assert diff.is_visible()
    assert "97%" in diff.locator("del").all_inner_texts()[-1]
    assert "Table 2 reports." in " ".join(diff.locator("ins").all_inner_texts())
    assert page.locator("text=review: Too vague.").first.is_visible()  # the comment on its paragraph
    assert page.locator("text=Scores per revision").is_visible()
    assert requests == []
    page.close()


def test_a_script_in_a_paper_is_shown_as_text(browser, tmp_path):
    payload = "<script>alert(1)</script>"
    paper = tmp_path / "paper.md"
    text = (EXAMPLES / "paper.md").read_text().replace("\n", f" {payload}\n", 1)  # into the title too
    paper.write_text(add_to_intro(text, f"We cut error by 40% {payload} on a benchmark nobody names."))
    out = tmp_path / "check.html"
    result = run_cli("check", str(paper), "--html", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert payload not in out.read_text()
    page, requests, dialogs = open_page(browser, out, "check-script")
    assert dialogs == [] and page.locator("script").count() == 0
    assert payload in page.locator("h1").inner_text()
    assert page.locator("mark.unsupported", has_text=payload).first.is_visible()
    assert requests == []
    page.close()


def a_dataset(tmp_path) -> Path:
    runs = tmp_path / "pairs-runs"
    runs.mkdir()
    store = TrajectoryStore(runs / "trajectories.sqlite")
    engine = VariedEngine()
    config = RunConfig()
    config.cycle.max_revisions = 1
    structures = [(str(EXAMPLES / "sparse-retrieval.yaml"), load_structure(EXAMPLES / "sparse-retrieval.yaml"))]
    Collector(config, engine, engine, store, runs / "checkpoints.sqlite", concurrency=1).run(plan_jobs(structures, 2))
    built = build_pairs([store.load(t) for t in store.thread_ids()], PairSettings())
    store.close()
    directory, _ = write_dataset(built, runs / "pairs", PairSettings(), set())
    return directory


def test_round_dashboard_shows_intervals_training_curves_checks_and_pairs(browser, tmp_path):
    from test_gate import compare, noise, scored

    from paracycle.eval.compare import reasons

    base = noise(16, 0.5)
    metrics, settings = compare(scored([b + 0.2 for b in base]), scored(base))
    m = RoundManifest(round_id="round-0001", status=metrics.decision, decision=metrics.decision,
                      parent=Policy(id="base", base_model="tiny"), base_model="tiny", seed=0, config={},
                      eval_metrics=metrics, reasons=reasons(metrics, settings), dataset=str(a_dataset(tmp_path)),
                      train_metrics={"train_loss": 0.6}, timings={"collect": 1.0})
    log = [{"loss": 0.69 - 0.05 * s, "rewards/margins": 0.1 * s, "rewards/accuracies": 0.5, "step": s, "epoch": 0.1}
           for s in range(1, 6)] + [{"train_runtime": 3.0, "step": 5}]
    round_dir = tmp_path / "round-0001"
    round_dir.mkdir()
    (round_dir / TRAIN_HISTORY).write_text(json.dumps(training_history(log)))
    write_round_report(round_dir, m, [m])
    page, requests, _ = open_page(browser, round_dir / "report.html", "round-dashboard")

    charts = page.locator(".chart svg")
    assert charts.count() == 2 and all(charts.nth(i).is_visible() for i in range(2))
    assert charts.nth(1).locator("path").count() > 3  # three training series drawn
    for check in metrics.checks:
        assert page.locator("td", has_text=check.text).first.is_visible()
    reward = metrics.comparison("reward")
    assert page.locator("td", has_text=f"{reward.diff.mean:+.3f}").first.is_visible()
    pairs = page.locator(".pair")
    assert pairs.count() >= 2 and pairs.first.locator("text=chosen").is_visible()
    assert requests == []
    page.close()
