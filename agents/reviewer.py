"""The reviewer: a Review of a draft, constrained to the JSON schema while it generates.

The schema is narrowed per draft (`grounded_review_schema`): paragraph and evidence ids can
only be ids that exist, and every paragraph gets exactly one role assessment. Output that
still fails validation (a truncated generation, a score out of range) is retried with a new
seed; when every attempt fails the failure is returned as data, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass

from paracycle.agents import reviewer_prompts as P
from paracycle.agents.common import messages, schema_attempts
from paracycle.engines.base import Engine, TokenCallback
from paracycle.schemas import (
    Claim,
    Draft,
    Evidence,
    Generation,
    Review,
    StructuralCheck,
    grounded_review_schema,
)
from paracycle.settings import ReviewerSettings


@dataclass
class ReviewOutcome:
    review: Review | None
    error: str | None
    generations: list[Generation]


class Reviewer:
    def __init__(self, engine: Engine, settings: ReviewerSettings | None = None):
        self.engine = engine
        self.settings = settings or ReviewerSettings()

    def review(
        self,
        title: str,
        draft: Draft,
        evidence: list[Evidence],
        claims: list[Claim],
        check: StructuralCheck | None = None,
        on_tokens: TokenCallback | None = None,
    ) -> ReviewOutcome:
        schema = grounded_review_schema([p.id for p in draft.introduction], [e.id for e in evidence])
        notes = check if self.settings.show_checker_notes else None
        prompt = messages(P.SYSTEM, review_prompt(title, draft, evidence, claims, notes))
        generations: list[Generation] = []
        error = None
        for attempt, result in schema_attempts(
            self.engine, "reviewer", "review", prompt, self.settings.sampling, schema,
            self.settings.max_attempts, generations, on_tokens,
        ):
            if result.parsed is not None:
                return ReviewOutcome(Review.model_validate(result.parsed.model_dump()), None, generations)
            error = f"attempt {attempt}: {result.parse_error}"
        return ReviewOutcome(None, f"no schema-valid review after {self.settings.max_attempts} attempts ({error})", generations)


def review_prompt(
    title: str, draft: Draft, evidence: list[Evidence], claims: list[Claim], check: StructuralCheck | None = None
) -> str:
    evidence_lines = "\n".join(
        P.EVIDENCE_LINE.format(id=e.id, kind=e.kind, location=e.location, finding=e.finding) for e in evidence
    )
    claim_lines = "\n".join(
        P.CLAIM_LINE.format(id=c.id, text=c.text, evidence=", ".join(c.evidence) or "no evidence yet")
        for c in claims
    )
    paragraphs = "\n\n".join(
        P.PARAGRAPH_LINE.format(id=p.id, role=p.role, text=p.text) for p in draft.introduction
    )
    prompt = P.REVIEW.format(
        title=title,
        evidence=evidence_lines or P.NO_EVIDENCE,
        claims=claim_lines or P.NO_CLAIMS,
        abstract=draft.abstract,
        paragraphs=paragraphs,
    )
    return prompt + checker_notes(check) if check is not None else prompt


def checker_notes(check: StructuralCheck) -> str:
    notes = [
        P.UNSUPPORTED_NOTE.format(paragraph_id=u.paragraph_id, sentence=u.sentence, reason=u.reason)
        for u in check.unsupported_claims
    ]
    notes += [P.DROPPED_NOTE.format(contribution=c) for c in check.dropped_contributions]
    notes += [
        P.ORDER_NOTE.format(paragraph_id=v.paragraph_id, role=v.role, after_role=v.after_role)
        for v in check.role_order_violations
    ]
    return P.CHECKER_NOTES.format(notes="\n".join(notes) if notes else P.NO_CHECKER_NOTES)
