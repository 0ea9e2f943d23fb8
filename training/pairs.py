"""Preference pairs from collected trajectories.

A *draft pair* says one whole draft is better than another, and why: its source (which
builder made it), both drafts' rewards with every component, and the margin. Four builders:

- `revision`: a revision beats the draft it revised, when the reward rose by the margin;
- `best_vs_worst`: the best final draft of the K samples for a structure beats the worst;
- `human_anchor`: the structure's human-written text (`anchor:`) beats the weakest sample;
- `principle_violation`: the best draft beats a copy minimally edited to break one principle
  (an unsupported claim, no evidence preview, paragraphs out of role order, an inflated number).

Training rows are per *unit* (the abstract, or the paragraph at one position), on exactly the
prompt the writer drafts that unit from (`agents.writer.draft_messages`): the writer is trained
on what it is asked. A draft pair yields one row per unit where the two texts differ, in TRL's
conversational prompt/chosen/rejected format. Pairs whose drafts nobody reviewed (anchor,
edited) are compared on the structural part of the reward only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from paracycle.agents.writer import draft_messages, planned_roles
from paracycle.eval.structural import check_structure_draft
from paracycle.schemas import ArgumentStructure, Draft, Paragraph, Strict, Trajectory
from paracycle.settings import CycleConfiguration
from paracycle.eval.reward import Reward, RewardWeights, score_draft

PairSource = Literal["revision", "best_vs_worst", "human_anchor", "principle_violation"]
SOURCES: tuple[str, ...] = ("revision", "best_vs_worst", "human_anchor", "principle_violation")
Principle = Literal["unsupported_claim", "no_evidence_preview", "roles_out_of_order", "inflated_number"]


class PairSettings(Strict):
    sources: list[PairSource] = Field(default_factory=lambda: list(SOURCES))
    min_margin: float = Field(default=0.05, gt=0, description="reward difference below this is a tie: dropped")
    weights: RewardWeights = Field(default_factory=RewardWeights)


class DraftRef(Strict):
    kind: Literal["sample", "anchor", "edited"]
    thread_id: str | None = None
    step: int | None = None  # index of the draft step in its trajectory
    revision: int | None = None
    principle: Principle | None = None  # kind == "edited": which principle the edit breaks


class DraftPair(Strict):
    id: str
    source: PairSource
    structure_hash: str
    chosen: DraftRef
    rejected: DraftRef
    basis: Literal["total", "structural"]
    chosen_reward: Reward
    rejected_reward: Reward
    margin: float


class PairRow(Strict):
    """One training example: TRL's conversational preference format plus provenance."""

    id: str
    prompt: list[dict[str, str]]
    chosen: list[dict[str, str]]
    rejected: list[dict[str, str]]
    source: PairSource
    unit: str  # "abstract" or "intro_p<k>:<role>"
    pair_id: str
    structure_hash: str
    margin: float


@dataclass
class Candidate:
    """A reviewed draft: a point the builders can compare."""

    ref: DraftRef
    draft: Draft
    reward: Reward


# -- candidates -----------------------------------------------------------------------------


def reviewed_drafts(trajectory: Trajectory, weights: RewardWeights) -> list[Candidate]:
    """Every draft of a trajectory that was reviewed, in order (revision 0, 1, ...)."""
    out = []
    steps = trajectory.steps
    for i, step in enumerate(steps):
        if step.kind != "review" or step.structural_check is None or i == 0 or steps[i - 1].draft is None:
            continue
        draft_step = steps[i - 1]
        reward = score_draft(trajectory.structure, draft_step.draft, step.structural_check, step.review, weights)
        ref = DraftRef(kind="sample", thread_id=trajectory.thread_id, step=draft_step.index, revision=draft_step.revision)
        out.append(Candidate(ref, draft_step.draft, reward))
    return out


# -- builders -------------------------------------------------------------------------------


def revision_pairs(samples: list[list[Candidate]]) -> Iterable[tuple[Candidate, Candidate, str]]:
    for chain in samples:
        for before, after in zip(chain, chain[1:]):
            yield after, before, "total"


def best_vs_worst_pairs(samples: list[list[Candidate]]) -> Iterable[tuple[Candidate, Candidate, str]]:
    finals = [chain[-1] for chain in samples if chain]
    if len(finals) >= 2:
        ranked = sorted(finals, key=lambda c: c.reward.total)
        yield ranked[-1], ranked[0], "total"


def human_anchor_pairs(
    structure: ArgumentStructure, samples: list[list[Candidate]], cycle: CycleConfiguration, weights: RewardWeights
) -> Iterable[tuple[Candidate, Candidate, str]]:
    finals = [chain[-1] for chain in samples if chain]
    if structure.anchor is None or not finals:
        return
    weakest = min(finals, key=lambda c: c.reward.total)
    draft = anchor_draft(structure, weakest.draft)
    anchor = Candidate(DraftRef(kind="anchor"), draft, _structural_reward(structure, draft, cycle, weights))
    yield anchor, weakest, "structural"


