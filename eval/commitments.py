"""One sentence of a draft checked against what the structure backs.

A sentence is taken apart into what it asserts, and each part is checked on its own
(a `SpecificCheck`):

- **numbers** (`paracycle.quantities`): each value, in digits or words, must be stated by
  some fact, up to rounding, a hedge or a bound, in any unit that converts. Then it must be
  stated *about the same thing*: numbers the sentence compares ("45 against 41") must come
  from one fact; a dataset or condition the sentence names next to a number must be one the
  number's fact names; and the condition right after a number ("19.8% in retail") must not
  be one the fact gives to a different number.
- **multiplier words** ("halves", "twice", "an order of magnitude"): some fact about the same
  thing must state or imply a ratio that fits.
- **names** (datasets, benchmarks, systems): some field of the structure names them.
- **compared systems** ("outperforming X and Y"): the evidence compares against them.
- **scope** ("any", "every", "on all"), **guarantees** ("provably", "never") and **causes**
  ("caused by", "because"): the structure states the same scope, a theorem, or a mechanism,
  near the same words; a correlation never backs a cause.
- **open claims**: a sentence that restates a structure claim with no evidence.

Any part that fails makes the sentence `unfulfilled`, with the reason naming what failed and
what the structure says instead. Otherwise the sentence is `fulfilled` when the facts its
parts matched cover enough of what it says, and `partial` (borderline: a second opinion may
be asked) when they do not.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

from paracycle import assertions as A
from paracycle import quantities as Q
from paracycle import text
from paracycle.eval.backing import BACKGROUND, OPEN, RESULT, SETUP, Backing, Fact
from paracycle.schemas import CommitmentCheck, SpecificCheck

# How many same-kind numbers of the structure an unbacked number's reason picks from.
NEAR_LIMIT = 50
# Sentences with more numbers than this are tables, not prose: their numbers are still
# checked one by one, but not against each other (which costs the square of their count).
MAX_TIED = 40

# Coverage of a sentence's content words by the facts its parts matched: at or above
# STRONG_MATCH it is fulfilled; with no specific at all it needs STRONG_MATCH, with backed
# specifics WEAK_MATCH (the numbers already tie it to the evidence).
WEAK_MATCH = 0.3
STRONG_MATCH = 0.5
# An open claim is restated when the sentence holds this share of its words and at least
# one word that no backed fact has (its distinctive part: "70B", "strokes").
OPEN_CLAIM_RECALL = 0.34
# A compared system is backed when one fact holds this share of its words.
BASELINE_RECALL = 0.6
# A cause is backed by a fact that states a mechanism and holds this share of the
# sentence's words.
MECHANISM_RECALL = 0.5
STATED_RECALL = 0.7  # a statement saying this much of the sentence states its cause too
THEOREM_RECALL = 0.5
# A quantifier is backed by one over the same thing in a statement holding this share of the
# sentence's other words.
SCOPE_RECALL = 1 / 3
STATED_SCOPE = 0.5

_HEDGED = re.compile(
    r"\b(whether|future\s+work|left\s+(?:open|for)|leave|remains?\s+(?:open|to\s+be)|not\s+yet|"
    r"we\s+do\s+not|could|might|may|would|hope|plan|expect)\b|\?",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(r"\b(we|our|us)\b", re.IGNORECASE)
# A conclusion drawn from the results, or a sentence whose subject is the work itself
# ("It also holds its activity far better than ...").
_CONCLUSION = re.compile(
    r"\b(thus|therefore|hence|consequently)\b"
    # "At 10% humidity it takes up ...": after an opening phrase, "it" is the work; at the
    # start of a sentence it is whatever the last sentence was about.
    r"|(?<=[a-z%,]\s)(?:it|its)\s+(?:also\s+)?(?!is\b|was\b|has\b|does\b|remains\b|seems\b|would\b)[a-z]+s?\b",
    re.IGNORECASE,
)
# Where a clause ends inside a sentence: numbers and names are tied within one clause.
_CLAUSE_SPLIT = re.compile(r";|:|,\s+(?:and|while|whereas|but|although|though)\b|\s(?:while|whereas|but)\s")
# Words after which a number's condition follows ("11.9 mmHg under usual care").
_CONDITION_PREP = frozenset({"in", "for", "with", "under", "among", "on", "at", "during", "without", "after"})
# Words that end a number's condition: what follows is compared with it.
_CONDITION_END = frozenset(
    {"than", "against", "versus", "vs", "vs.", "compared", "relative", "instead", "rather", "and", "or", "but",
     "while", "whereas", "from", "to", "which", "who", "that", "where", "when", "it", "they", "we", "its", "their"}
)
_COMPARE_LINK = re.compile(
    r"\b(against|versus|vs\.?|compared\s+(?:with|to)|instead\s+of|rather\s+than|than|from|to|down\s+from|up\s+from)\b",
    re.IGNORECASE,
)


@dataclass
class _Sentence:
    text: str
    toks: list[A.Token]
    words: frozenset[str]
    clauses: list[tuple[int, int]]

    def clause_of(self, position: int) -> tuple[int, int]:
        i = bisect_right(self._starts, position) - 1
        return self.clauses[i] if i >= 0 and position < self.clauses[i][1] else (0, len(self.text))

    def clause_words(self, position: int) -> frozenset[str]:
        clause = self.clause_of(position)
        if clause not in self._words:
            self._words[clause] = _words(self.text[clause[0] : clause[1]])
        return self._words[clause]

    def __post_init__(self) -> None:
        self.claimish = text.is_claim_sentence(self.text)  # asked several times; a regex pass each
        self._starts = [c[0] for c in self.clauses]
        self._words: dict[tuple[int, int], frozenset[str]] = {}


@lru_cache(maxsize=64)
def _words(passage: str) -> frozenset[str]:
    """text.content_words, once per passage: a sentence's clauses are asked about many times."""
    return frozenset(text.content_words(passage))


