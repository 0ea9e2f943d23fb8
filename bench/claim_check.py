"""How well does the deterministic claim check find planted overclaims?

Runs the structural check (no model) on every paper of a labelled set (default
`tests/data/claims/`, format in its README) and compares what it flags with the labels: a
labelled sentence counts as flagged when an unsupported sentence the check reports overlaps it
(one contains the other, so a sentence the check's splitter joined with its neighbour still
counts). Prints recall per planted kind, false alarms per kind of sentence that must not be
flagged, then the last line exactly `recall=<r> precision=<p> false_alarms_per_paper=<f>`,
where false alarms are counted over the clean papers (those with no planted defect).

    python bench/claim_check.py [--data DIR] [--show]

`tests/test_claim_check.py` asserts the issue's floors on the default set through `score`.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "tests" / "data" / "claims"


@dataclass
class Label:
    paper: str
    sentence: str
    kind: str
    flag: bool
    why: str


@dataclass
class Score:
    papers: int = 0
    clean_papers: int = 0
    caught: Counter = field(default_factory=Counter)  # planted kind -> caught
    planted: Counter = field(default_factory=Counter)  # planted kind -> total
    alarms: Counter = field(default_factory=Counter)  # negative kind -> flagged
    negatives: Counter = field(default_factory=Counter)  # negative kind -> total
    clean_alarms: int = 0
    mistakes: list[tuple[Label, str]] = field(default_factory=list)  # (label, the check's reason)

    @property
    def recall(self) -> float:
        return sum(self.caught.values()) / max(sum(self.planted.values()), 1)

    @property
    def precision(self) -> float:
        true, false = sum(self.caught.values()), sum(self.alarms.values())
        return true / max(true + false, 1)

    @property
    def false_alarms_per_paper(self) -> float:
        return self.clean_alarms / max(self.clean_papers, 1)


def unsupported(folder: Path) -> dict[str, str]:
    """Sentence -> reason for every sentence the check reports unsupported."""
    from paracycle.eval.structural import check_structure_draft
    from paracycle.loading import load_structure
    from paracycle.paper import load_paper

    paper, structure = load_paper(folder / "paper.md"), load_structure(folder / "structure.yaml")
    check = check_structure_draft(structure, paper.to_draft())
    return {_norm(u.sentence): u.reason for u in check.unsupported_claims}


def _norm(text: str) -> str:
    return " ".join(text.split())


def labels(folder: Path) -> list[Label]:
    rows = [json.loads(line) for line in (folder / "labels.jsonl").read_text().splitlines() if line.strip()]
    return [Label(folder.name, _norm(r["sentence"]), r["kind"], r["flag"], r.get("why", "")) for r in rows]


def score(data: Path = DEFAULT_DATA) -> Score:
    result = Score()
    for folder in sorted(p for p in data.iterdir() if (p / "labels.jsonl").is_file()):
        flagged = unsupported(folder)
        paper_labels = labels(folder)
        clean = not any(label.flag for label in paper_labels)
        result.papers += 1
        result.clean_papers += clean
        for label in paper_labels:
            reason = next((r for s, r in flagged.items() if label.sentence in s or s in label.sentence), None)
            hit = reason is not None
            if label.flag:
                result.planted[label.kind] += 1
                result.caught[label.kind] += hit
            else:
                result.negatives[label.kind] += 1
                result.alarms[label.kind] += hit
                result.clean_alarms += hit and clean
            if hit != label.flag:
                result.mistakes.append((label, reason or ""))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--show", action="store_true", help="list every miss and false alarm, with the check's reason")
    args = parser.parse_args()

    s = score(args.data)
    if args.show:
        for label, reason in s.mistakes:
            print(f"{'MISS' if label.flag else 'FALSE ALARM'} {label.paper} [{label.kind}] {label.sentence}")
            print(f"    label: {label.why}" + (f"\n    check: {reason}" if reason else ""))
    print(f"{s.papers} papers ({s.clean_papers} clean), {sum(s.planted.values())} planted defects, "
          f"{sum(s.negatives.values())} sentences that must not be flagged")
    print(f"\n{'planted defect':<24}{'caught':>10}")
    for kind in sorted(s.planted):
        print(f"{kind:<24}{s.caught[kind]:>5}/{s.planted[kind]:<4}")
    print(f"\n{'must not be flagged':<24}{'flagged':>10}")
    for kind in sorted(s.negatives):
        print(f"{kind:<24}{s.alarms[kind]:>5}/{s.negatives[kind]:<4}")
    print(f"recall={s.recall:.2f} precision={s.precision:.2f} false_alarms_per_paper={s.false_alarms_per_paper:.2f}")


if __name__ == "__main__":
    main()
