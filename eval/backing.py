"""What the paper can show: every statement of the argument structure as a Fact, prepared
once per check.

Every field counts as backing for what it states, but not in the same way. Evidence
findings and the claims that cite evidence are *results*; the method, the contributions,
the title and the limitations are *setup* (what the work is, given by its author); the
problem, motivation, gap and insight are *background* (true, but not this paper's
findings); a claim that cites no evidence is *open*: restating it is an open commitment.
A number from the problem backs a sentence about the problem; a system named only in the
gap is not a baseline the paper compared against.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from paracycle import assertions as A
from paracycle import quantities as Q
from paracycle import text
from paracycle.schemas import ArgumentStructure, Claim, Evidence

RESULT, SETUP, BACKGROUND, OPEN = "result", "setup", "background", "open"

# Words that quantify over a set, in the structure: "each" and "all" back "every" and "any".
# A word in this share of the findings or more is the paper's topic ("beaver", "reach"):
# sharing it ties a sentence to no finding in particular.
TOPIC_SHARE = 0.4
_SCOPE_WORDS = frozenset({"all", "every", "each", "any", "always", "whatever", "regardless", "entire", "whole"})
_NEGATION_WORDS = frozenset({"never", "no", "not", "none", "without", "cannot", "nor"})
_GUARANTEE_WORDS = re.compile(r"^(prov\w*|proofs?|guarantee\w*|theorems?|bound\w*|optimal\w*|always|never|sound)$")


@dataclass(frozen=True)
class Fact:
    source: str  # "E1", "C2", "method", "contribution 1", "problem", ...
    role: str  # RESULT, SETUP, BACKGROUND or OPEN
    kind: str  # the evidence kind ("theorem", ...) or the field's name
    text: str
    words: frozenset[str]
    quantities: tuple[Q.Quantity, ...]
    ratios: tuple[Q.Ratio, ...]
    multipliers: tuple[Q.Multiplier, ...]
    toks: tuple[A.Token, ...]
    names_key: str
    causal: bool  # states a mechanism (a causal connective, or a field that exists for one)
    correlational: bool
    cue_words: dict[str, frozenset[str]] = field(default_factory=dict)  # family -> words near such cues

    @property
    def is_evidence(self) -> bool:
        return self.role == RESULT and self.kind != "claim"


def make_fact(source: str, role: str, kind: str, statement: str) -> Fact:
    toks = A.tokens(statement)
    qs = Q.quantities(statement, carry_units=True)
    ratios = Q.ratio_spans(qs, statement)
    qs += Q.derived(qs, statement) + Q.complements(qs, statement)
    multipliers = Q.multipliers(statement)
    ratios += [Q.Ratio((m.low + m.high) / 2, m.start, m.end) for m in multipliers if m.high != float("inf")]
    return Fact(
        source=source,
        role=role,
        kind=kind,
        text=statement,
        words=frozenset(text.content_words(statement)),
        quantities=tuple(qs),
        ratios=tuple(r for r in ratios if r.value > 0),
        multipliers=tuple(multipliers),
        toks=tuple(toks),
        # Hyphens both dropped and split: "Unicorn-based" names Unicorn, "CIFAR-10" cifar10.
        names_key=f"{text.name_key(statement)} {statement.lower().replace('-', ' ')}",
        causal=kind in {"insight", "rationale"} or bool(A.FACT_CAUSAL.search(statement)),
        correlational=bool(A.CORRELATION.search(statement)),
        cue_words=_cue_words(toks),
    )


def _cue_words(toks: list[A.Token]) -> dict[str, frozenset[str]]:
    """For each cue family, the content words near the fact's cue words of that family: the
    fact backs a sentence's "every household" when it says "each household" or "every
    household" itself."""
    found: dict[str, set[str]] = {}
    for i, tok in enumerate(toks):
        family = (
            "all" if tok.word in _SCOPE_WORDS else
            "never" if tok.word in _NEGATION_WORDS else
            "guarantee" if _GUARANTEE_WORDS.match(tok.word) else
            None
        )
        if family == "all":
            # What a quantifier ranges over follows it: "each household", "every join key".
            found.setdefault(family, set()).update(A.words_after(list(toks), i, 3))
        elif family:
            found.setdefault(family, set()).update(A.words_around(list(toks), i, 4))
    return {k: frozenset(v) for k, v in found.items()}