def _sentence(sentence: str) -> _Sentence:
    bounds, start = [], 0
    for m in _CLAUSE_SPLIT.finditer(sentence):
        bounds.append((start, m.start()))
        start = m.end()
    bounds.append((start, len(sentence)))
    return _Sentence(sentence, A.tokens(sentence), _words(sentence), bounds)


# --------------------------------------------------------------------------------------
# The sentence
# --------------------------------------------------------------------------------------


def check_sentence(sentence: str, paragraph_id: str, backing: Backing) -> CommitmentCheck | None:
    """The sentence's commitment check, or None when it commits the paper to nothing
    checkable (context, a question, a plan)."""
    s = _sentence(sentence)
    qs = Q.quantities(sentence)
    own_subject = _subject_is_the_work(s, backing)
    about_work = own_subject or _about_the_work(s, backing)
    specifics: list[SpecificCheck] = []
    used: list[Fact] = []

    matches = [_check_quantity(q, s, backing) for q in qs]
    if len(qs) <= MAX_TIED:
        matches = _own_ratios(qs, matches)
    for q, (check, facts) in zip(qs, matches):
        specifics.append(check)
        used += facts[:1]
    judged: list[SpecificCheck] = []  # failures that rest on reading the sentence, not on a missing value
    if len(qs) <= MAX_TIED:
        judged = _attribution(qs, matches, s, backing)
        specifics += judged
    for m in Q.multipliers(sentence)[:MAX_TIED]:
        check, fact = _check_multiplier(m, qs, matches, s, backing)
        specifics.append(check)
        used += [fact] if fact else []
    if about_work:
        specifics += [c for name in _names(sentence) if (c := _check_name(name, sentence, backing))]
    if own_subject:
        specifics += [_check_baseline(cue, backing) for cue in _distinct(A.baseline_cues(sentence, s.toks))]
        specifics += [_check_cue(cue, s, backing) for cue in _distinct(A.scope_cues(sentence, s.toks))]
    # "never"/"always" about the world ("most sown seeds never produce a seedling") promise
    # nothing; "proves"/"guarantees" promise a result wherever they are.
    # "guarantees" and "provably" promise wherever they stand, unless the sentence cites
    # whose promise it is; "never" and "always" only about the work.
    specifics += [
        _check_cue(cue, s, backing) for cue in _distinct(A.guarantee_cues(sentence, s.toks))
        if own_subject or (cue.family == "guarantee" and not _CITATION.search(sentence))
    ]
    # A cause about the world ("the leading cause of stroke") is background; one drawn from a
    # correlation, or one about the work, needs a stated mechanism.
    specifics += [
        check for cue in _distinct(A.causal_cues(sentence, s.toks))
        if (check := _check_causal(cue, s, backing, strict=about_work)) is not None
    ]
    specifics += _open_claim(s, backing)

    # A name the structure has ("we introduce PruneKV") commits the paper to nothing.
    if not s.claimish and all(sp.backed and sp.kind == "name" for sp in specifics):
        return None
    return _verdict(sentence, paragraph_id, s, specifics, used, backing, judged)


def _subject(sentence: str) -> frozenset[str]:
    """The first two content words: roughly what the sentence is about."""
    return frozenset(sorted(text.content_words(" ".join(sentence.split()[:4])), key=sentence.lower().find)[:2])


_STARTS_WITH_IT = re.compile(
    r"it\s+also\b"  # "It also holds its activity far better than ...": a further result
    r"|(?:the|this|our)\s+(?:proposed\s+|new\s+|same\s+)?(?:method|approach|system|model|technique|framework|pipeline|"
    r"algorithm|tool|index|protocol|design|scheme|mechanism|recipe|procedure|estimator|controller)\b",
    re.IGNORECASE,
)


def _subject_is_the_work(s: _Sentence, backing: Backing) -> bool:
    """Whether the sentence's subject is this paper's work ("we", its system, "it", or what
    its claims are about): the sentences whose compared systems, scope and guarantees are
    the paper's own promises."""
    if _FIRST_PERSON.search(s.text) or _names_the_system(s.text, backing) or _STARTS_WITH_IT.match(s.text):
        return True
    if _CITATION.search(s.text):
        return False  # "..., but it needs minutes per instance [7]": someone else's work
    return bool(_CONCLUSION.search(s.text) or _subject(s.text) & backing.claim_subjects)


def _names_the_system(sentence: str, backing: Backing) -> bool:
    key = text.name_key(sentence)
    return any(re.search(rf"(?<![a-z0-9]){re.escape(n)}(?![a-z0-9])", key) for n in backing.system_names if n)


# Result wording: a sentence with it states a finding, whose scope a finding must cover.
_RESULT_WORDING = re.compile(
    r"\b(?:better|worse|faster|slower|fewer|earlier|later|sooner|more\s+\w+\s+than|less\s+\w+\s+than|"
    r"outperform\w*|improv\w+|reduc\w+|lower\w*|rais\w+|increas\w+|achiev\w+|signals?|detects?|"
    r"predicts?|holds?|stays?|remains?|works?|generali[sz]\w+|transfers?|handles?|delivers?|reproduc\w+|"
    r"gains?|improvements?|speed-?ups?|benefits?|advantages?|accura\w+)\b",
    re.IGNORECASE,
)


def _distinct(cues: list[A.Cue]) -> list[A.Cue]:
    """One cue per wording and what it bears on (the same cue twice gets the same verdict),
    at most MAX_TIED of them."""
    seen: dict[tuple, A.Cue] = {}
    for cue in cues:
        seen.setdefault((cue.kind, cue.family, cue.text.lower(), cue.words), cue)
        if len(seen) == MAX_TIED:
            break
    return list(seen.values())


