"""One number per draft, and every part of it kept so a preference can be explained later.

The reward adds the reviewer's scores to the deterministic structural check:

    total = w_review * review + w_closure * closure
            - w_unsupported * unsupported - w_dropped * dropped - w_role_order * role_order
            - w_missing_roles * missing_roles - w_length * length_deviation

`structural` is the same sum without the review term. Drafts nobody reviewed (a human anchor,
a draft edited to break a principle) are compared with each other on `structural` only, so a
missing review never counts for or against a draft.
"""

from __future__ import annotations

import math

from pydantic import Field

from paracycle.agents.writer import planned_roles
from paracycle.schemas import ArgumentStructure, Draft, Review, Strict, StructuralCheck


class RewardWeights(Strict):
    review: float = Field(default=1.0, ge=0, description="mean reviewer score, scaled to 0.1..1")
    closure: float = Field(default=1.0, ge=0, description="structural closure rate (0.5 when the draft commits to nothing)")
    unsupported: float = Field(default=0.25, ge=0, description="per unsupported claim")
    dropped: float = Field(default=0.25, ge=0, description="per dropped contribution")
    role_order: float = Field(default=0.25, ge=0, description="per paragraph that goes back in role order")
    missing_roles: float = Field(default=0.25, ge=0, description="per planned role with no paragraph")
    length: float = Field(default=0.25, ge=0, description="per unit of |log(words / target)|, averaged")


class Reward(Strict):
    total: float
    structural: float
    components: dict[str, float | None] = Field(description="raw values, before weights")
    weighted: dict[str, float] = Field(description="signed contribution of each component to total")

    def on(self, basis: str) -> float:
        return self.total if basis == "total" else self.structural


NO_COMMITMENTS_CLOSURE = 0.5  # a draft that claims nothing is neither closed nor open


def score_draft(
    structure: ArgumentStructure,
    draft: Draft,
    check: StructuralCheck,
    review: Review | None,
    weights: RewardWeights,
) -> Reward:
    present = {p.role for p in draft.introduction}
    components: dict[str, float | None] = {
        "review": _review_score(review),
        "closure": check.closure_rate,
        "unsupported": float(len(check.unsupported_claims)),
        "dropped": float(len(check.dropped_contributions)),
        "role_order": float(len(check.role_order_violations)),
        "missing_roles": float(sum(r not in present for r in planned_roles(structure))),
        "length": _length_deviation(check),
    }
    closure = components["closure"] if components["closure"] is not None else NO_COMMITMENTS_CLOSURE
    weighted = {
        "closure": weights.closure * closure,
        "unsupported": -weights.unsupported * components["unsupported"],
        "dropped": -weights.dropped * components["dropped"],
        "role_order": -weights.role_order * components["role_order"],
        "missing_roles": -weights.missing_roles * components["missing_roles"],
        "length": -weights.length * components["length"],
    }
    structural = sum(weighted.values())
    review_term = weights.review * components["review"] if components["review"] is not None else 0.0
    weighted["review"] = review_term
    return Reward(
        total=round(structural + review_term, 6),
        structural=round(structural, 6),
        components=components,
        weighted={k: round(v, 6) for k, v in weighted.items()},
    )


def _review_score(review: Review | None) -> float | None:
    if review is None:
        return None
    s = review.scores
    return (s.closure + s.flow + s.clarity + s.significance + s.overall) / 50.0


def _length_deviation(check: StructuralCheck) -> float:
    # log ratio: twice too long and half as long are equally far from the target.
    ratios = (check.length.abstract_ratio, check.length.introduction_ratio)
    return sum(abs(math.log(max(r, 0.05))) for r in ratios) / len(ratios)
