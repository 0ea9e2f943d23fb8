"""The structural check: deterministic, no model, run on every draft.

It answers the questions the reward must not leave to a small model's opinion alone:

- *Commitment closure*: every sentence of the abstract and introduction is taken apart into
  what it asserts (numbers, multiplier words, names, compared systems, scope, guarantees,
  causes, restated open claims) and each part is checked against the structure
  (`paracycle.eval.commitments`, over the facts of `paracycle.eval.backing`). A sentence
  that asserts nothing checkable and has no claim wording is not a commitment.
- *Unsupported claims*: commitments with a part nothing backs, with a reason naming what
  failed and what the structure says instead ("no evidence states 57% (E2 says 37%)").
- *Dropped contributions*, *role-order violations* and *length* against the target.

closure_rate = fulfilled / commitments, None when the draft makes no claims.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from paracycle import text
from paracycle.eval.backing import Backing
from paracycle.eval.commitments import check_sentence
from paracycle.schemas import (
    ROLES,
    ArgumentStructure,
    Claim,
    Draft,
    Evidence,
    LengthCheck,
    RoleOrderViolation,
    StructuralCheck,
    UnsupportedClaim,
)
from paracycle.settings import LengthTargets

# A contribution is kept when one sentence of the abstract or introduction contains at
# least this share of its content words; a paraphrase keeps about half of them.
CONTRIBUTION_RECALL = 0.5


# --------------------------------------------------------------------------------------
# Open commitments
# --------------------------------------------------------------------------------------


def open_commitments(structure: ArgumentStructure) -> list[str]:
    """Ids of the structure's claims that cite no evidence id the structure has."""
    known = {e.id for e in structure.evidence}
    # By id: claims that share one (possible only unvalidated) stand or fall together.
    backed = {c.id for c in structure.claims if known.intersection(c.evidence)}
    return [claim.id for claim in structure.claims if claim.id not in backed]


# --------------------------------------------------------------------------------------
# The whole draft
# --------------------------------------------------------------------------------------


def check_draft(
    draft: Draft,
    *,
    evidence: Sequence[Evidence],
    claims: Sequence[Claim],
    contributions: Sequence[str],
    lengths: LengthTargets | None = None,
    open_commitments: Iterable[str] = (),
    known_names: Iterable[str] = (),
    setup_facts: Iterable[tuple[str, str, str]] = (),
    background: Iterable[tuple[str, str]] = (),
) -> StructuralCheck:
    """Run every structural rule on a draft.

    `open_commitments` are structure claim ids that cite no evidence (reported as is and
    treated as unbacked); `known_names` are names a sentence may use anywhere (the paper's
    own system, its method components); `setup_facts` are (kind, label, text) facts the
    structure states about the work itself ("method", "rationale" or "contribution");
    `background` are (field, text) statements of context ("problem", "motivation", ...):
    they back a sentence that states them, not a result.
    """
    open_ids = list(open_commitments)
    backing = Backing.build(
        evidence, claims, unbacked_ids=open_ids, names=list(known_names),
        setup_facts=[*setup_facts, *(("contribution", f"contribution {i}", c) for i, c in enumerate(contributions, 1))],
        background=background,
    )
    return _check(draft, backing, contributions, open_ids, lengths)


def check_structure_draft(
    structure: ArgumentStructure, draft: Draft, lengths: LengthTargets | None = None
) -> StructuralCheck:
    """The structural check of a draft against everything its argument structure states."""
    backing = Backing.from_structure(structure)
    return _check(draft, backing, structure.contributions, open_commitments(structure), lengths)


def _check(
    draft: Draft, backing: Backing, contributions: Sequence[str], open_ids: list[str], lengths: LengthTargets | None
) -> StructuralCheck:
    commitments = [
        check
        for paragraph_id, passage in _passages(draft)
        for sentence in text.split_sentences(passage)
        if (check := check_sentence(sentence, paragraph_id, backing)) is not None
    ]
    fulfilled = sum(c.status == "fulfilled" for c in commitments)
    return StructuralCheck(
        open_commitments=open_ids,
        commitments=commitments,
        closure_rate=fulfilled / len(commitments) if commitments else None,
        unsupported_claims=[
            UnsupportedClaim(sentence=c.sentence, paragraph_id=c.paragraph_id, reason=c.reason)
            for c in commitments
            if c.status == "unfulfilled"
        ],
        dropped_contributions=dropped_contributions(draft, contributions),
        role_order_violations=role_order_violations(draft),
        length=length_check(draft, lengths or LengthTargets()),
    )


def _passages(draft: Draft) -> list[tuple[str, str]]:
    """(paragraph_id, text) for the abstract and each introduction paragraph."""
    return [("abstract", draft.abstract)] + [(p.id, p.text) for p in draft.introduction]


def dropped_contributions(draft: Draft, contributions: Sequence[str]) -> list[str]:
    """Contributions no single sentence of the abstract or introduction mostly covers."""
    sentence_words = [
        text.content_words(s) for _, passage in _passages(draft) for s in text.split_sentences(passage)
    ]
    dropped = []
    for contribution in contributions:
        words = text.content_words(contribution)
        best = max((text.recall(words, s) for s in sentence_words), default=0.0)
        if words and best < CONTRIBUTION_RECALL:
            dropped.append(contribution)
    return dropped


def role_order_violations(draft: Draft) -> list[RoleOrderViolation]:
    """Paragraphs whose role comes before the furthest role already reached.

    Skipping roles and repeating one (a merged or two-paragraph role) are fine; going
    backwards is a flow weakness. `after_role` is the furthest role reached before the
    paragraph, which is what makes it a step back (not merely the previous paragraph's).
    """
    violations: list[RoleOrderViolation] = []
    furthest: str | None = None
    for paragraph in draft.introduction:
        if furthest is not None and ROLES.index(paragraph.role) < ROLES.index(furthest):
            violations.append(
                RoleOrderViolation(paragraph_id=paragraph.id, role=paragraph.role, after_role=furthest)
            )
        elif furthest is None or ROLES.index(paragraph.role) > ROLES.index(furthest):
            furthest = paragraph.role
    return violations


def word_count(passage: str) -> int:
    """Whitespace-separated tokens that contain a letter or digit (not stray punctuation)."""
    return sum(1 for token in passage.split() if any(c.isalnum() for c in token))


def length_check(draft: Draft, lengths: LengthTargets) -> LengthCheck:
    """Word counts and their ratios to the targets; within_target = both in [1-tol, 1+tol]."""
    target_abstract_words, target_introduction_words = lengths.abstract_words, lengths.introduction_words
    abstract_words = word_count(draft.abstract)
    introduction_words = sum(word_count(p.text) for p in draft.introduction)
    abstract_ratio = abstract_words / target_abstract_words
    introduction_ratio = introduction_words / target_introduction_words
    low, high = 1 - lengths.tolerance, 1 + lengths.tolerance
    return LengthCheck(
        abstract_words=abstract_words,
        introduction_words=introduction_words,
        target_abstract_words=target_abstract_words,
        target_introduction_words=target_introduction_words,
        abstract_ratio=round(abstract_ratio, 3),
        introduction_ratio=round(introduction_ratio, 3),
        within_target=low <= abstract_ratio <= high and low <= introduction_ratio <= high,
    )
