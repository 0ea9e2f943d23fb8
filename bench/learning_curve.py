"""Does the writer learn? R rounds on the corpus's training split, each writer measured on the
held-out split against the base model and against its parent.

Each round is a real `paracycle round` (collect, pairs, train, evaluate, gate) in one run
directory, so round k+1 starts from whatever round k's gate promoted. After each round the
round's trained writer is compared with the base on the held-out structures, paired by
seed (`paracycle.eval.compare`, the gate's own code); the comparison with the parent is the
gate's. The base model's held-out drafts are drafted once and reused.

Writes `learning_curve.png` (reward, closure, unsupported claims per draft and words, each
round against the base with its 95% interval) and `learning_curve.md` (the table) into
--out, and ends with exactly
`rounds=<R> base=<reward> last=<reward> delta=<d> ci_low=<lo> ci_high=<hi> closure_delta=<c> length_drift=<l>`.

Resumable: rounds already in the run directory count; rerun the same command to go on.

    python bench/learning_curve.py [--rounds 3] [--quick] [--config examples/corpus/round.yaml]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples" / "corpus" / "round.yaml"


def quick_config(config: Path, out: Path) -> Path:
    """The corpus round at a smoke-test size: 6 training and 4 held-out structures, 1 sample
    each, 4 training steps. Says nothing about learning; shows that every stage runs."""
    data = yaml.safe_load(config.read_text())
    train = sorted((config.parent / data["structures"][0]).glob("*.yaml"))[:6]
    held = sorted((config.parent / data["holdout"][0]).glob("*.yaml"))[:4]
    data["structures"] = [str(p) for p in train]
    data["holdout"] = [str(p) for p in held]
    data["collect"]["samples"] = 2
    data["train"].update(max_steps=4, max_pairs=8)
    data["gate"].update(samples=1, min_items=4)
    path = out / "round-quick.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a smoke-test size; says nothing about learning")
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "learning-curve")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    from paracycle.stdio import quiet_libraries

    quiet_libraries()
    from paracycle.eval.compare import compare_policies
    from paracycle.eval.draft_cache import DraftCache
    from paracycle.registry import Policy
    from paracycle.rundir import RunDir
    from paracycle.training.round import load_round_config, run_round

    args.out.mkdir(parents=True, exist_ok=True)
    runs = args.runs_dir.with_name(args.runs_dir.name + "-quick") if args.quick else args.runs_dir
    config_path = quick_config(args.config, args.out) if args.quick else args.config
    config, _, holdout = load_round_config(config_path)
    run_dir = RunDir(runs).resolved()
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    rows_path = run_dir.root / "learning_curve.jsonl"  # one line per round measured: the resumable record
    measured = [json.loads(l) for l in rows_path.open()] if rows_path.exists() else []
    base = Policy(id="base", base_model=config.run.writer.model)
    drafted: dict = {}  # held-out drafts per writer, drafted once: the gate's and ours are the same

    while len(measured) < args.rounds:
        started = time.perf_counter()
        manifest = run_round(config_path, run_dir, log=log, drafted=drafted)
        seconds = time.perf_counter() - started
        if manifest.adapter is None and manifest.model is None:
            log(f"{manifest.round_id} trained nothing ({manifest.decision}); stopping")
            break
        candidate = Policy(id=manifest.round_id, base_model=base.base_model, adapter=manifest.adapter, model=manifest.model)
        if manifest.parent.is_base:
            vs_base = manifest.eval_metrics
        else:
            vs_base = compare_policies(config.run, candidate, base, holdout, config.gate, config.seed,
                                       config.pairs.weights, log=log, drafted=drafted,
                                       cache=DraftCache(run_dir.eval_drafts))
        row = {"round": manifest.round_id, "parent": manifest.parent.id, "decision": manifest.decision,
               "round_seconds": round(seconds, 1), "timings": manifest.timings, "pairs": manifest.pair_counts,
               "train": manifest.train_metrics,
               "vs_parent": manifest.eval_metrics.model_dump(mode="json", exclude={"judgements"}),
               "vs_base": vs_base.model_dump(mode="json", exclude={"judgements"})}
        measured.append(row)
        with rows_path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        log(f"{manifest.round_id}: {manifest.decision} in {seconds:.0f}s")

    if not measured:
        sys.exit("no round trained anything")
    report(measured, args.out, "quick" if args.quick else "full")


def _diff(row: dict, metric: str) -> dict | None:
    return next((c for c in row["vs_base"]["comparisons"] if c["metric"] == metric), None)


def report(measured: list[dict], out: Path, label: str) -> None:
    header = ("| round | parent | decision | reward vs base [95%] | closure vs base [95%] | unsupported vs base [95%] "
              "| length drift | reward vs parent [95%] | round minutes |")
    lines = [header, "|" + "---|" * 9]
    for row in measured:
        cells = []
        for metric in ("reward", "closure", "unsupported"):
            c = _diff(row, metric)
            cells.append("—" if c is None else _cell(c["diff"]))
        drift = row["vs_base"]["length_drift"]
        parent = next((c for c in row["vs_parent"]["comparisons"] if c["metric"] == "reward"), None)
        lines.append(f"| {row['round']} | {row['parent']} | {row['decision']} | {' | '.join(cells)} | {drift:+.1%} | "
                     f"{'—' if parent is None else _cell(parent['diff'])} | {row['round_seconds'] / 60:.1f} |")
    table = "\n".join(lines)
    (out / f"learning_curve-{label}.md").write_text(table + "\n")
    print(table)
    _plot(measured, out / f"learning_curve-{label}.png")
    last = measured[-1]
    reward = _diff(last, "reward")
    closure = _diff(last, "closure")
    base_reward = reward["current"]
    print(f"rounds={len(measured)} base={base_reward:.4f} last={reward['candidate']:.4f} "
          f"delta={reward['diff']['mean']:.4f} ci_low={_num(reward['diff']['low'])} ci_high={_num(reward['diff']['high'])} "
          f"closure_delta={_num(closure['diff']['mean'] if closure else None)} "
          f"length_drift={last['vs_base']['length_drift']:.4f}")


def _cell(d: dict) -> str:
    return f"{d['mean']:+.3f}" + ("" if d["low"] is None else f" [{d['low']:+.3f}, {d['high']:+.3f}]")


def _num(v) -> str:
    return "nan" if v is None else f"{v:.4f}"


def _plot(measured: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    panels = [("reward", "structural reward", 0.5), ("closure", "closure rate", 0.2),
              ("unsupported", "unsupported claims per draft", 1.0), ("words", "words per draft", 100.0)]
    xs = list(range(len(measured) + 1))
    for ax, (metric, title, floor) in zip(axes.flat, panels):
        first = _diff(measured[0], metric)
        if first is None:
            ax.set_visible(False)
            continue
        ys, lows, highs = [first["current"]], [0.0], [0.0]  # round 0: the base itself
        for row in measured:
            c = _diff(row, metric)
            base = c["current"]
            ys.append(c["candidate"])
            lows.append(c["diff"]["mean"] - c["diff"]["low"] if c["diff"]["low"] is not None else 0.0)
            highs.append(c["diff"]["high"] - c["diff"]["mean"] if c["diff"]["high"] is not None else 0.0)
        ax.errorbar(xs, ys, yerr=[lows, highs], marker="o", capsize=4)
        ax.axhline(base, color="grey", ls=":", lw=0.8, label="base")
        low, high = ax.get_ylim()
        if high - low < floor:  # a fixed minimum height: noise must not fill the panel
            mid = (low + high) / 2
            ax.set_ylim(mid - floor / 2, mid + floor / 2)
        ax.set_title(f"{title} (held-out; bars: 95% CI of the paired difference from base)", fontsize=8)
        ax.set_xticks(xs, ["base"] + [r["round"].removeprefix("round-") for r in measured])
        ax.grid(alpha=0.3)
    fig.suptitle("learning curve: each round's writer against the base model", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