def _about_the_work(s: _Sentence, backing: Backing) -> bool:
    """Whether the sentence speaks about this paper's work or results (its own system, "we",
    result wording, or a dataset its evidence names), not about prior work or the world:
    names, compared systems and guarantees are checked only there. A sentence that cites
    others is about their work unless it names this one."""
    if _FIRST_PERSON.search(s.text) or _names_the_system(s.text, backing):
        return True
    if _CITATION.search(s.text):
        return False
    if _CONCLUSION.search(s.text):
        return True
    if _subject(s.text) & backing.claim_subjects:
        return True
    if s.claimish:
        return True
    return any(text.name_is_backed(n, backing.results_names_key) for n in _names(s.text))


# --------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------


def _context_score(fact: Fact, s: _Sentence, position: int) -> float:
    """How well a fact fits the sentence around `position`: shared words of the clause
    count double, the rest of the sentence once; results win ties."""
    clause = s.clause_words(position)
    return 2 * len(clause & fact.words) + len(s.words & fact.words) + (0.5 if fact.role == RESULT else 0)


# Words that make a number a difference or a change, which a reader may compute from two
# stated numbers ("47 °C later", "about 5% lower", "half an hour less").
_CHANGE_WORDS = re.compile(
    r"\b(?:less|more|fewer|lower|higher|later|earlier|longer|shorter|faster|slower|gap|difference|below|above|"
    r"drops?|falls?|rises?|gains?|costs?|saves?|by|cut|cuts|reduc\w*|increas\w*|decreas\w*|improv\w*)\b",
    re.IGNORECASE,
)


def _check_quantity(q: Q.Quantity, s: _Sentence, backing: Backing) -> tuple[SpecificCheck, list[Fact]]:
    changes = bool(_CHANGE_WORDS.search(s.text, max(0, q.start - 40), min(len(s.text), q.end + 40)))
    found: dict[int, Q.Quantity] = {}  # fact index -> the first number of it that backs q
    for i, known in backing.index.candidates(q):
        if i not in found and (changes or not known.derived) and Q.backs(q, known):
            found[i] = known
    if q.spelled and q.dim == Q.PERCENT and 0 < q.value < 100:
        # "at a tenth of the cost" for 14.1 s -> 1.6 s: a share that is a ratio the structure implies
        share = q.value / 100
        for value, i in backing.index.ratio_facts(share * 0.8, share * 1.25):
            if Q.backs(q, Q.Quantity(100 * value, Q.PERCENT, 0.5, "=", "", 0, 0)):
                found.setdefault(i, q)
        for value, i in backing.index.ratio_facts(1 / share * 0.8, 1 / share * 1.25):
            if Q.backs(q, Q.Quantity(100 / value, Q.PERCENT, 0.5, "=", "", 0, 0)):
                found.setdefault(i, q)
    if q.dim == Q.RATIO:
        slack = max(q.precision, 0.05 * q.value)
        for _, i in backing.index.ratio_facts(q.value - slack, q.value + slack):
            found.setdefault(i, q)
    elif q.dim == Q.PERCENT and q.bound in "=~" and changes:
        # "a third more throughput" for 1.31x, "17% more" for 1.17x
        for ratio in (1 + q.value / 100, 1 - q.value / 100, 1 / max(1 - q.value / 100, 1e-9)):
            for value, i in backing.index.ratio_facts(ratio * 0.9, ratio * 1.1):
                if i not in found and _change_fits(q, value):
                    found[i] = q
    if not found:
        return _unbacked_number(q, s, backing), []
    hits = sorted(((_context_score(backing.facts[i], s, q.start), i) for i in found), reverse=True)
    best = hits[0][1]
    return (
        SpecificCheck(kind="number", text=q.text, backed=True, source=backing.facts[best].source,
                      matched=found[best].text),
        [backing.facts[i] for _, i in hits],
    )


def _change_fits(q: Q.Quantity, ratio: float) -> bool:
    """Whether a change in percent is the change a ratio makes (1.31x: 31% more, 0.69x: 31% less)."""
    change = Q.Quantity(abs(ratio - 1) * 100, Q.PERCENT, 0.5, "=", "", 0, 0)
    return Q.backs(q, change) or Q.backs(q, Q.Quantity(abs(1 - 1 / ratio) * 100, Q.PERCENT, 0.5, "=", "", 0, 0))


def _own_ratios(
    qs: list[Q.Quantity], matches: list[tuple[SpecificCheck, list[Fact]]]
) -> list[tuple[SpecificCheck, list[Fact]]]:
    """A share in words that is the ratio of two of the sentence's own backed numbers
    ("0.9 points, roughly a third of the 2.6 points") is backed by them."""
    backed = [q for q, (c, _) in zip(qs, matches) if c.backed and not q.spelled]
    ratios = [100 * a.as_written / b.as_written for a in backed for b in backed if a is not b and b.as_written]
    out = []
    for q, (check, facts) in zip(qs, matches):
        if q.spelled and q.dim == Q.PERCENT and any(
            Q.backs(q, Q.Quantity(r, Q.PERCENT, 0.5, "=", "", 0, 0)) for r in ratios
        ):
            check, facts = SpecificCheck(kind="number", text=q.text, backed=True, source="sentence",
                                         matched="the ratio of the sentence's own numbers"), []
        out.append((check, facts))
    return out


def _unbacked_number(q: Q.Quantity, s: _Sentence, backing: Backing) -> SpecificCheck:
    """The reason names the nearest thing the structure does say: a number of the same kind,
    near in value, in the fact that best fits the sentence ("E2 says 37%")."""
    near = list(itertools.islice(backing.index.candidates(Q.Quantity(q.value, q.dim, abs(q.value) * 4 + 1, "~", "", 0, 0, written=q.as_written)), NEAR_LIMIT))
    reason = f"no evidence or other field states {q.text}"
    if near:
        i, known = max(near, key=lambda n: _context_score(backing.facts[n[0]], s, q.start))
        fact = backing.facts[i]
        reason += f" ({fact.source} says {known.text})"
        return SpecificCheck(kind="number", text=q.text, backed=False, source=fact.source, matched=known.text, reason=reason)
    return SpecificCheck(kind="number", text=q.text, backed=False, reason=reason)


