"""What a sentence asserts beyond its numbers: scope, causality, guarantees and the systems it
compares against, found by cue words.

Each finder returns `Cue`s: the cue as written, where it is, and the content words it bears
on (the words right after a quantifier, the compared system's words). The claim check
(`paracycle.eval.structural`) then asks whether the structure states the same thing: the
same kind of cue near the same words, or evidence of the right kind (a theorem for a
guarantee, a stated mechanism for a cause).

Plain regular expressions and word lists, linear in the text, like `paracycle.text`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from paracycle import quantities as Q
from paracycle import text


@dataclass(frozen=True)
class Cue:
    kind: str  # "scope", "guarantee", "causal" or "baseline"
    text: str  # as written: "any", "provably", "caused by", "silica gel"
    start: int
    words: frozenset[str]  # content words it bears on (stemmed, see text.content_words)
    family: str = ""  # which cue words count as the same ("every" ~ "each" ~ "all")


# --------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9'’-]*|\d[\d.,]*\d|\d|[.;:!?()\[\]]|,")
_CLAUSE_MARK = frozenset(".;:!?()[]")


@dataclass(frozen=True)
class Token:
    word: str  # lower-case
    start: int


def tokens(sentence: str) -> list[Token]:
    return [Token(m.group(0).lower(), m.start()) for m in _TOKEN.finditer(sentence)]


def _content(word: str) -> list[str]:
    """The stemmed content words of a token ("lsm-based": two), none for stopwords and
    punctuation."""
    if not word[0].isalnum() or word in text.STOPWORDS or len(word) < 2:
        return []
    return sorted(text.content_words(word.replace("-", " ")))


def words_after(toks: list[Token], index: int, limit: int = 3) -> frozenset[str]:
    """Up to `limit` content words after toks[index], within its clause."""
    found: list[str] = []
    for tok in toks[index + 1 : index + 1 + 3 * limit]:
        if tok.word in _CLAUSE_MARK or tok.word == ",":
            break
        found += _content(tok.word)
        if len(found) >= limit:
            break
    return frozenset(found)


def words_around(toks: list[Token], index: int, limit: int = 4) -> frozenset[str]:
    """Up to `limit` content words on each side of toks[index], within its clause."""
    found: set[str] = set(words_after(toks, index, limit))
    count = 0
    for tok in reversed(toks[max(0, index - 3 * limit) : index]):
        if tok.word in _CLAUSE_MARK:
            break
        found.update(_content(tok.word))
        count += 1
        if count == limit:
            break
    return frozenset(found)


# --------------------------------------------------------------------------------------
# Negation
# --------------------------------------------------------------------------------------

_NEGATIONS = frozenset(
    {"no", "not", "without", "never", "nor", "neither", "hardly", "lack", "lacks", "lacking", "cannot", "free"}
)


def negated(toks: list[Token], index: int, window: int = 3) -> bool:
    """Whether one of the `window` words before toks[index] negates it ("without any
    loss", "not every", "offers no guarantee")."""
    for tok in toks[max(0, index - window) : index]:
        if tok.word in _NEGATIONS or tok.word.endswith("n't"):
            return True
    return False


def _followed_by_number(toks: list[Token], index: int) -> bool:
    """ "all 113 queries", "every 15 minutes", "all four languages": a counted set, whose
    count the number rules check."""
    for tok in toks[index + 1 : index + 3]:
        if tok.word[0].isdigit() or tok.word.split("-")[0] in _COUNT_WORDS:
            return True
        if tok.word not in {"the", "of", "its", "their", "our"}:
            return False
    return False


_COUNT_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve dozen hundred both half halves".split()
)

# --------------------------------------------------------------------------------------
# Scope
# --------------------------------------------------------------------------------------

# Quantifiers that stretch a result over more than the evidence covers. "all" only after a
# preposition ("on all benchmarks", "for all models"), where it names a scope; elsewhere
# ("all code is released") it rarely claims anything.
_SCOPE = re.compile(
    r"\b(?:(?P<prep>on|for|in|across|to|over|under)\s+all|every|any|everywhere|whatever|whichever|"
    r"regardless\s+of|universal(?:ly)?|no\s+matter|in\s+all\s+settings)\b",
    re.IGNORECASE,
)
SCOPE_FAMILY = "all"  # every ~ all ~ each ~ any ~ always: the same scope in the backing
_SCOPE_IDIOMS = frozenset({"other", "time", "case", "more", "longer", "but"})  # "any other", "all but two"


