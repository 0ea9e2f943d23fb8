"""A round's dashboard, `report.html` beside `report.md`: every round so far with intervals,
the gate's checks with their numbers, the training curves from TRL's log history, and the
pairs per source with two examples each (chosen and rejected side by side, with the reward
components that decided).

Like `report.md` it is a view of the manifest and of files the round wrote, so every part is
optional: a round that never trained has no curve, one that built no pairs has no examples.
One self-contained file (inline SVG, no script), rendered by `paracycle.html_templates`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from paracycle.fsutil import write_atomic
from paracycle.html_templates import figure_svg, render
from paracycle.registry import RoundManifest
from paracycle.report import COMPARISON_HEADER, comparison_rows
from paracycle.rundir import TRAIN_HISTORY

EXAMPLES_PER_SOURCE = 2
TRAIN_SERIES = (("loss", "loss"), ("rewards/margins", "reward margin (chosen - rejected)"),
                ("rewards/accuracies", "accuracy (chosen preferred)"))


@dataclass
class Example:
    unit: str
    margin: float
    basis: str
    chosen: str
    rejected: str
    chosen_reward: str
    rejected_reward: str
    chosen_parts: str
    rejected_parts: str


@dataclass
class Source:
    name: str
    count: int
    examples: list[Example]


def _parts(reward: dict) -> str:
    """The weighted components that add up to the reward, largest first."""
    weighted = sorted(reward.get("weighted", {}).items(), key=lambda kv: -abs(kv[1]))
    return ", ".join(f"{k} {v:+.2f}" for k, v in weighted if v)


def pair_sources(dataset: str | None) -> list[Source]:
    """Rows per source and the two widest-margin rows of each, read from the round's dataset."""
    if not dataset or not (Path(dataset) / "pairs.jsonl").exists():
        return []
    root = Path(dataset)
    rows = [json.loads(line) for line in (root / "pairs.jsonl").read_text().splitlines() if line]
    pairs_file = root / "draft_pairs.jsonl"
    pairs = {p["id"]: p for p in (json.loads(line) for line in pairs_file.read_text().splitlines() if line)} \
        if pairs_file.exists() else {}
    out = []
    for name in sorted({r["source"] for r in rows}):
        mine = sorted((r for r in rows if r["source"] == name), key=lambda r: (-r["margin"], r["id"]))
        examples = []
        for r in mine[:EXAMPLES_PER_SOURCE]:
            pair = pairs.get(r["pair_id"], {})
            chosen, rejected = pair.get("chosen_reward", {}), pair.get("rejected_reward", {})
            basis = pair.get("basis", "total")
            examples.append(Example(
                unit=r["unit"], margin=r["margin"], basis=basis,
                chosen=r["chosen"][0]["content"], rejected=r["rejected"][0]["content"],
                chosen_reward=f"{chosen.get(basis, float('nan')):.3f}" if chosen else "—",
                rejected_reward=f"{rejected.get(basis, float('nan')):.3f}" if rejected else "—",
                chosen_parts=_parts(chosen), rejected_parts=_parts(rejected),
            ))
        out.append(Source(name, len(mine), examples))
    return out


def training_svg(history: list[dict[str, float]]) -> str | None:
    """Loss, reward margin and accuracy per step, side by side; None without a history."""
    series = [(key, title) for key, title in TRAIN_SERIES if any(key in h for h in history)]
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(series), figsize=(4 * len(series), 3), squeeze=False)
    for ax, (key, title) in zip(axes[0], series):
        points = [(h["step"], h[key]) for h in history if key in h]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=3)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    svg = figure_svg(fig)
    plt.close(fig)
    return svg


def write_round_html(round_dir: Path, manifest: RoundManifest, rounds_svg: str) -> Path:
    """`rounds_svg`: the rounds figure as an SVG element (`figure_svg`)."""
    history_file = Path(round_dir) / TRAIN_HISTORY
    history = json.loads(history_file.read_text()) if history_file.exists() else []
    m = manifest
    page = render(
        "round", title=f"Round {m.round_id}", subtitle=f"{m.status} · parent {m.parent.id} · seed {m.seed}",
        m=m, rounds_svg=rounds_svg, train_svg=training_svg(history), sources=pair_sources(m.dataset),
        comparison_header=COMPARISON_HEADER, comparison_rows=comparison_rows(m.eval_metrics) if m.eval_metrics else [],
    )
    path = Path(round_dir) / "report.html"
    write_atomic(path, page)
    return path