def principle_violation_pairs(
    structure: ArgumentStructure, samples: list[list[Candidate]], cycle: CycleConfiguration, weights: RewardWeights
) -> Iterable[tuple[Candidate, Candidate, str]]:
    finals = [chain[-1] for chain in samples if chain]
    if not finals:
        return
    best = max(finals, key=lambda c: c.reward.total)
    # Re-score the original without its review, so both sides are judged alike.
    original = Candidate(best.ref, best.draft, _structural_reward(structure, best.draft, cycle, weights))
    for principle, edit in EDITS.items():
        edited = edit(structure, best.draft)
        if edited is None or edited == best.draft:
            continue
        ref = best.ref.model_copy(update={"kind": "edited", "principle": principle})
        yield original, Candidate(ref, edited, _structural_reward(structure, edited, cycle, weights)), "structural"


def _structural_reward(structure, draft, cycle: CycleConfiguration, weights) -> Reward:
    check = check_structure_draft(structure, draft, cycle.lengths)
    return score_draft(structure, draft, check, None, weights)


def anchor_draft(structure: ArgumentStructure, like: Draft) -> Draft:
    """The human text as a Draft. Its paragraphs take the roles of the sample it is compared
    with, position by position, when the counts agree (then every unit has a prompt);
    otherwise only the abstract is comparable and the introduction keeps canonical roles."""
    anchor = structure.anchor
    assert anchor is not None
    roles = [p.role for p in like.introduction]
    if len(roles) != len(anchor.introduction):
        plan = planned_roles(structure)
        roles = [plan[min(i, len(plan) - 1)] for i in range(len(anchor.introduction))]
    paragraphs = [
        Paragraph(id=f"intro_p{i}", role=role, text=_flat(text))
        for i, (role, text) in enumerate(zip(roles, anchor.introduction), start=1)
    ]
    return Draft(abstract=_flat(anchor.abstract), introduction=paragraphs)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# -- principle edits: each returns a copy of the draft that breaks one principle ------------

_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?%")


def insert_unsupported_claim(structure: ArgumentStructure, draft: Draft) -> Draft | None:
    known = set(_PERCENT.findall(json.dumps(structure.model_dump(mode="json"))))
    number = next(n for n in ("47", "63", "88", "91", "39") if n not in known)
    claim = f"It also outperforms every prior method by {number}% on all benchmarks."
    target = _paragraph_with_role(draft, "evidence_preview") or _paragraph_with_role(draft, "insight_delivery")
    if target is None:
        return draft.model_copy(update={"abstract": f"{draft.abstract} {claim}"})
    return _replace_text(draft, target.id, f"{target.text} {claim}")


def drop_evidence_preview(structure: ArgumentStructure, draft: Draft) -> Draft | None:
    if _paragraph_with_role(draft, "evidence_preview") is None:
        return None
    kept = [p for p in draft.introduction if p.role != "evidence_preview"]
    return Draft(abstract=draft.abstract, introduction=_renumber(kept))


def swap_roles_out_of_order(structure: ArgumentStructure, draft: Draft) -> Draft | None:
    """Move the method preview ahead of the problem statement (or swap the first two)."""
    paragraphs = list(draft.introduction)
    if len(paragraphs) < 2:
        return None
    roles = [p.role for p in paragraphs]
    if "method_preview" in roles and "problem_statement" in roles:
        i, j = roles.index("problem_statement"), roles.index("method_preview")
    else:
        i, j = 0, 1
    paragraphs[i], paragraphs[j] = paragraphs[j], paragraphs[i]
    return Draft(abstract=draft.abstract, introduction=_renumber(paragraphs))


def inflate_number(structure: ArgumentStructure, draft: Draft) -> Draft | None:
    """Turn the first percentage the draft states into a bigger one (x1.5, at most 99)."""

    def inflate(match: re.Match[str]) -> str:
        value = float(match.group(1))
        bigger = min(99.0, round(value * 1.5 + 1, 1))
        return f"{bigger:g}%"

    for unit, text in [("abstract", draft.abstract), *((p.id, p.text) for p in draft.introduction)]:
        if _PERCENT.search(text):
            new = _PERCENT.sub(inflate, text, count=1)
            if unit == "abstract":
                return draft.model_copy(update={"abstract": new})
            return _replace_text(draft, unit, new)
    return None


EDITS = {
    "unsupported_claim": insert_unsupported_claim,
    "no_evidence_preview": drop_evidence_preview,
    "roles_out_of_order": swap_roles_out_of_order,
    "inflated_number": inflate_number,
}


