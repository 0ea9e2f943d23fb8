"""A round's human-readable report: `report.md` plus a `rounds.png` of every round so far.

The manifest is the record; this is only a view of it, so every part is optional. A skipped
round has no eval, an abandoned one may lack timings: missing parts are left out or marked
"not reached", never an error. The figure puts this round in the context of all earlier ones,
because a single round's win rate means little without the trend.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from paracycle.metrics import GateMetrics
from paracycle.registry import RoundManifest

Metric = Callable[[GateMetrics], float | None]

EVAL_ROWS = ("reward", "closure", "unsupported", "role_order", "words", "drafts")


# --------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):  # bool is an int: say it, don't print 1/0
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):  # whole floats (steps, word counts) read better without ".000"
        return f"{value:.0f}" if value.is_integer() else f"{value:.3f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _header(m: RoundManifest) -> list[str]:
    lines = [f"# Round {m.round_id}", ""]
    lines.append(f"- **Status:** {m.status}")
    lines.append(f"- **Decision:** {m.decision or 'not reached'}")
    lines.append(f"- **Parent policy:** {m.parent.id} (base model `{m.base_model}`)")
    lines.append(f"- **Reference:** {m.reference or 'not recorded'}")
    lines.append(f"- **Threads used:** {len(m.threads_used)} of {len(m.threads_collected)} collected")
    lines.append("")
    if m.reasons:
        lines += ["## Reasons", ""] + [f"- {r}" for r in m.reasons] + [""]
    return lines


def _pairs(m: RoundManifest) -> list[str]:
    if not m.pair_counts:
        return ["## Pairs", "", "not reached", ""]
    rows = [[source, n] for source, n in m.pair_counts.items()]
    rows.append(["**total**", sum(m.pair_counts.values())])
    return ["## Pairs", ""] + _table(["source", "pairs"], rows)


def _train(m: RoundManifest) -> list[str]:
    if not m.train_metrics:
        return ["## Training", "", "not reached", ""]
    return ["## Training", ""] + _table(["metric", "value"], [[k, v] for k, v in m.train_metrics.items()])


def _evaluation(m: RoundManifest) -> list[str]:
    ev = m.eval_metrics
    if ev is None:
        return ["## Evaluation", "", "not reached", ""]
    cand, cur = ev.candidate.model_dump(), ev.current.model_dump()
    lines = ["## Evaluation", ""]
    lines += _table(["metric", "candidate", "current"], [[k, cand[k], cur[k]] for k in EVAL_ROWS])
    lines.append(f"- **Win rate:** {_fmt(ev.win_rate)} (wins {ev.wins}, losses {ev.losses}, ties {ev.ties})")
    lines.append(f"- **Length drift:** {ev.length_drift:+.3f}")
    lines.append(f"- **Judgements:** {len(ev.judgements)}")
    return lines + [""]


def _timings(m: RoundManifest) -> list[str]:
    if not m.timings:
        return []
    rows = [[stage, s] for stage, s in m.timings.items()] + [["**total**", sum(m.timings.values())]]
    return ["## Timings (seconds)", ""] + _table(["stage", "seconds"], rows)


def _markdown(m: RoundManifest, png_name: str) -> str:
    parts = _header(m) + _pairs(m) + _train(m) + _evaluation(m) + _timings(m)
    parts += ["## All rounds", "", f"![rounds]({png_name})", ""]
    return "\n".join(parts)


# --------------------------------------------------------------------------------------
# Figure
# --------------------------------------------------------------------------------------


def _points(rounds: list[RoundManifest], metric: Metric) -> tuple[list[int], list[float], list[bool]]:
    """x positions, values and promoted flags of the evaluated rounds where `metric` has a value."""
    xs, ys, promoted = [], [], []
    for x, r in enumerate(rounds):
        value = metric(r.eval_metrics) if r.eval_metrics is not None else None
        if value is not None:
            xs.append(x)
            ys.append(float(value))
            promoted.append(r.status == "promoted")
    return xs, ys, promoted


def _series(ax, rounds, metric: Metric, label, color, linestyle="-") -> None:
    xs, ys, promoted = _points(rounds, metric)
    if not xs:
        return
    ax.plot(xs, ys, linestyle=linestyle, color=color, label=label)
    # filled = promoted, hollow = rejected/other: the decision is visible without a legend per point
    ax.scatter(xs, ys, s=40, zorder=3, edgecolors=color, facecolors=[color if p else "white" for p in promoted])


def _plot(path: Path, manifest: RoundManifest, rounds: list[RoundManifest]) -> None:
    import matplotlib  # off the start-up path: only a round draws

    matplotlib.use("Agg")  # headless: training runs on servers with no display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    (reward, win), (closure, words) = axes
    _series(reward, rounds, lambda ev: ev.candidate.reward, "candidate", "C0")
    _series(reward, rounds, lambda ev: ev.current.reward, "current", "C1", "--")
    reward.set_title("mean reward")
    _series(win, rounds, lambda ev: ev.win_rate, "win rate", "C2")
    gate = (manifest.config.get("gate") or {}).get("min_win_rate")
    if gate is not None:
        win.axhline(gate, linestyle=":", color="grey", label=f"gate {gate:g}")
    win.set_title("win rate (candidate vs current)")
    _series(closure, rounds, lambda ev: ev.candidate.closure, "candidate", "C0")
    closure.set_title("closure")
    _series(words, rounds, lambda ev: ev.candidate.words, "candidate", "C0")
    _series(words, rounds, lambda ev: ev.current.words, "current", "C1", "--")
    words.set_title("mean words")

    for ax in axes.flat:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    # every round gets a tick, so skipped rounds show as gaps rather than vanishing
    for ax in axes[1]:
        ax.set_xticks(range(len(rounds)), [r.round_id for r in rounds], rotation=45, ha="right", fontsize=8)
    if all(r.eval_metrics is None for r in rounds):
        for ax in axes.flat:
            ax.text(0.5, 0.5, "no evaluated rounds yet", transform=ax.transAxes, ha="center", color="grey")
    fig.suptitle("rounds so far (filled marker = promoted, hollow = rejected/other)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)  # called once per round in a long-lived process: don't leak figures


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def _with_latest(manifest: RoundManifest, history: list[RoundManifest]) -> list[RoundManifest]:
    """History with `manifest` in its round's place: history may hold an older status copy."""
    rounds = [manifest if r.round_id == manifest.round_id else r for r in history]
    return rounds if any(r.round_id == manifest.round_id for r in history) else rounds + [manifest]


def write_round_report(round_dir: Path, manifest: RoundManifest, history: list[RoundManifest]) -> tuple[Path, Path]:
    """Write `report.md` and `rounds.png` into round_dir; returns both paths."""
    round_dir = Path(round_dir)
    round_dir.mkdir(parents=True, exist_ok=True)
    report_path, png_path = round_dir / "report.md", round_dir / "rounds.png"
    _plot(png_path, manifest, _with_latest(manifest, history))
    report_path.write_text(_markdown(manifest, png_path.name))
    return report_path, png_path
