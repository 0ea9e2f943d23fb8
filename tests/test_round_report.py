"""The round report: both files appear, the markdown says what was decided and why."""

from __future__ import annotations

from paracycle.metrics import GateMetrics
from paracycle.registry import Policy, RoundManifest
from paracycle.training.round_report import write_round_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BASE = "tiny-base"


def side(reward: float, closure: float | None, words: float) -> dict:
    return {"reward": reward, "closure": closure, "unsupported": 0.1, "role_order": 0.9, "words": words, "drafts": 4}


def a_round(n: int, status: str, *, evaluated: bool, reasons: list[str], decision: str | None = None) -> RoundManifest:
    m = RoundManifest(
        round_id=f"round-{n:04d}",
        status=status,
        parent=Policy(id="base" if n == 1 else f"round-{n - 1:04d}", base_model=BASE),
        base_model=BASE,
        seed=n,
        config={"gate": {"min_win_rate": 0.55}},
        reference="the parent policy (LoRA disabled)",
        decision=decision or status,
        reasons=reasons,
    )
    if evaluated:
        m.pair_counts = {"revision": 3, "best_vs_worst": 1, "human_anchor": 0, "principle_violation": 4}
        m.train_metrics = {"train_loss": 0.61, "rewards/margins": 0.2, "rewards/accuracies": 0.7, "steps": 12.0}
        m.eval_metrics = GateMetrics.model_validate({
            "win_rate": 0.7 if status == "promoted" else 0.4, "wins": 7, "losses": 3, "ties": 0, "length_drift": 0.05,
            "candidate": side(0.62 + n / 100, None if n == 2 else 0.8, 180.0),
            "current": side(0.55, 0.75, 170.0),
            "judgements": [{"structure_hash": "h", "sample": k, "candidate_first": "A", "candidate_second": "B",
                            "outcome": "candidate"} for k in range(10)],
        })
        m.timings = {"collect": 12.3, "pairs": 0.4, "train": 40.1, "evaluate": 30.2}
    return m


def test_report_over_three_rounds(tmp_path):
    promoted = a_round(1, "promoted", evaluated=True, reasons=["win rate 0.700 >= 0.55", "no length drift"])
    rejected = a_round(2, "rejected", evaluated=True, reasons=["win rate 0.400 < 0.55"])
    skipped = a_round(3, "skipped", evaluated=False, reasons=["no pairs above the margin"])
    # the history may hold an older status copy of the round being reported on
    stale = rejected.model_copy(update={"status": "trained", "decision": None, "reasons": []})

    report, png = write_round_report(tmp_path / "r2", rejected, [promoted, stale, skipped])

    assert png == tmp_path / "r2" / "rounds.png" and png.stat().st_size > 0
    assert png.read_bytes()[:8] == PNG_MAGIC
    text = report.read_text()
    assert "round-0002" in text and "rejected" in text
    assert "win rate 0.400 < 0.55" in text
    for source, n in rejected.pair_counts.items():
        assert f"| {source} | {n} |" in text
    assert "| reward | 0.640 | 0.550 |" in text
    assert "wins 7, losses 3, ties 0" in text
    assert "![rounds](rounds.png)" in text

    report, _ = write_round_report(tmp_path / "r1", promoted, [promoted, rejected, skipped])
    text = report.read_text()
    assert all(r in text for r in promoted.reasons)


def test_skipped_round_alone(tmp_path):
    skipped = a_round(1, "skipped", evaluated=False, reasons=["no pairs above the margin"])
    report, png = write_round_report(tmp_path, skipped, [skipped])
    assert png.read_bytes()[:8] == PNG_MAGIC
    text = report.read_text()
    assert "skipped" in text and "no pairs above the margin" in text
    assert "not reached" in text and "![rounds](rounds.png)" in text


def test_report_and_figure_carry_the_paired_intervals(tmp_path):
    import random

    from paracycle.eval.compare import GateSettings, reasons
    from test_gate import compare, noise, scored

    base = noise(16, 0.5)
    metrics, settings = compare(scored([b + 0.2 + random.Random(i).gauss(0, 0.05) for i, b in enumerate(base)]),
                                scored(base))
    m = a_round(1, metrics.decision, evaluated=True, reasons=reasons(metrics, settings))
    m.eval_metrics = metrics
    later = a_round(2, "inconclusive", evaluated=True, reasons=[])
    small = noise(4, 0.5)
    later.eval_metrics = compare(scored([b + 0.02 for b in small]), scored(small))[0]
    report, png = write_round_report(tmp_path, m, [m, later])
    text = report.read_text()
    reward = metrics.comparison("reward")
    assert f"| reward | {reward.candidate:.3f} | {reward.current:.3f} | {reward.diff.mean:+.3f} | " \
           f"[{reward.diff.low:+.3f}, {reward.diff.high:+.3f}] | 16 |" in text
    assert "16 paired items" in text and f"**Decision:** {metrics.decision}" in text
    assert any(line.startswith("pass: structural reward") for line in m.reasons) and GateSettings().min_items == 12
    assert png.read_bytes()[:8] == PNG_MAGIC