def _attribution(
    qs: list[Q.Quantity], matches: list[tuple[SpecificCheck, list[Fact]]], s: _Sentence, backing: Backing
) -> list[SpecificCheck]:
    """Numbers that exist in the structure but are given to the wrong system or condition."""
    problems: list[SpecificCheck] = []
    facts_of = [set(id(f) for f in facts) for _, facts in matches]
    # Compared numbers come from one fact: "45 against 41" where 45 is an ablation's.
    for i in range(len(qs) - 1):
        a, b = qs[i], qs[i + 1]
        if not facts_of[i] or not facts_of[i + 1] or facts_of[i] & facts_of[i + 1]:
            continue
        if s.clause_of(a.start) != s.clause_of(b.start) or a.dim != b.dim:
            continue
        between = re.sub(r"\b(?:more|less|fewer|rather)\s+than\s*$", "", s.text[a.end : b.start])
        if len(between) < 60 and not re.search(r"[;:]", between) and _COMPARE_LINK.search(between):
            src_a, src_b = matches[i][0].source, matches[i + 1][0].source
            problems.append(SpecificCheck(
                kind="number", text=f"{a.text} vs {b.text}", backed=False, source=src_a,
                reason=f"compares {a.text} ({src_a}) with {b.text} ({src_b}): no one finding states both",
            ))
    # A dataset or setting named in the number's clause must be one its fact names: "On YCSB,
    # ... from 38.5 ms to 14.2 ms" where those are the production trace's numbers. Only
    # names that single out some findings count (not the system, nor a tool of the method).
    for q, (check, facts) in zip(qs, matches):
        if not facts or all(f.role != RESULT for f in facts):
            continue
        scope = _scope_of(s, q.start)
        for name in _names(scope):
            if not _singles_out(name, backing) or not _PREPOSITION_BEFORE.search(scope[: scope.find(name)]):
                continue
            rivals = [f for f in backing.facts if f.is_evidence and text.name_is_backed(name, f.names_key)]
            if rivals and not any(text.name_is_backed(name, f.names_key) for f in facts):
                problems.append(SpecificCheck(
                    kind="number", text=q.text, backed=False, source=check.source, matched=check.matched,
                    reason=f"{q.text} is {check.source}'s, which does not concern {name} ({rivals[0].source} does)",
                ))
    # A number from one finding where the finding the rest of the sentence comes from has its
    # own value in the same slot: "Eight weeks later ..., at g = 0.29" when the eight-week
    # finding says g = 0.21 and 0.29 is the immediate one.
    for i, (q, (check, facts)) in enumerate(zip(qs, matches)):
        if not facts or not check.backed:
            continue
        clause = s.clause_of(q.start)
        others = [f for j, (_, f) in enumerate(matches) if j != i and s.clause_of(qs[j].start) == clause]
        if not others or not all(others) or any(set(map(id, facts)) & set(map(id, o)) for o in others):
            continue  # no other number, or one shares a finding with this one
        # The one finding every other number of the clause comes from.
        common = [f for f in others[0] if all(f in o for o in others[1:])]
        for rival in common[:1]:
            if rival in facts:
                continue
            said = Q.slot(s.text, q)
            # Much more of the sentence is about the rival finding than about this number's.
            dominant = _context_score(rival, s, q.start) >= 2 * max(_context_score(f, s, q.start) for f in facts) + 4
            other = next(
                (k for k in rival.quantities if not k.derived and k.dim == q.dim and not Q.backs(q, k)
                 and ((said and Q.slot(rival.text, k) == said) or dominant)), None,
            )
            if other is not None:
                problems.append(_misattributed(q, check, rival, other, "which the rest of the sentence comes from"))
                break
    # A condition stated before the number ("Players with a previous hamstring injury had 2.4
    # times the hazard") that another finding, with a different value of the same kind, fits
    # better than the number's own.
    for q, (check, facts) in zip(qs, matches):
        if not facts or not check.backed or q.spelled:
            continue
        said = _prior_condition(s, q.start) - backing.topic_words
        if len(said) < 2:
            continue
        own = max(len(said & f.words) for f in facts)
        for rival in backing.facts:
            if rival.role != RESULT or rival in facts or len(said & rival.words) < own + 2:
                continue
            other = next((k for k in rival.quantities if not k.derived and _same_kind(q, k) and not Q.backs(q, k)), None)
            if other is not None:
                problems.append(_misattributed(q, check, rival, other, f"about {' '.join(sorted(said & rival.words))}"))
                break
    # The condition a sentence gives a number is the one its fact gives it: "19.8% in retail"
    # where the finding has 19.8% in services and 2.1% in retail.
    for q, (check, facts) in zip(qs, matches):
        trailing = _condition(s.text, q.end)
        said = trailing or _leading_condition(s, q.start)
        if not said or not facts:
            continue
        conflicts = []
        for fact in facts:
            stated, others = _conditions_in(fact, q, qs)
            misplaced = (said - stated) & others
            # A sentence's opening condition covers all its numbers: only a word the finding
            # gives to another number is a conflict. Right after the number, so is a
            # condition the finding states differently.
            if not misplaced and (not trailing or not stated or said & stated or not said & fact.words):
                break  # this fact agrees, or says nothing either way
            conflicts.append((fact, stated, misplaced or said))
        else:
            if conflicts:
                fact, stated, misplaced = conflicts[0]
                given = f"to {' '.join(sorted(stated))}" if stated else "elsewhere"
                problems.append(SpecificCheck(
                    kind="number", text=q.text, backed=False, source=fact.source, matched=check.matched,
                    reason=f"{fact.source} gives {q.text} {given}, not to {' '.join(sorted(misplaced))}",
                ))
    return problems


