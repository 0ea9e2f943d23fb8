"""What the gate measures, as types: stored in every round manifest, read by the report and
`paracycle rounds list`. Defined here, below training and eval, because the registry (which
the config layer reads) stores them."""

from __future__ import annotations

from typing import Literal

from paracycle.schemas import Strict

Outcome = Literal["candidate", "current", "tie"]


class Judgement(Strict):
    """One held-out comparison, asked in both orders (see `paracycle.eval.judge`)."""

    structure_hash: str
    sample: int
    candidate_first: str  # the verdict with the candidate as draft A ("A", "B", "tie" or "failed")
    candidate_second: str  # the verdict with the candidate as draft B
    outcome: Outcome


class WriterMetrics(Strict):
    """Means over one writer's held-out drafts, from the deterministic structural check."""

    reward: float
    closure: float | None  # None: no draft made a checkable claim
    unsupported: float
    role_order: float
    words: float
    drafts: int


class GateMetrics(Strict):
    win_rate: float  # (wins + ties / 2) / comparisons
    wins: int
    losses: int
    ties: int
    length_drift: float  # candidate words / current words - 1
    candidate: WriterMetrics
    current: WriterMetrics
    judgements: list[Judgement]
