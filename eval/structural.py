"""The structural check: deterministic, no model, run on every draft.

It answers the questions the reward must not leave to a small model's opinion alone:

- *Commitment closure*: every claim sentence of the abstract and introduction (see
  `paracycle.text.is_claim_sentence`) becomes a CommitmentCheck, matched by
  content-word overlap against the argument structure's claims and evidence.
- *Unsupported claims*: commitments that nothing backs, with a reason naming the specific
  that failed ("number 40% appears in no evidence").
- *Dropped contributions*, *role-order violations* and *length* against the target.

Rules for one claim sentence (the thresholds are module constants):

1. Specifics first. Every result-like number must appear in some evidence finding or
   location, or in the text of a structure claim that has evidence (numbers compare by
   value; see `text.numbers` for what counts as a number - years, references, "(1)" and
   bare single digits do not). Every dataset/benchmark-like name must appear in that same
   backing text (or in the contributions and known names, e.g. the method's own name).
   Guarantee words ("provably", "optimal", "always", "bound") need `theorem` evidence
   among the matched evidence. Any failure makes the sentence `unfulfilled`.
2. Then the match. Match targets are structure claims (text plus their evidence findings),
   evidence findings and setup facts. The score of a target is the share of the sentence's
   content words it contains. If the best target is a claim with no evidence (an open
   commitment), the sentence is `unfulfilled`; if no target reaches WEAK_MATCH it is
   `unfulfilled`.
3. Otherwise coverage is the share of the sentence's content words contained in the union
   of the (at most MAX_MATCHES) backed targets reaching WEAK_MATCH - an abstract
   sentence often summarises two experiments at once. Coverage >= STRONG_MATCH is
   `fulfilled`, below it `partial`.

closure_rate = fulfilled / commitments, None when the draft makes no claims.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from paracycle import text
from paracycle.schemas import (
    ROLES,
    ArgumentStructure,
    Claim,
    CommitmentCheck,
    Draft,
    Evidence,
    LengthCheck,
    RoleOrderViolation,
    StructuralCheck,
    UnsupportedClaim,
)
from paracycle.settings import LengthTargets

# A match target must contain at least this share of a sentence's content words to count as
# a match at all; below it the sentence says something the structure does not.
WEAK_MATCH = 0.25
# Coverage at or above this is a fulfilled commitment; between the two it is partial.
STRONG_MATCH = 0.5
# How many backed targets may jointly cover one sentence.
MAX_MATCHES = 3
# Kinds of setup fact (see MatchTarget.backed).
SETUP_KINDS = frozenset({"method", "contribution"})
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
# What backs a sentence
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchTarget:
    """Something a claim sentence can match: a structure claim, an evidence item, or a
    setup fact the structure states (a method component or a contribution)."""

    kind: str  # "claim", "evidence", "method" or "contribution"
    id: str
    words: frozenset[str]
    evidence_ids: tuple[str, ...]  # for an evidence item, its own id

    @property
    def backed(self) -> bool:
        # What the method is and what the paper contributes are given by the structure's
        # author: restating them keeps a commitment the paper can obviously keep.
        return bool(self.evidence_ids) or self.kind in SETUP_KINDS


@dataclass(frozen=True)
class Backing:
    """Everything the paper can show, prepared once per check."""

    targets: tuple[MatchTarget, ...]
    evidence: dict[str, Evidence]
    known_numbers: frozenset[str]
    known_names_key: str  # passed through text.name_key()

    @classmethod
    def build(
        cls,
        evidence: Sequence[Evidence],
        claims: Sequence[Claim],
        *,
        unbacked_ids: Iterable[str] = (),
        names: Iterable[str] = (),
        setup_facts: Iterable[tuple[str, str, str]] = (),
    ) -> Backing:
        by_id = {e.id: e for e in evidence}
        unbacked = set(unbacked_ids)
        targets: list[MatchTarget] = []
        backing_texts = [f"{e.finding} {e.location}" for e in evidence]
        for claim in claims:
            # Only evidence ids that exist back a claim (check_draft may be called with a
            # list that was never validated as an ArgumentStructure).
            ids = () if claim.id in unbacked else tuple(i for i in claim.evidence if i in by_id)
            findings = " ".join(by_id[i].finding for i in ids)
            targets.append(
                MatchTarget("claim", claim.id, frozenset(text.content_words(f"{claim.text} {findings}")), ids)
            )
            if ids:
                backing_texts.append(claim.text)
        for item in evidence:
            targets.append(
                MatchTarget("evidence", item.id, frozenset(text.content_words(item.finding)), (item.id,))
            )
        for kind, label, fact in setup_facts:
            targets.append(MatchTarget(kind, label, frozenset(text.content_words(fact)), ()))
            backing_texts.append(fact)
        known_numbers = {n for t in backing_texts for n in _all_numbers(t)}
        return cls(
            targets=tuple(targets),
            evidence=by_id,
            known_numbers=frozenset(known_numbers),
            known_names_key=text.name_key(" ".join([*backing_texts, *names])),
        )


def _all_numbers(backing_text: str) -> list[str]:
    """Numbers in backing text, structural ones included: a location "Table 12" or a
    finding "3 of 4 tasks" may be exactly what a sentence cites."""
    loose = re.findall(r"(?<![\w.])(?<![A-Za-z]-)\d[\d,]*(?:\.\d+)?(?![A-Za-z\d])", backing_text)
    return text.numbers(backing_text) + [n.replace(",", "") for n in loose]


# --------------------------------------------------------------------------------------
# One claim sentence
# --------------------------------------------------------------------------------------


def check_commitment(sentence: str, paragraph_id: str, backing: Backing) -> CommitmentCheck:
    """Match one claim sentence against the backing and decide its status."""
    words = text.content_words(sentence)
    scored = sorted(
        ((text.recall(words, c.words), c) for c in backing.targets),
        # Best score first; on a tie prefer backed targets, then structure claims.
        key=lambda pair: (pair[0], pair[1].backed, pair[1].kind == "claim"),
        reverse=True,
    )
    matches = [c for score, c in scored if score >= WEAK_MATCH and c.backed][:MAX_MATCHES]
    best_score, best = scored[0] if scored else (0.0, None)
    matched_claim = best.id if best and best.kind == "claim" and best_score >= WEAK_MATCH else None
    if matched_claim is None:
        matched_claim = next((c.id for c in matches if c.kind == "claim"), None)
    evidence_ids = list(dict.fromkeys(i for c in matches for i in c.evidence_ids))

    problems = _unbacked_specifics(sentence, evidence_ids, backing)
    if best is None or best_score < WEAK_MATCH:
        problems.append(
            f"matches no structure claim or evidence (best overlap {best_score:.2f} < {WEAK_MATCH})"
        )
    elif not best.backed:
        problems.append(f"best match is claim {best.id!r}, an open commitment with no evidence")

    if problems:
        status, reason = "unfulfilled", "; ".join(problems)
    else:
        coverage = text.recall(words, frozenset().union(*(c.words for c in matches)))
        matched = ", ".join(f"{c.kind} {c.id}" for c in matches)
        if coverage >= STRONG_MATCH:
            status, reason = "fulfilled", f"backed by {matched} (coverage {coverage:.2f})"
        else:
            status = "partial"
            reason = f"only weakly matched by {matched} (coverage {coverage:.2f} < {STRONG_MATCH})"
    return CommitmentCheck(
        sentence=sentence,
        paragraph_id=paragraph_id,
        status=status,
        matched_claim=matched_claim,
        evidence_ids=evidence_ids,
        reason=reason,
    )


def _unbacked_specifics(sentence: str, evidence_ids: list[str], backing: Backing) -> list[str]:
    """One reason per number, name or guarantee in the sentence that nothing backs."""
    problems = [
        f"number {n} appears in no evidence"
        for n in text.numbers(sentence)
        if not text.number_is_backed(n, backing.known_numbers)  # a frozenset: no copy per number
    ]
    problems += [
        f"name {name} appears in no evidence"
        for name in text.named_entities(sentence)
        if not text.name_is_backed(name, backing.known_names_key)
    ]
    terms = text.guarantee_terms(sentence)
    if terms and not any(backing.evidence[i].kind == "theorem" for i in evidence_ids):
        problems.append(f"guarantee term {terms[0]!r} is backed by no theorem evidence")
    return problems


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
) -> StructuralCheck:
    """Run every structural rule on a draft.

    `open_commitments` are structure claim ids that cite no evidence (reported as is and
    treated as unbacked); `known_names` are names a sentence may use without the evidence
    spelling them (the paper's title, its method components); `setup_facts` are
    (kind, label, text) facts the structure states about the work itself, "method" or
    "contribution": their numbers and names count as backed ("60 colonies over 14 months")
    and a sentence that restates one matches it.
    """
    open_ids = list(open_commitments)
    backing = Backing.build(
        evidence, claims, unbacked_ids=open_ids, names=[*contributions, *known_names], setup_facts=setup_facts
    )
    commitments = [
        check_commitment(sentence, paragraph_id, backing)
        for paragraph_id, passage in _passages(draft)
        for sentence in text.claim_sentences(passage)
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


def check_structure_draft(
    structure: ArgumentStructure, draft: Draft, lengths: LengthTargets | None = None
) -> StructuralCheck:
    """check_draft with the structure's evidence, claims, contributions and open commitments."""
    return check_draft(
        draft,
        evidence=structure.evidence,
        claims=structure.claims,
        contributions=structure.contributions,
        open_commitments=open_commitments(structure),
        known_names=[structure.title, *(m.name for m in structure.method)],
        setup_facts=[
            *(("method", m.name, f"{m.name} {m.description} {m.rationale}") for m in structure.method),
            *(("contribution", f"contribution {i}", c) for i, c in enumerate(structure.contributions, 1)),
        ],
        lengths=lengths,
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