def _conditions_in(
    fact: Fact, q: Q.Quantity, in_sentence: list[Q.Quantity]
) -> tuple[frozenset[str], frozenset[str]]:
    """The condition the fact gives the value `q`, and those it gives the numbers the
    sentence does not state (a number the sentence also has keeps its own condition)."""
    stated, others = frozenset(), frozenset()
    for known in fact.quantities:
        if known.derived:
            continue
        condition = _condition(fact.text, known.end)
        if Q.backs(q, known):
            stated = stated | condition
        elif not any(Q.backs(other, known) for other in in_sentence):
            others = others | condition
    return stated, others


_PREP_PHRASE = re.compile(r"\b(?:with|without|among|in|for|under|after|during)\s+((?:[\w-]+\s+){1,5})", re.IGNORECASE)


def _misattributed(q: Q.Quantity, check: SpecificCheck, rival: Fact, other: Q.Quantity, why: str) -> SpecificCheck:
    """`q` is backed by `check.source`, but the finding the sentence is about (`rival`, `why`)
    has its own value for it."""
    return SpecificCheck(
        kind="number", text=q.text, backed=False, source=rival.source, matched=other.text,
        reason=f"{q.text} is {check.source}'s; {rival.source}, {why}, says {other.text}",
    )


def _same_kind(a: Q.Quantity, b: Q.Quantity) -> bool:
    """Values of one kind: same dimension, or a plain number beside anything but a percentage."""
    return a.dim == b.dim or (Q.PLAIN in (a.dim, b.dim) and Q.PERCENT not in (a.dim, b.dim))


def _prior_condition(s: _Sentence, position: int) -> frozenset[str]:
    """The last prepositional phrase before a number in its clause ("with a previous
    hamstring injury had"): up to five words after its preposition."""
    lo, _ = s.clause_of(position)
    found = frozenset()
    for m in _PREP_PHRASE.finditer(s.text, lo, position):
        found = frozenset(text.content_words(m.group(1))) - frozenset(text.numbers(m.group(1)))
    return found


def _leading_condition(s: _Sentence, position: int) -> frozenset[str]:
    """The opening phrase of the number's clause when it is a condition ("In patients aged
    80 or older, sensitivity was 92.1%")."""
    lo, hi = s.clause_of(position)
    comma = s.text.find(",", lo, position)
    if comma < 0 or not _LEADING_CONDITION.match(s.text[lo:comma]):
        return frozenset()
    return _condition(s.text[lo:comma], 0, leading=True)


# A name is a condition of a number when a preposition governs it ("on YCSB", "for the
# Stack workload"), not when it modifies a noun ("the median Nash-Sutcliffe efficiency").
_PREPOSITION_BEFORE = re.compile(
    r"\b(?:on|in|for|under|with|across|at|during|among|using|from|of)\s+(?:the\s+|a\s+|an\s+)?(?:\w+\s+)?$",
    re.IGNORECASE,
)
_LEADING_CONDITION = re.compile(r"\s*(?:on|in|for|under|with|across|at|during|after|among|using)\b", re.IGNORECASE)


def _scope_of(s: _Sentence, position: int) -> str:
    """The text whose names a number at `position` is about: its comma-separated segment
    of the clause, plus the clause's opening phrase when that is a condition ("On YCSB
    workload A, it lowers p99 latency from 38.5 ms ...")."""
    lo, hi = s.clause_of(position)
    segments, start = [], lo
    for comma in re.finditer(",", s.text[lo:hi]):
        segments.append((start, lo + comma.start()))
        start = lo + comma.end()
    segments.append((start, hi))
    own = next(s.text[a:b] for a, b in segments if a <= position <= b)
    first = s.text[segments[0][0] : segments[0][1]]
    if first != own and _LEADING_CONDITION.match(first):
        return f"{first} {own}"
    return own


def _singles_out(name: str, backing: Backing) -> bool:
    """A name some findings have and others lack, that is not the work's own or its method's."""
    if text.name_key(name) in backing.system_names:
        return False
    if any(f.kind in {"method", "rationale", "name"} and text.name_is_backed(name, f.names_key) for f in backing.facts):
        return False
    evidence = [f for f in backing.facts if f.is_evidence]
    having = sum(text.name_is_backed(name, f.names_key) for f in evidence)
    return 0 < having < len(evidence)


def _condition(statement: str, end: int, leading: bool = False) -> frozenset[str]:
    """Content words of the condition right after a number: after its first preposition,
    up to a comparison, a conjunction, a comma or the clause's end ("19.8% in
    knowledge-intensive services, but ...": knowledge, intensive, service). Units and counts
    inside it are skipped ("in the 97 patients aged 80 or older")."""
    toks = A.tokens(statement[end : end + 160])
    words: list[str] = []
    started = leading
    for i, tok in enumerate(toks[:16]):
        if tok.word in Q.UNIT_WORDS or tok.word[0].isdigit() or tok.word in A._COUNT_WORDS:
            continue
        if tok.word in A._CLAUSE_MARK or tok.word == "," or tok.word in _CONDITION_END:
            break
        if not started:
            started = tok.word in _CONDITION_PREP
            if i >= 3:
                break
            continue
        words += A._content(tok.word)
    return frozenset(words)


# --------------------------------------------------------------------------------------
# Multiplier words
# --------------------------------------------------------------------------------------


