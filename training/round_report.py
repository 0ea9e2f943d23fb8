"""A round's human-readable report: `report.md` plus a `rounds.png` of every round so far.

The manifest is the record; this is only a view of it, so every part is optional. A skipped
round has no eval, an abandoned one may lack timings: missing parts are left out or marked
"not reached", never an error. The figure puts this round in the context of all earlier ones,
because a single round's win rate means little without the trend. Each round's point is its
paired difference from its parent with the 95% interval, on axes at least a fixed height
tall, so noise does not fill the panel.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from paracycle.html_templates import figure_svg
from paracycle.metrics import GateMetrics
from paracycle.registry import RoundManifest
from paracycle.report import COMPARISON_HEADER, comparison_rows
from paracycle.training.round_html import write_round_html

Metric = Callable[[GateMetrics], "tuple[float, float | None, float | None] | None"]

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
    earlier = len(set(m.threads_used) - set(m.threads_collected))
    lines.append(f"- **Threads trained on:** {len(m.threads_used)} ({len(m.threads_used) - earlier} of the "
                 f"{len(m.threads_collected)} this round collected, {earlier} collected earlier and not yet used)")
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
    lines = ["## Evaluation", ""]
    if ev.comparisons:  # paired items with intervals
        lines.append(f"{ev.items} paired items (held-out structure x seed); differences are candidate - current, "
                     "with 95% paired-bootstrap intervals.")
        lines.append("")
        lines += _table(COMPARISON_HEADER, comparison_rows(ev))
        lines.append(f"- **Decision:** {ev.decision}" + (f" (about {ev.needed} paired items needed)" if ev.needed else ""))
        return lines + [""]
    # manifests from before the intervals: means and a bare win rate
    cand, cur = ev.candidate.model_dump(), ev.current.model_dump()
    lines += _table(["metric", "candidate", "current"], [[k, cand[k], cur[k]] for k in EVAL_ROWS])
    lines.append(f"- **Win rate:** {_fmt(ev.win_rate)} (wins {ev.wins}, losses {ev.losses}, ties {ev.ties})")
    lines.append(f"- **Length drift:** {ev.length_drift:+.3f}")
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


def _diff(metric: str) -> Metric:
    """The paired difference of `metric` with its interval: (mean, low, high) or None."""
    def get(ev: GateMetrics):
        c = ev.comparison(metric)
        return None if c is None else (c.diff.mean, c.diff.low, c.diff.high)
    return get


def _judge(ev: GateMetrics):
    j = ev.judge
    if j is not None:
        return j.rate, j.low, j.high
    return None if ev.win_rate is None else (ev.win_rate, None, None)


def _series(ax, rounds: list[RoundManifest], metric: Metric, color: str) -> None:
    """One point per evaluated round, with its 95% interval as an error bar; filled =
    promoted, hollow = rejected, inconclusive or other."""
    for x, r in enumerate(rounds):
        value = metric(r.eval_metrics) if r.eval_metrics is not None else None
        if value is None:
            continue
        mean, low, high = value
        if low is not None:
            ax.errorbar([x], [mean], yerr=[[mean - low], [high - mean]], color=color, capsize=4, lw=1.2)
        ax.scatter([x], [mean], s=40, zorder=3, edgecolors=color,
                   facecolors=color if r.status == "promoted" else "white")


def _span(ax, floor: float) -> None:
    """At least `floor` tall around zero (or the chance line): a 0.02 wobble stays small."""
    low, high = ax.get_ylim()
    centre = (low + high) / 2
    if high - low < floor:
        ax.set_ylim(centre - floor / 2, centre + floor / 2)


def _plot(path: Path, manifest: RoundManifest, rounds: list[RoundManifest]) -> str:
    """The rounds figure, drawn once: saved as PNG at `path`, returned as SVG for report.html."""
    import matplotlib  # off the start-up path: only a round draws

    matplotlib.use("Agg")  # headless: training runs on servers with no display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    panels = [
        (axes[0][0], _diff("reward"), "structural reward, candidate - current", 0.0, 0.5),
        (axes[0][1], _judge, "judge win rate (candidate vs current)", 0.5, 0.5),
        (axes[1][0], _diff("closure"), "closure, candidate - current", 0.0, 0.2),
        (axes[1][1], _diff("words"), "words per draft, candidate - current", 0.0, 100.0),
    ]
    for ax, metric, title, line, floor in panels:
        ax.axhline(line, color="grey", lw=0.8, ls=":")
        _series(ax, rounds, metric, "C0")
        _span(ax, floor)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    # every round gets a tick, so skipped rounds show as gaps rather than vanishing
    for ax in axes[1]:
        ax.set_xticks(range(len(rounds)), [r.round_id for r in rounds], rotation=45, ha="right", fontsize=8)
    if all(r.eval_metrics is None for r in rounds):
        for ax in axes.flat:
            ax.text(0.5, 0.5, "no evaluated rounds yet", transform=ax.transAxes, ha="center", color="grey")
    fig.suptitle("rounds so far: paired differences with 95% intervals "
                 "(filled marker = promoted, hollow = rejected / inconclusive)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    svg = figure_svg(fig)
    plt.close(fig)  # called once per round in a long-lived process: don't leak figures
    return svg


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def _with_latest(manifest: RoundManifest, history: list[RoundManifest]) -> list[RoundManifest]:
    """History with `manifest` in its round's place: history may hold an older status copy."""
    rounds = [manifest if r.round_id == manifest.round_id else r for r in history]
    return rounds if any(r.round_id == manifest.round_id for r in history) else rounds + [manifest]


def write_round_report(round_dir: Path, manifest: RoundManifest, history: list[RoundManifest]) -> tuple[Path, Path]:
    """Write `report.md`, `rounds.png` and `report.html` into round_dir; returns the first two."""
    round_dir = Path(round_dir)
    round_dir.mkdir(parents=True, exist_ok=True)
    report_path, png_path = round_dir / "report.md", round_dir / "rounds.png"
    svg = _plot(png_path, manifest, _with_latest(manifest, history))
    report_path.write_text(_markdown(manifest, png_path.name))
    write_round_html(round_dir, manifest, svg)
    return report_path, png_path
