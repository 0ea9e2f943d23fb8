"""What the gate measures, as types: stored in every round manifest, read by the report and
`paracycle rounds list`. Defined here, below training and eval, because the registry (which
the config layer reads) stores them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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


class Interval(Strict):
    """A mean (or rate) with its 95% interval over `n` paired items (None: too few to say)."""

    mean: float
    low: float | None
    high: float | None
    n: int


class MetricComparison(Strict):
    """One metric, candidate against current, over the same (structure, seed) items."""

    metric: str  # "reward", "closure", "unsupported", "words"
    higher_is_better: bool
    candidate: float  # means over the paired items
    current: float
    diff: Interval  # candidate - current, paired bootstrap
    needed: int | None = None  # paired items for the interval to clear the threshold, at this spread


class WinRate(Strict):
    rate: float  # (wins + ties / 2) / comparisons
    low: float  # Wilson 95%
    high: float
    wins: int
    losses: int
    ties: int


class GateCheck(Strict):
    """One rule of the decision: pass, fail (the evidence says no) or unsure (too little evidence)."""

    name: str
    outcome: Literal["pass", "fail", "unsure"]
    text: str


Decision = Literal["promoted", "rejected", "inconclusive"]


class GateMetrics(Strict):
    candidate: WriterMetrics
    current: WriterMetrics
    items: int = 0  # paired (structure, seed) items
    comparisons: list[MetricComparison] = Field(default_factory=list)
    length_drift: float  # candidate words / current words - 1
    length_drift_interval: Interval | None = None
    judge: WinRate | None = None  # None: the gate ran without the model judge
    judgements: list[Judgement] = Field(default_factory=list)
    checks: list[GateCheck] = Field(default_factory=list)
    decision: Decision | None = None
    needed: int | None = None  # inconclusive: paired items the reward comparison would need
    # Manifests written before the intervals (one sample, a bare win rate) still load.
    win_rate: float | None = None
    wins: int = 0
    losses: int = 0
    ties: int = 0

    def comparison(self, metric: str) -> MetricComparison | None:
        return next((c for c in self.comparisons if c.metric == metric), None)