def _check_multiplier(
    m: Q.Multiplier, qs: list[Q.Quantity], matches: list[tuple[SpecificCheck, list[Fact]]],
    s: _Sentence, backing: Backing,
) -> tuple[SpecificCheck, Fact | None]:
    # The sentence's own backed numbers first: "7.8 points, more than twice the 3.3-point effect".
    own = [q for q, (c, _) in zip(qs, matches) if c.backed and q.dim != Q.RATIO]
    if any(m.fits(a.value / b.value) for a in own for b in own if a is not b and a.dim == b.dim and b.value):
        return SpecificCheck(kind="quantity", text=m.text, backed=True, source="sentence",
                             matched="the sentence's own numbers"), None
    # What is multiplied: the words next to the multiplier ("overtime hours several-fold",
    # "an order of magnitude fewer workshop tests"), less the words most findings share.
    words = _measure(s.text, m) - _MULTIPLIER_WORDS - frozenset(w for n in backing.system_names for w in n.split())
    against = _compared_with(s.text, m.end)
    best: tuple[float, Fact, float] | None = None
    nearest: tuple[float, Fact, float] | None = None
    for fact in backing.facts:
        if fact.role == OPEN:
            continue
        shared = len(words & fact.words)
        if not shared:
            continue
        same = next((k for k in fact.multipliers if k.key == m.key and k.low <= m.high and m.low <= k.high), None)
        if same is not None:
            return SpecificCheck(kind="quantity", text=m.text, backed=True, source=fact.source, matched=same.text), fact
        for r in fact.ratios:
            near = frozenset(text.content_words(fact.text[max(0, r.start - 80) : r.end + 40]))
            fits = m.fits(r.value) and bool(near & words) and not _other_comparison(fact, r, against)
            if fits and (best is None or shared > best[0]):
                best = (shared, fact, r.value)
            elif not fits and (nearest is None or shared > nearest[0]):
                nearest = (shared, fact, r.value)
    if best:
        _, fact, r = best
        return SpecificCheck(kind="quantity", text=m.text, backed=True, source=fact.source, matched=_ratio(r)), fact
    reason = f"no finding about this shows a ratio that fits {m.text!r}"
    if nearest:
        reason += f" ({nearest[1].source} implies {_ratio(nearest[2])})"
    return SpecificCheck(kind="quantity", text=m.text, backed=False, reason=reason,
                         source=nearest[1].source if nearest else None), None


_MEASURE_SKIP = frozenset(
    "as than more fewer less the a an of its their our times fold faster slower higher lower larger smaller".split()
)


def _measure(sentence: str, m: Q.Multiplier) -> frozenset[str]:
    """Up to two content words on each side of a multiplier, within its clause."""
    before = [t.word for t in A.tokens(sentence[max(0, m.start - 60) : m.start])]
    after = [t.word for t in A.tokens(sentence[m.end : m.end + 60])]
    found: list[str] = []
    for words in (reversed(before), after):
        taken = 0
        for word in words:
            if word in A._CLAUSE_MARK or word == ",":
                break
            if word in _MEASURE_SKIP or word in text.STOPWORDS:
                continue
            found += A._content(word)
            taken += 1
            if taken == 2:
                break
    return frozenset(found)


_AS_THAN = re.compile(r"\s*(?:\w+\s+){0,3}?(?:as|than)\s+(?P<rest>[^,;.]{0,80})", re.IGNORECASE)


def _compared_with(sentence: str, end: int) -> frozenset[str]:
    """What a multiplier compares with: "half as many errors as students with the standard
    problem set" -> student, standard, problem, set."""
    m = _AS_THAN.match(sentence, end)
    return frozenset(text.content_words(m.group("rest"))) if m else frozenset()


def _other_comparison(fact: Fact, r: Q.Ratio, against: frozenset[str]) -> bool:
    """Whether the fact sets what the sentence compares with beside some other number, not
    in the pair this ratio comes from (38% -> 17% over the weeks is not "half as many as
    the standard set", which has 26%)."""
    if not against:
        return False
    inside = frozenset(text.content_words(fact.text[r.start : r.end])) | _condition(fact.text, r.end)
    return bool(against & fact.words) and not against & inside


# Words of multiplier phrases themselves: sharing "times" ties a sentence to no finding.
_MULTIPLIER_WORDS = frozenset(text.content_words("times fold twice half double order magnitude several"))


def _ratio(r: float) -> str:
    return f"{r if r >= 1 else 1 / r:.2g}x"


# --------------------------------------------------------------------------------------
# Names and compared systems
# --------------------------------------------------------------------------------------


# Author-year citations and bracketed references: the names in them are authors, not data.
_CITATION = re.compile(r"\([^()]{0,200}?\b(?:19|20)\d\d[a-z]?\)|\[[^\[\]]{0,100}\]")
# Jargon a sentence may use without the structure naming it (statistics, months, units).
_NOT_NAMES = frozenset(
    """
    ci rmse mae mse auc roc iqr sd se or p r n df january february march april may june july
    august september october november december monday tuesday wednesday thursday friday
    saturday sunday pm am
    """.split()
)
_VERSION = re.compile(r"v\d+|[a-z]+-\d+|(?:[a-z]+-)?\d{4}s")  # "v8", "layer-8", "mid-2000s": not names


def _names(sentence: str) -> list[str]:
    """Dataset/system-like names, a lower-case suffix after a hyphen dropped ("HedgeRM-trained"
    is HedgeRM, "MOF-303-type" is MOF-303); no authors of citations, no units right after a
    number ("48 kJ/mol"), no versions, no statistics jargon."""
    clean = _CITATION.sub(lambda m: " " * len(m.group(0)), sentence)
    found: dict[str, None] = {}
    for name in text.named_entities(clean):
        parts = name.split("-")
        while len(parts) > 1 and parts[-1].islower() and parts[-1].isalpha():
            parts.pop()
        name = "-".join(parts)
        at = clean.find(name)
        if at == len(clean) - len(clean.lstrip()) and all(p[:1].isupper() and p[1:].islower() for p in parts):
            continue  # "Low-Earth-orbit terminals ...": a capital only because it starts the sentence
        if (
            len(name) < 2
            or name.lower() in text.GENERIC_NAMES
            or name.lower() in _NOT_NAMES
            or _VERSION.fullmatch(name)
            or re.search(r"\d\s*[°]?\s*$", clean[max(0, at - 3) : at])
        ):
            continue
        found.setdefault(name)
    return list(found)