@dataclass(frozen=True)
class Backing:
    facts: tuple[Fact, ...]
    evidence: dict[str, Evidence]
    system_names: frozenset[str]  # name keys of the work itself: a sentence may name it anywhere
    open_claims: tuple[tuple[Claim, frozenset[str], frozenset[str]], ...]  # claim, words, distinctive words
    backed_claims: tuple[tuple[Claim, frozenset[str]], ...]
    names_key: str  # every fact, through text.name_key: a name any field states is known
    results_names_key: str  # the results' only: a sentence naming one of these is about the work
    index: QuantityIndex  # every fact's numbers, by value
    topic_words: frozenset[str]  # words in at least TOPIC_SHARE of the findings
    claim_subjects: frozenset[str]  # the first words of the claims: what the work is called

    @classmethod
    def build(
        cls,
        evidence: Sequence[Evidence],
        claims: Sequence[Claim],
        *,
        unbacked_ids: Iterable[str] = (),
        names: Iterable[str] = (),
        setup_facts: Iterable[tuple[str, str, str]] = (),
        background: Iterable[tuple[str, str]] = (),
    ) -> Backing:
        by_id = {e.id: e for e in evidence}
        unbacked = set(unbacked_ids)
        facts = [make_fact(e.id, RESULT, e.kind, e.finding) for e in evidence]
        open_claims, backed_claims = [], []
        for claim in claims:
            ids = () if claim.id in unbacked else tuple(i for i in claim.evidence if i in by_id)
            words = frozenset(text.content_words(claim.text))
            if ids:
                facts.append(make_fact(claim.id, RESULT, "claim", claim.text))
                backed_claims.append((claim, words))
            else:
                open_claims.append(claim)
        for kind, label, statement in setup_facts:
            facts.append(make_fact(label, SETUP, kind, statement))
        for name in names:
            facts.append(make_fact("name", SETUP, "name", name))
        for label, statement in background:
            role = SETUP if label.startswith(("limitation", "title")) else BACKGROUND
            facts.append(make_fact(label, role, label.split()[0], statement))
        shown = frozenset().union(*(f.words for f in facts if f.role in (RESULT, SETUP)))
        opened = tuple((c, words, words - shown) for c in open_claims for words in [frozenset(text.content_words(c.text))])
        return cls(
            facts=tuple(facts),
            evidence=by_id,
            system_names=frozenset(text.name_key(n) for n in names),
            open_claims=opened,
            backed_claims=tuple(backed_claims),
            names_key=" | ".join(f.names_key for f in facts),
            results_names_key=" | ".join(f.names_key for f in facts if f.role == RESULT),
            index=QuantityIndex(facts),
            topic_words=_topic_words([f for f in facts if f.is_evidence]),
            claim_subjects=frozenset(
                w for c in claims for w in list(text.content_words(" ".join(c.text.split()[:3])))
            ),
        )

    @classmethod
    def from_structure(cls, structure: ArgumentStructure) -> Backing:
        known = {e.id for e in structure.evidence}
        open_ids = [c.id for c in structure.claims if not known.intersection(c.evidence)]
        return cls.build(
            structure.evidence,
            structure.claims,
            unbacked_ids=open_ids,
            names=[structure.title.split(":")[0], *(m.name for m in structure.method)],
            setup_facts=[
                *(("method", m.name, f"{m.name}: {m.description}") for m in structure.method),
                *(("rationale", m.name, m.rationale) for m in structure.method),
                *(("contribution", f"contribution {i}", c) for i, c in enumerate(structure.contributions, 1)),
            ],
            background=[
                ("title", structure.title),
                ("problem", structure.problem),
                ("motivation", structure.motivation),
                ("gap", structure.gap),
                ("insight", structure.insight),
                *((f"limitation {i}", x) for i, x in enumerate(structure.limitations, 1)),
            ],
        )


