"""How well does the deterministic claim check find planted overclaims?

Runs the structural check (no model) on every paper of the labelled set in
`tests/data/claims/` (see its README) and compares what it flags with the labels: a labelled
sentence counts as flagged when an unsupported sentence the check reports overlaps it (one
contains the other, so a sentence the check's splitter joined with its neighbour still
counts). Prints recall per planted kind, false alarms per hard-negative kind, then the last
line exactly `recall=<r> precision=<p> false_alarms_per_paper=<f>`, where false alarms are
counted over the clean papers (those with no planted defect).

    python bench/claim_check.py [--data DIR] [--show]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Label:
    paper: str
    sentence: str
    kind: str
    flag: bool
    why: str


def flagged_sentences(folder: Path) -> list[str]:
    from paracycle.eval.structural import check_structure_draft
    from paracycle.loading import load_structure
    from paracycle.paper import load_paper

    paper, structure = load_paper(folder / "paper.md"), load_structure(folder / "structure.yaml")
    check = check_structure_draft(structure, paper.to_draft())
    return [_norm(u.sentence) for u in check.unsupported_claims]


def _norm(text: str) -> str:
    return " ".join(text.split())


def labels(folder: Path) -> list[Label]:
    rows = [json.loads(line) for line in (folder / "labels.jsonl").read_text().splitlines() if line.strip()]
    return [Label(folder.name, _norm(r["sentence"]), r["kind"], r["flag"], r.get("why", "")) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "claims")
    parser.add_argument("--show", action="store_true", help="list every miss and false alarm")
    args = parser.parse_args()

    folders = sorted(p for p in args.data.iterdir() if (p / "labels.jsonl").is_file())
    caught, total, alarms, negatives = Counter(), Counter(), Counter(), Counter()
    true_flags = false_flags = clean_alarms = clean_papers = 0
    for folder in folders:
        flagged = flagged_sentences(folder)
        paper_labels = labels(folder)
        clean = not any(label.flag for label in paper_labels)
        clean_papers += clean
        for label in paper_labels:
            hit = any(label.sentence in f or f in label.sentence for f in flagged)
            if label.flag:
                total[label.kind] += 1
                caught[label.kind] += hit
                true_flags += hit
            else:
                negatives[label.kind] += 1
                alarms[label.kind] += hit
                false_flags += hit
                clean_alarms += hit and clean
            if args.show and hit != label.flag:
                print(f"{'MISS' if label.flag else 'FALSE ALARM'} {folder.name} [{label.kind}] {label.sentence}\n    {label.why}")

    print(f"{len(folders)} papers ({clean_papers} clean), {sum(total.values())} planted defects, "
          f"{sum(negatives.values())} sentences that must not be flagged")
    print(f"\n{'planted defect':<24}{'caught':>10}")
    for kind in sorted(total):
        print(f"{kind:<24}{caught[kind]:>5}/{total[kind]:<4}")
    print(f"\n{'must not be flagged':<24}{'flagged':>10}")
    for kind in sorted(negatives):
        print(f"{kind:<24}{alarms[kind]:>5}/{negatives[kind]:<4}")
    recall = true_flags / max(sum(total.values()), 1)
    precision = true_flags / max(true_flags + false_flags, 1)
    per_paper = clean_alarms / max(clean_papers, 1)
    print(f"recall={recall:.2f} precision={precision:.2f} false_alarms_per_paper={per_paper:.2f}")


if __name__ == "__main__":
    main()