def _weak(name: str, sentence: str) -> bool:
    """A capitalised ordinary word ("African", "Hills"): a name only next to another
    capitalised word ("Corvin Hills", "Labour Force Survey"), since alone it is as often a
    place adjective or a language."""
    if not all(re.fullmatch(r"[A-Z][a-z]+", part) for part in name.split("-")):
        return False
    at = sentence.find(name)
    if re.search(r"\b(?:on|from|using|with|across)\s+the\s+$", sentence[max(0, at - 20) : at]):
        return False  # "on the Pantheon traces": a dataset's name
    before = re.search(r"([A-Z][\w-]*)\s+$", sentence[max(0, at - 30) : at])
    after = re.match(r"\s+([A-Z][\w-]*)", sentence[at + len(name) : at + len(name) + 30])
    return not (before or after)


def _check_name(name: str, sentence: str, backing: Backing) -> SpecificCheck | None:
    if text.name_is_backed(name, backing.names_key):
        return SpecificCheck(kind="name", text=name, backed=True, source=_source_of_name(name, backing))
    if _weak(name, sentence):
        return None
    return SpecificCheck(kind="name", text=name, backed=False, reason=f"{name} appears nowhere in the structure")


def _source_of_name(name: str, backing: Backing) -> str | None:
    return next((f.source for f in backing.facts if text.name_is_backed(name, f.names_key)), None)


def _check_baseline(cue: A.Cue, backing: Backing) -> SpecificCheck:
    """A compared system must be one the results compare against (not one the gap names)."""
    best, best_fact = 0.0, None
    for fact in backing.facts:
        if fact.role in (RESULT, SETUP):
            share = len(cue.words & fact.words) / len(cue.words)
            if share > best:
                best, best_fact = share, fact
    if best >= BASELINE_RECALL and best_fact is not None:
        return SpecificCheck(kind="baseline", text=cue.text, backed=True, source=best_fact.source)
    where = next((f.source for f in backing.facts if cue.words <= f.words), None)
    reason = f"no finding compares against {cue.text}"
    if where:
        reason += f" (only {where} mentions it)"
    return SpecificCheck(kind="baseline", text=cue.text, backed=False, reason=reason)


# --------------------------------------------------------------------------------------
# Scope, guarantees, causes
# --------------------------------------------------------------------------------------


def _check_cue(cue: A.Cue, s: _Sentence, backing: Backing) -> SpecificCheck:
    """Scope and guarantees: the structure states the same kind of cue near the same words,
    or (for a guarantee) a theorem backs the sentence."""
    # A result stretched over "every sewershed" needs a finding that covers every one; a
    # method that samples each of them does not.
    results_only = cue.kind == "scope" and bool(_RESULT_WORDING.search(s.text))
    promised = _after(s, cue.start) - backing.topic_words
    for fact in backing.facts:
        if fact.role == OPEN or (results_only and fact.role != RESULT):
            continue
        near = fact.cue_words.get(cue.family, frozenset())
        if cue.kind == "guarantee" and cue.family == "guarantee":
            if promised and len(promised & fact.words) >= THEOREM_RECALL * len(promised) and near:
                return SpecificCheck(kind=cue.kind, text=cue.text, backed=True, source=fact.source)
            continue
        # The same quantifier over the same thing ("each household" for "every household"),
        # in a statement that says much of what the sentence says (not "more accurate in
        # every sewershed" for "earlier in every sewershed").
        lo, hi = s.clause_of(cue.start)
        rest = _words(s.text[lo:hi]) - cue.words - backing.topic_words
        said = len(rest & fact.words) >= SCOPE_RECALL * len(rest) if cue.family == "all" else True
        if cue.words & near and said:
            return SpecificCheck(kind=cue.kind, text=cue.text, backed=True, source=fact.source)
        # A description of the method or the setting ("images the surface whatever the
        # weather") needs only a statement that says most of it.
        if (
            cue.kind == "scope" and not results_only and fact.role == SETUP
            and len(rest & fact.words) >= STATED_SCOPE * len(rest)
        ):
            return SpecificCheck(kind=cue.kind, text=cue.text, backed=True, source=fact.source)
    if cue.kind == "guarantee":
        # A theorem backs the guarantee when it states most of what is guaranteed.
        for fact in backing.facts:
            if fact.kind == "theorem" and promised and len(promised & fact.words) >= THEOREM_RECALL * len(promised):
                return SpecificCheck(kind=cue.kind, text=cue.text, backed=True, source=fact.source)
        reason = f"{cue.text!r} promises a guarantee that no theorem in the evidence gives"
    else:
        reason = f"{cue.text!r} claims a scope the evidence does not cover"
    return SpecificCheck(kind=cue.kind, text=cue.text, backed=False, reason=reason)


def _after(s: _Sentence, start: int) -> frozenset[str]:
    """Content words of the rest of the clause after `start`: what a cue bears on."""
    _, hi = s.clause_of(start)
    end = _CLAUSE_END_RE.search(s.text, start + 1, hi)
    return _words(s.text[start : end.start() if end else hi])


_CLAUSE_END_RE = re.compile(r"[;:.]\s|[;:]|\.$")