def _topic_words(evidence: list[Fact]) -> frozenset[str]:
    if not evidence:
        return frozenset()
    counts: dict[str, int] = {}
    for fact in evidence:
        for word in fact.words:
            counts[word] = counts.get(word, 0) + 1
    return frozenset(w for w, n in counts.items() if n >= max(2, TOPIC_SHARE * len(evidence)))


class QuantityIndex:
    """Every number of every fact, sorted by value per dimension, so that a claimed number is
    compared only with those near it: a paper may state thousands of numbers, and comparing
    each with each is quadratic (see tests/test_text_complexity.py)."""

    # How far from a claimed value a backing value may lie and still back it, as a share of
    # the claim (wider than any hedge or rounding `Q.backs` accepts; `backs` decides).
    MARGIN = 0.25

    def __init__(self, facts: Sequence[Fact]):
        by_dim: dict[str, list[tuple[float, int, Q.Quantity]]] = {}
        written: list[tuple[float, int, Q.Quantity]] = []
        ratios: list[tuple[float, int]] = []
        seen: set[tuple] = set()
        for i, fact in enumerate(facts):
            if fact.role == OPEN:
                continue
            for q in fact.quantities:
                # One entry per value and kind per fact: a fact repeating a number says it once.
                key = (i, q.dim, q.value, q.precision, q.bound, q.derived, q.share)
                if key in seen:
                    continue
                seen.add(key)
                by_dim.setdefault(q.dim, []).append((q.value, i, q))
                if q.dim != Q.PERCENT:
                    written.append((q.as_written, i, q))
            ratios += sorted({(round(r.value, 9), i) for r in fact.ratios})
        self.by_dim = {d: sorted(v, key=lambda e: e[0]) for d, v in by_dim.items()}
        self.written = sorted(written, key=lambda e: e[0])
        self.ratios = sorted(ratios)
        self._keys = {d: [e[0] for e in v] for d, v in self.by_dim.items()}
        self._written_keys = [e[0] for e in self.written]
        self._ratio_keys = [r for r, _ in self.ratios]

    def candidates(self, q: Q.Quantity) -> Iterator[tuple[int, Q.Quantity]]:
        """(fact index, number) for every stated number that might back `q`."""
        for dim, value in self._lookups(q):
            entries = self.written if dim == "*written" else self.by_dim.get(dim, [])
            keys = self._written_keys if dim == "*written" else self._keys.get(dim, [])
            lo, hi = _window(value, q.bound)
            for _, i, known in entries[bisect_left(keys, lo) : bisect_right(keys, hi)]:
                yield i, known

    def ratio_facts(self, low: float, high: float) -> Iterator[tuple[float, int]]:
        """(ratio, fact index) for the ratios facts state or imply between `low` and `high`."""
        yield from self.ratios[bisect_left(self._ratio_keys, low) : bisect_right(self._ratio_keys, high)]

    @staticmethod
    def _lookups(q: Q.Quantity) -> list[tuple[str, float]]:
        lookups = [(q.dim, q.value)]
        if q.dim == Q.PLAIN:
            lookups.append(("*written", q.as_written))
            if 0 < q.value <= 1:
                lookups.append((Q.PERCENT, q.value * 100))
        elif q.dim == Q.PERCENT:
            lookups.append((Q.PLAIN, q.value / 100))
        elif q.dim == Q.POINTS:
            lookups += [(Q.PERCENT, q.as_written), ("*written", q.as_written)]
        elif q.dim == "temperature":
            lookups.append(("*written", q.as_written))
        return lookups


def _window(value: float, bound: str) -> tuple[float, float]:
    margin = abs(value) * QuantityIndex.MARGIN + 1.0  # + 1: rounding of small values ("0.3" vs "0")
    if bound.endswith("<"):
        return min(value / 5, value) - margin, value + margin
    if bound.endswith(">"):
        return value - margin, max(value * 5, value) + margin
    return value - margin, value + margin