def scope_cues(sentence: str, toks: list[Token] | None = None) -> list[Cue]:
    toks = toks if toks is not None else tokens(sentence)
    starts = {t.start: i for i, t in enumerate(toks)}
    cues = []
    for m in _SCOPE.finditer(sentence):
        first = m.start("prep") if m.group("prep") else m.start()
        word_start = m.end() - len(m.group(0).split()[-1])
        index = starts.get(word_start)
        if index is None or negated(toks, starts.get(first, index)) or _followed_by_number(toks, index):
            continue
        if index + 1 < len(toks) and toks[index + 1].word in _SCOPE_IDIOMS:
            continue
        # "any workload": the words after; "rural regions everywhere": the words before.
        bears_on = words_after(toks, index, 2) or words_around(toks, index, 3)
        cues.append(Cue("scope", m.group(0), m.start(), bears_on, SCOPE_FAMILY))
    return cues


# --------------------------------------------------------------------------------------
# Guarantees
# --------------------------------------------------------------------------------------

_GUARANTEE = re.compile(
    r"\b(?P<word>prov(?:e|es|ed|en|ing|ably|able)|proofs?|guarantee[sd]?|guaranteeing|always|never|"
    r"optimal(?:ly|ity)?|cannot\s+fail|certain(?:ly)?\s+(?:to|will)|(?:is|are)\s+sound)\b",
    re.IGNORECASE,
)
_SHOWN = re.compile(r"\b(?:prove[sd]?|show(?:s|ed|n)?|demonstrate[sd]?|guarantee[sd]?|ensures?)\s+that\b", re.IGNORECASE)
_PROOF_REFERENCE = re.compile(r"\s+of\s+(?:theorem|lemma|proposition|corollary)\b", re.IGNORECASE)
# "never" as a guarantee is backed by a negation near the same words in the structure.
_GUARANTEE_FAMILY = {"always": "all", "never": "never"}


def guarantee_cues(sentence: str, toks: list[Token] | None = None) -> list[Cue]:
    toks = toks if toks is not None else tokens(sentence)
    starts = {t.start: i for i, t in enumerate(toks)}
    cues = []
    for m in _GUARANTEE.finditer(sentence):
        index = starts.get(m.start())
        if index is None:
            continue
        word = m.group("word").lower()
        if word != "never" and negated(toks, index):
            continue  # "offers no guarantee", "is not always"
        if _PROOF_REFERENCE.match(sentence, m.end()):
            continue  # "the proof of Theorem 1": where a proof is, not a promise
        family = _GUARANTEE_FAMILY.get(word, "guarantee")
        if family != "guarantee" and _SHOWN.search(sentence, max(0, m.start() - 60), m.start()):
            family = "guarantee"  # "we show that it can never ...": a proof's promise
        cues.append(Cue("guarantee", m.group(0), m.start(), words_around(toks, index, 3), family))
    return cues


# --------------------------------------------------------------------------------------
# Causality
# --------------------------------------------------------------------------------------

_CAUSAL = re.compile(
    r"\b(because|due\s+to|caused\s+by|causes?|causing|leads?\s+to|led\s+to|results\s+in|resulted\s+in|resulting\s+in|(?:to|will|can|may|could|would)\s+result\s+in|"
    r"drives?|driven\s+by|determines?|determined\s+by|responsible\s+for|explains?|explained\s+by|"
    r"accounts?\s+for(?!\s+(?:\d|about|roughly|nearly|over|more|less|almost))|owing\s+to|thanks\s+to|attributable\s+to|stems?\s+from|underlies)\b",
    re.IGNORECASE,
)
# In the structure, a mechanism is stated with any of these as well ("so", "since",
# "offsetting") and by the fields that exist to state one (insight, rationale).
FACT_CAUSAL = re.compile(
    _CAUSAL.pattern[:-3] + r"|so|since|thus|therefore|hence|offset\w*|enabl\w+|prevent\w*|makes?|keeps?|lets?|"
    r"lowers?|raises?|increases?|reduces?|accelerates?|slows?|triggers?|drains?|shifts?)\b",
    re.IGNORECASE,
)
# A correlation: what a causal claim most often overreaches from.
CORRELATION = re.compile(
    r"\b(?:correlat\w*|coincid\w*|associated\s+with|association|(?:pearson|spearman)\b|[rρ]\s*=\s*-?0?\.\d|r²|r2\s*=)",
    re.IGNORECASE,
)