def _check_causal(cue: A.Cue, s: _Sentence, backing: Backing, strict: bool) -> SpecificCheck | None:
    """A cause is backed by the statement that best covers the sentence when that statement
    states a mechanism (a causal connective, the insight, a rationale, an ablation) or says
    nearly all of it; never when it (or the sentence) is a correlation. Not `strict` (a
    sentence about the world, not the work): only a cause read into a correlation counts,
    and None means there is nothing to check."""
    correlation = A.CORRELATION.search(s.text)
    if correlation:
        return SpecificCheck(kind="causal", text=cue.text, backed=False,
                             reason=f"{cue.text!r} claims a cause from a correlation ({correlation.group(0)})")
    scored = sorted(
        ((len(s.words & f.words) / max(len(s.words), 1), f) for f in backing.facts if f.role != OPEN),
        key=lambda x: x[0], reverse=True,
    )
    if not scored:
        return SpecificCheck(kind="causal", text=cue.text, backed=False, reason=f"{cue.text!r}: the structure is empty")
    share, best = scored[0]
    if not strict and not best.correlational:
        return None
    if not best.correlational:
        # Two statements together may state it: the insight's "because" and the method's details.
        pair = share if len(scored) < 2 else len(s.words & (best.words | scored[1][1].words)) / max(len(s.words), 1)
        causal = [f for _, f in scored[:2] if f.causal or f.kind == "ablation"]
        if (causal and pair >= MECHANISM_RECALL) or share >= STATED_RECALL:
            return SpecificCheck(kind="causal", text=cue.text, backed=True, source=(causal or [best])[0].source)
    reason = f"{cue.text!r} claims a cause that no field of the structure states"
    if best.correlational:
        reason += f" ({best.source} is a correlation)"
    return SpecificCheck(kind="causal", text=cue.text, backed=False, reason=reason, source=best.source)


# --------------------------------------------------------------------------------------
# Open claims
# --------------------------------------------------------------------------------------


def _open_claim(s: _Sentence, backing: Backing) -> list[SpecificCheck]:
    if _HEDGED.search(s.text):
        return []
    best_backed = max((text.recall(w, s.words) for _, w in backing.backed_claims), default=0.0)
    found = []
    for claim, words, distinctive in backing.open_claims:
        share = text.recall(set(words), set(s.words))
        shared = words & s.words
        # What only the open claim says must not be explained by a statement that covers the
        # sentence better: "214 excess deaths" is the problem's, not "roofs reduce deaths".
        explained = frozenset().union(*(f.words for f in backing.facts if f.role != OPEN and len(s.words & f.words) > len(shared)))
        if share >= OPEN_CLAIM_RECALL and len(shared) >= 2 and share >= best_backed and (distinctive & s.words) - explained:
            found.append(SpecificCheck(
                kind="open_claim", text=claim.text, backed=False, source=claim.id,
                reason=f"restates claim {claim.id}, which cites no evidence",
            ))
    return found


# --------------------------------------------------------------------------------------
# The verdict
# --------------------------------------------------------------------------------------


# How sure an unfulfilled verdict is: a value or name that nothing states is certain; a
# failure that rests on reading the sentence (whose number, what scope, which cause) is the
# kind a second opinion should look at.
CERTAIN, JUDGED = 1.0, 0.6
_JUDGED_KINDS = frozenset({"scope", "causal", "open_claim", "baseline", "quantity"})


def _verdict(
    sentence: str, paragraph_id: str, s: _Sentence, specifics: list[SpecificCheck], used: list[Fact],
    backing: Backing, judged: list[SpecificCheck],
) -> CommitmentCheck:
    cited = {sp.source for sp in specifics if sp.backed and sp.source}
    facts = [f for f in backing.facts if f.source in cited] + used
    best_claim, claim_share = None, 0.0
    for claim, words in backing.backed_claims:
        share = text.recall(set(s.words), set(words))
        if share > claim_share:
            best_claim, claim_share = claim, share
    best_fact = max(
        (f for f in backing.facts if f.role in (RESULT, SETUP, BACKGROUND)),
        key=lambda f: len(s.words & f.words), default=None,
    )
    if best_fact is not None:
        facts.append(best_fact)
    covered = frozenset().union(*(f.words for f in facts)) if facts else frozenset()
    coverage = text.recall(set(s.words), set(covered))
    evidence_ids = list(dict.fromkeys(
        [f.source for f in facts if f.is_evidence]
        + (list(best_claim.evidence) if best_claim is not None and claim_share >= WEAK_MATCH else [])
    ))
    failed = [sp for sp in specifics if not sp.backed]
    # The paper's own name ties a sentence to nothing in particular.
    has_specifics = any(sp.backed and not (sp.kind == "name" and text.name_key(sp.text) in backing.system_names) for sp in specifics)
    if failed:
        status, reason = "unfulfilled", "; ".join(dict.fromkeys(sp.reason for sp in failed))
        certain = any(sp.kind not in _JUDGED_KINDS and not any(sp is j for j in judged) for sp in failed)
        confidence = CERTAIN if certain else JUDGED
    elif coverage >= STRONG_MATCH or (has_specifics and coverage >= WEAK_MATCH):
        status = "fulfilled"
        reason = f"backed by {', '.join(sorted(cited | {f.source for f in facts[-1:]}))} (coverage {coverage:.2f})"
        confidence = min(1.0, 0.5 + coverage)
    else:
        status = "partial"
        reason = f"only weakly matched (coverage {coverage:.2f}); nothing specific to check"
        confidence = coverage
    open_restated = next((sp.source for sp in specifics if sp.kind == "open_claim"), None)
    return CommitmentCheck(
        sentence=sentence,
        paragraph_id=paragraph_id,
        status=status,
        matched_claim=open_restated or (best_claim.id if best_claim is not None and claim_share >= WEAK_MATCH else None),
        evidence_ids=evidence_ids,
        reason=reason,
        confidence=round(confidence, 2),
        specifics=specifics,
    )
