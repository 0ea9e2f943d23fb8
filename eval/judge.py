"""Pairwise judgement of two writers' drafts by the reviewer model, position bias removed.

Every comparison is asked twice, with the drafts in both orders. A writer wins a comparison
only when the judge prefers it in both orders; a judge that always answers "A" (small models
often do) therefore produces ties, not a winner.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from paracycle.agents.common import messages
from paracycle.engines.base import ChatRequest, Engine
from paracycle.eval import judge_prompts as P
from paracycle.metrics import Judgement
from paracycle.schemas import ArgumentStructure, Draft, SamplingParams, Strict


class Verdict(Strict):
    reason: str = Field(max_length=160)  # before the answer: the model reasons first
    better: Literal["A", "B", "tie"]


def render(draft: Draft) -> str:
    return "\n\n".join([f"Abstract: {draft.abstract}", *(p.text for p in draft.introduction)])


def compare_request(structure: ArgumentStructure, a: Draft, b: Draft, sampling: SamplingParams) -> ChatRequest:
    evidence = "\n".join(f"- {e.location}: {e.finding}" for e in structure.evidence) or "- (none)"
    user = P.COMPARE.format(title=structure.title, evidence=evidence, draft_a=render(a), draft_b=render(b))
    return ChatRequest(messages(P.SYSTEM, user), sampling, schema=Verdict)


def judge_pairs(
    engine: Engine,
    items: list[tuple[ArgumentStructure, int, Draft, Draft]],
    sampling: SamplingParams | None = None,
) -> list[Judgement]:
    """items: (structure, sample index, candidate draft, current draft); one batch for all."""
    sampling = sampling or SamplingParams(temperature=0.0, max_new_tokens=96)
    requests = []
    for structure, _, candidate, current in items:
        requests.append(compare_request(structure, candidate, current, sampling))
        requests.append(compare_request(structure, current, candidate, sampling))
    results = engine.generate(requests)
    judgements = []
    for i, (structure, sample, _, _) in enumerate(items):
        first, second = (_answer(r) for r in results[2 * i : 2 * i + 2])
        if first == "A" and second == "B":
            outcome = "candidate"
        elif first == "B" and second == "A":
            outcome = "current"
        else:
            outcome = "tie"
        judgements.append(Judgement(
            structure_hash=structure.content_hash(), sample=sample,
            candidate_first=first, candidate_second=second, outcome=outcome,
        ))
    return judgements


def _answer(result) -> str:
    return result.parsed.better if result.parse_status == "ok" and result.parsed is not None else "failed"


def win_rate(judgements: list[Judgement]) -> float:
    """Wins count 1, ties 1/2: 0.5 means no measurable difference."""
    if not judgements:
        return 0.5
    score = sum(1.0 if j.outcome == "candidate" else 0.5 if j.outcome == "tie" else 0.0 for j in judgements)
    return score / len(judgements)