def causal_cues(sentence: str, toks: list[Token] | None = None) -> list[Cue]:
    toks = toks if toks is not None else tokens(sentence)
    starts = {t.start: i for i, t in enumerate(toks)}
    cues = []
    for m in _CAUSAL.finditer(sentence):
        index = starts.get(m.start())
        if index is None or negated(toks, index, 2):
            continue
        cues.append(Cue("causal", m.group(0), m.start(), words_around(toks, index, 4), "causal"))
    return cues


# --------------------------------------------------------------------------------------
# Compared systems
# --------------------------------------------------------------------------------------

# A cue after which the sentence names what it beats or matches. "over" counts only after a
# word of advantage; "as well as" and "than" after a plain adjective are too often something
# else, so "than" counts only after a comparative of performance.
_COMPARED = re.compile(
    r"(?<![\w-])(?:outperform\w*|beats|beating|beat(?=\s+(?:the|all|both|every|(?-i:[A-Z])))|surpass\w*|match(?:es|ed)|rivals?|"
    r"(?:better|worse|faster|slower|fewer|more|less|lower|higher|cheaper|stronger|larger|smaller|earlier|"
    r"later|longer|shorter|greater|more\s+accurate\w*|more\s+reliabl\w*)(?:\s+[a-z][\w-]*){0,3}?\s+than|"
    r"(?:advantage|improvement|gains?|speed-?up)\s+over|on\s+par\s+with)(?![\w-])",
    re.IGNORECASE,
)
_OBJECT_END = frozenset(
    {"by", "at", "in", "on", "while", "whereas", "which", "who", "that", "across", "under", "for", "with",
     "when", "without", "although", "though", "but", "so", "because", "over", "after", "during"}
)
_OBJECT_SKIP = frozenset({"the", "a", "an", "both", "either", "its", "their", "all", "even", "existing"})


def baseline_cues(sentence: str, toks: list[Token] | None = None) -> list[Cue]:
    """What the sentence compares against, one cue per listed system ("FlakeFlagger,
    iDFlakies and rerunning each failure 5 times": three). Numbers are left to the number
    rules: an item that holds one is not a system."""
    toks = toks if toks is not None else tokens(sentence)
    starts = {t.start: i for i, t in enumerate(toks)}
    cues = []
    for m in _COMPARED.finditer(sentence):
        last_word_start = m.end() - len(m.group(0).split()[-1])
        index = starts.get(last_word_start)
        if index is None:
            continue
        for item_text, start, words in _listed_items(sentence, toks, index + 1):
            cues.append(Cue("baseline", item_text, start, words, "baseline"))
    return cues


# Words without which a short phrase holds no quantity (a cheap test before reading it).
_NUMERIC_HINT = re.compile(
    r"\b(?:twice|times|fold|halv\w*|double\w*|tripl\w*|order|several|many|fraction|dozen|hundred|percent|"
    r"eleven|twelve|\w+teen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    r"thirds?|quarters?|fifths?|tenths?)\b",
    re.IGNORECASE,
)


def _listed_items(sentence: str, toks: list[Token], index: int) -> list[tuple[str, int, frozenset[str]]]:
    items: list[list[Token]] = [[]]
    for tok in toks[index : index + 40]:
        if tok.word in _CLAUSE_MARK or tok.word in _OBJECT_END:
            break
        if tok.word in {",", "and", "or", "nor"}:
            items.append([])
            continue
        items[-1].append(tok)
    found = []
    for item in items:
        body = [t for t in item if t.word not in _OBJECT_SKIP]
        if not body:
            continue
        span = sentence[item[0].start : item[-1].start + len(item[-1].word)]  # "an order of magnitude", whole
        numeric = any(t.word[0].isdigit() or t.word in _COUNT_WORDS for t in body)
        if numeric or (_NUMERIC_HINT.search(span) and (Q.quantities(span) or Q.multipliers(span))):
            break  # "more than 1.5 km/s", "more than twice as dense": a number, which the number rules check
        words = frozenset(w for t in body for w in _content(t.word))
        if words:
            start, end = body[0].start, body[-1].start + len(body[-1].word)
            found.append((sentence[start:end], start, words))
    return found
