"""The reviewer: a Review of a draft, constrained to the JSON schema while it generates.

The schema is narrowed per draft (`grounded_review_schema`): paragraph and evidence ids can
only be ids that exist, and every paragraph gets exactly one role assessment. Output that
still fails validation (a truncated generation, a score out of range) is retried with a new
seed; when every attempt fails the failure is returned as data, never raised.

A second opinion (`Reviewer.second_opinion`, when `second_opinion` is on) asks the model about
the structural check's borderline commitments, one constrained yes/partial/no entailment
question each, and records its verdict beside the deterministic one, which stays the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from paracycle.agents import reviewer_prompts as P
from paracycle.agents.common import messages, model_name, schema_attempts
from paracycle.engines.base import Engine, EngineError, EngineUnavailable, TokenCallback
from paracycle.schemas import (
    Claim,
    CommitmentCheck,
    Draft,
    Entailment,
    Evidence,
    Generation,
    Review,
    SecondOpinion,
    StructuralCheck,
    grounded_review_schema,
)
from paracycle.settings import ReviewerSettings


@dataclass
class ReviewOutcome:
    review: Review | None
    error: str | None
    generations: list[Generation]


@dataclass
class SecondOpinionOutcome:
    check: StructuralCheck  # a copy: borderline commitments carry a second_opinion, nothing else changed
    generations: list[Generation]  # every question's attempts, failed ones included


@dataclass
class EntailmentQuestion:
    index: int  # of the commitment in StructuralCheck.commitments
    commitment: CommitmentCheck
    evidence: list[Evidence]  # what the model is shown
    claim: Claim | None = None  # the claim the sentence restates, when it names no evidence itself


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

    def second_opinion(
        self,
        check: StructuralCheck,
        evidence: list[Evidence],
        claims: list[Claim],
        on_tokens: TokenCallback | None = None,
    ) -> SecondOpinionOutcome:
        """The check, copied, with the model's verdict on each borderline commitment recorded
        in its `second_opinion`. Status, reason and closure rate stay the deterministic check's:
        a model's opinion is shown beside them, never silently put in their place."""
        out = check.model_copy(deep=True)
        generations: list[Generation] = []
        for question in borderline_questions(check, evidence, claims, self.settings):
            out.commitments[question.index].second_opinion = self._ask(question, generations, on_tokens)
        return SecondOpinionOutcome(out, generations)

    def _ask(
        self, question: EntailmentQuestion, generations: list[Generation], on_tokens: TokenCallback | None
    ) -> SecondOpinion:
        """One question; a failure (invalid answers, a prompt that does not fit) is this
        question's recorded error, and the other questions still run."""
        opinion = SecondOpinion(model=model_name(self.engine), evidence_ids=[e.id for e in question.evidence])
        prompt = messages(P.ENTAILMENT_SYSTEM, entailment_prompt(question))
        attempts = self.settings.max_attempts
        error = None
        try:
            for attempt, result in schema_attempts(
                self.engine, "reviewer", f"second_opinion:{question.index}", prompt,
                self.settings.second_opinion_sampling, Entailment, attempts, generations, on_tokens,
            ):
                if result.parsed is not None:
                    return opinion.model_copy(update={"verdict": result.parsed.verdict, "reason": result.parsed.reason})
                error = f"attempt {attempt}: {result.parse_error}"
        except EngineUnavailable:
            raise  # the server is down, not this question's fault: the caller waits and reruns
        except EngineError as err:
            return opinion.model_copy(update={"error": f"{type(err).__name__}: {err}"})
        return opinion.model_copy(update={"error": f"no schema-valid answer after {attempts} attempts ({error})"})


def borderline_questions(
    check: StructuralCheck, evidence: list[Evidence], claims: list[Claim], settings: ReviewerSettings
) -> list[EntailmentQuestion]:
    """The commitments worth a second opinion, least confident first (partial before the
    others at equal confidence), at most `second_opinion_max`. Borderline: "partial", or a
    confidence below `second_opinion_below`. One with no evidence to show is left out: nothing
    could entail it, and a question about it would only spend a generation."""
    by_id = {e.id: e for e in evidence}
    claims_by_id = {c.id: c for c in claims}
    questions = [
        entailment_question(i, c, by_id, claims_by_id)
        for i, c in enumerate(check.commitments)
        if c.status == "partial" or c.confidence < settings.second_opinion_below
    ]
    questions = [q for q in questions if q.evidence]
    questions.sort(key=lambda q: (q.commitment.confidence, q.commitment.status != "partial"))
    return questions[: settings.second_opinion_max]


def entailment_question(
    index: int, commitment: CommitmentCheck, evidence: dict[str, Evidence], claims: dict[str, Claim]
) -> EntailmentQuestion:
    """What the model is shown: the evidence the sentence is matched to, or, when it names
    none, the claim it restates and that claim's evidence."""
    named = [evidence[i] for i in commitment.evidence_ids if i in evidence]
    if named:
        return EntailmentQuestion(index, commitment, named)
    claim = claims.get(commitment.matched_claim or "")
    behind = [evidence[i] for i in claim.evidence if i in evidence] if claim else []
    return EntailmentQuestion(index, commitment, behind, claim)


def entailment_prompt(question: EntailmentQuestion) -> str:
    claim = question.claim
    return P.ENTAILMENT.format(
        paragraph_id=question.commitment.paragraph_id,
        sentence=question.commitment.sentence,
        claim=P.MATCHED_CLAIM.format(id=claim.id, text=claim.text) if claim else "",
        source=P.CLAIM_SOURCE if claim else P.NAMED_SOURCE,
        evidence="\n".join(evidence_line(e) for e in question.evidence),
    )


def evidence_line(e: Evidence) -> str:
    return P.EVIDENCE_LINE.format(id=e.id, kind=e.kind, location=e.location, finding=e.finding)


def review_prompt(
    title: str, draft: Draft, evidence: list[Evidence], claims: list[Claim], check: StructuralCheck | None = None
) -> str:
    evidence_lines = "\n".join(evidence_line(e) for e in evidence)
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