def _paragraph_with_role(draft: Draft, role: str) -> Paragraph | None:
    return next((p for p in draft.introduction if p.role == role), None)


def _replace_text(draft: Draft, paragraph_id: str, text: str) -> Draft:
    paragraphs = [p.model_copy(update={"text": text}) if p.id == paragraph_id else p for p in draft.introduction]
    return Draft(abstract=draft.abstract, introduction=paragraphs)


def _renumber(paragraphs: list[Paragraph]) -> list[Paragraph]:
    return [p.model_copy(update={"id": f"intro_p{i}"}) for i, p in enumerate(paragraphs, start=1)]


# -- putting it together --------------------------------------------------------------------


@dataclass
class BuiltPairs:
    draft_pairs: list[DraftPair]
    rows: list[PairRow]
    dropped_ties: Counter
    threads: list[str]

    def counts(self) -> dict[str, int]:
        counts = Counter(r.source for r in self.rows)
        return {s: counts.get(s, 0) for s in SOURCES}


def build_pairs(
    trajectories: Iterable[Trajectory],
    settings: PairSettings,
    cycle: CycleConfiguration | None = None,
    exclude_structures: set[str] = frozenset(),
) -> BuiltPairs:
    """All pairs from finished trajectories, except those of held-out structures."""
    cycle = cycle or CycleConfiguration()
    by_structure: dict[str, list[list[Candidate]]] = defaultdict(list)
    structures: dict[str, ArgumentStructure] = {}
    threads = []
    for t in trajectories:
        if t.status != "completed" or t.structure_hash in exclude_structures:
            continue
        chain = reviewed_drafts(t, settings.weights)
        if chain:
            by_structure[t.structure_hash].append(chain)
            structures[t.structure_hash] = t.structure
            threads.append(t.thread_id)

    draft_pairs, rows, ties = [], [], Counter()
    seen_rows: set[str] = set()
    for shash in sorted(by_structure):
        structure, samples = structures[shash], by_structure[shash]
        builders = {
            "revision": lambda: revision_pairs(samples),
            "best_vs_worst": lambda: best_vs_worst_pairs(samples),
            "human_anchor": lambda: human_anchor_pairs(structure, samples, cycle, settings.weights),
            "principle_violation": lambda: principle_violation_pairs(structure, samples, cycle, settings.weights),
        }
        for source in settings.sources:
            for chosen, rejected, basis in builders[source]():
                margin = round(chosen.reward.on(basis) - rejected.reward.on(basis), 6)
                if margin < settings.min_margin:
                    ties[source] += 1
                    continue
                pair = _draft_pair(source, shash, chosen, rejected, basis, margin)
                new_rows = [r for r in unit_rows(structure, pair, chosen.draft, rejected.draft) if r.id not in seen_rows]
                if not new_rows:
                    continue
                seen_rows.update(r.id for r in new_rows)
                draft_pairs.append(pair)
                rows.extend(new_rows)
    return BuiltPairs(draft_pairs, rows, ties, threads)


def _draft_pair(source, shash, chosen: Candidate, rejected: Candidate, basis, margin) -> DraftPair:
    key = json.dumps([source, shash, chosen.ref.model_dump(), rejected.ref.model_dump()], sort_keys=True)
    return DraftPair(
        id=hashlib.sha256(key.encode()).hexdigest()[:16], source=source, structure_hash=shash,
        chosen=chosen.ref, rejected=rejected.ref, basis=basis,
        chosen_reward=chosen.reward, rejected_reward=rejected.reward, margin=margin,
    )


def unit_rows(structure: ArgumentStructure, pair: DraftPair, chosen: Draft, rejected: Draft) -> list[PairRow]:
    """One row per unit whose text differs; the prompt is the chosen draft's plan for it."""
    units = [("abstract", "abstract", chosen.abstract, rejected.abstract)]
    for k, paragraph in enumerate(chosen.introduction):
        other = rejected.introduction[k].text if k < len(rejected.introduction) else None
        units.append((f"{paragraph.id}:{paragraph.role}", paragraph.role, paragraph.text, other))
    rows = []
    for unit, role, good, bad in units:
        if not bad or not good or good.strip() == bad.strip():
            continue
        prompt = draft_messages(structure, role)
        body = json.dumps([prompt, good, bad])
        rows.append(PairRow(
            id=hashlib.sha256(body.encode()).hexdigest()[:16],
            prompt=prompt,
            chosen=[{"role": "assistant", "content": good}],
            rejected=[{"role": "assistant", "content": bad}],
            source=pair.source, unit=unit, pair_id=pair.id, structure_hash=pair.structure_hash, margin=pair.margin,
        ))
    return rows

