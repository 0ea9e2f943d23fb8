"""The lexical layer shared by the agents, the evaluation and the paper reader.

Sentences, content words, numbers, names and claim sentences, found with
regular expressions: the analyst and the writer (`paracycle.agents`), the structural check
(`paracycle.eval.structural`) and the Markdown paper reader (`paracycle.paper`) all read
prose through it, so they agree on what a sentence or a claim is. The Markdown line escapes
live here too, written by `Draft.to_markdown` and undone by the paper reader. It imports
nothing of paracycle's, so anything may import it (the schemas included).

The structural check needs to know, without a model, which sentences of an abstract or
introduction commit the paper to something checkable, and which *specifics* each one names:
numbers and dataset/benchmark-like names. Those specifics are what an
overclaiming draft gets wrong, so they are checked one by one against the evidence; the
rest of the sentence is compared by content-word overlap.

Everything here is plain regular expressions and small word lists, on purpose: the check
must give the same answer on every machine and every run, and it must be cheap enough to
run on every draft the writer produces.

All of it must also stay linear in the length of the text, which may be anyone's paper: no
pattern may rescan a run it has already scanned, and a check made per match reads a bounded
window around it (never `text[: match.start()]`, which makes a loop over the matches
quadratic). tests/test_text_complexity.py times crafted inputs for each function.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from decimal import Decimal, InvalidOperation
from functools import lru_cache

# --------------------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------------------

# Words that end with a period without ending the sentence (compared lower-case, without
# the period). "ms" is absent: in a paper "14.2 ms." ends a sentence far more often than
# "Ms." starts a name. "etc" is deliberately absent: "..., etc. We" usually does end a sentence,
# and "etc. and" is already kept together because a boundary needs a capital after it.
ABBREVIATIONS = frozenset(
    {
        "e.g", "i.e", "al", "cf", "vs", "viz", "approx", "resp", "ca",
        "fig", "figs", "eq", "eqs", "sec", "secs", "tab", "tabs", "ref", "refs",
        "app", "alg", "thm", "def", "lem", "prop", "ch", "chap",
        "dr", "mr", "mrs", "prof", "st", "jr", "inc", "ltd", "co", "corp",
    }
)
# Abbreviations only when a number follows ("No. 3"), because "no." also ends sentences.
NUMBER_ABBREVIATIONS = frozenset({"no", "nos", "vol", "pp"})

# A candidate boundary: sentence punctuation, optional closing quotes/brackets, whitespace,
# then something that can start a sentence.
_BOUNDARY = re.compile(r"([.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences; abbreviations, initials and decimals do not split."""
    sentences: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        block = " ".join(block.split())
        start = 0
        for match in _BOUNDARY.finditer(block):
            if match.group(1) == "." and _is_abbreviation(block, match.start(), match.end()):
                continue
            sentences.append(block[start : match.end()].strip())
            start = match.end()
        if block[start:].strip():
            sentences.append(block[start:].strip())
    return sentences


_INITIALS = re.compile(r"[A-Z]|(?:[A-Za-z]\.)+[A-Za-z]")


def _is_abbreviation(block: str, period: int, after: int) -> bool:
    """Whether the period at `block[period]` belongs to an abbreviation, not a sentence end.

    `block` has single spaces between words (split_sentences normalises it), so the word
    before the period is found with rfind: only that word and the next character are read.
    """
    end = period
    while end and block[end - 1] == " ":
        end -= 1
    word = block[block.rfind(" ", 0, end) + 1 : end].lstrip("([\"'")
    last = word.lower()
    # Lower-casing never shortens a string, so the last five characters decide "et al".
    if last in ABBREVIATIONS or block[max(0, period - 5) : period].lower().endswith("et al"):
        return True
    if last in NUMBER_ABBREVIATIONS and block[after : after + 1].isdigit():
        return True
    # Initials ("J. Smith") and dotted abbreviations ("U.S.", "E.g."); a lower-case single
    # letter ("of size k. We") is a variable that may well end the sentence.
    return bool(_INITIALS.fullmatch(word))


# --------------------------------------------------------------------------------------
# Content words (for overlap scoring)
# --------------------------------------------------------------------------------------

STOPWORDS = frozenset(
    """
    a an the and or but nor of in on at to for from by with without as into onto over under
    is are was were be been being am do does did done has have had having
    this that these those it its itself we our ours us they their them he she his her you your
    which who whom whose what when where while than then so such both each all any some only
    very also can could may might will would should must shall not no there here about across
    between up out via per if though although because since thus hence however yet just
    more most other another same own e g i et al etc
    """.split()
)


def stem(word: str) -> str:
    """Light stemming: enough that "reduces", "reduced" and "reducing" compare equal."""
    if len(word) > 6 and word.endswith("ity"):
        word = word[:-3]  # "density" meets "dense", "capacity" "capacities"
    elif len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
    elif len(word) > 4 and word.endswith("ed"):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    # "cutting" -> "cutt" -> "cut"; "reduce" -> "reduc" so it meets "reduced" -> "reduc".
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


def content_words(text: str) -> set[str]:
    """Stemmed content words plus normalised numbers: the unit of overlap scoring."""
    words = {
        stem(w)
        for w in re.findall(r"[a-z][a-z0-9]*", text.lower())
        if len(w) > 1 and w not in STOPWORDS
    }
    return words | set(numbers(text))


def recall(words: set[str], other: set[str]) -> float:
    """Share of `words` that `other` also contains (0.0 when `words` is empty)."""
    return len(words & other) / len(words) if words else 0.0


# --------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------

# A number not glued to a word, identifier, version or URL ("F1", "CIFAR-10", "v2.1",
# "/2023"), with an optional percent or multiplier unit, and not followed by more word
# characters ("7B", "128k" are names or sizes, not results).
_NUMBER = re.compile(
    r"(?<![\w./:])(?<![A-Za-z]-)"
    r"(?P<value>\d{1,3}(?:,\d{3})+|\d+)(?P<fraction>\.\d+)?"
    r"(?P<unit>\s*%|\s*percent(?!age)|\s*per\s+cent|\s*×|x|\s+times\b|-?fold\b)?"
    r"(?![A-Za-z0-9]|\.\d)"
)
# References and enumeration are structure, not results: "Section 3", "Table 2", "(1)".
# The word ends right before the number, or before "(" ("Eq. (3)"); whitespace between them
# is skipped by _follows_reference, which searches only the last REFERENCE_WINDOW characters.
_REFERENCE_WORD = re.compile(
    r"\b(?:section|sec\.|sections|figure|fig\.|figs\.|table|tab\.|tables|eq\.|equation|"
    r"theorem|thm\.|lemma|corollary|proposition|definition|appendix|algorithm|alg\.|"
    r"chapter|step|stage|phase|line|part|version|no\.)$",
    re.IGNORECASE,
)
REFERENCE_WINDOW = 16  # longer than the longest reference word ("proposition")
# "[" and the digits, commas and spaces after it: a citation list is open inside such a run.
_CITATION_RUN = re.compile(r"\[[\d,\s]*")


def numbers(sentence: str) -> list[str]:
    """The sentence's result-like numbers, normalised: "40 %" -> "40%", "2.3×" -> "2.3x".

    Left out on purpose (documented judgement, see module docstring of structural.py):
    years (1900-2099 without a unit), references ("Table 2", "Section 3.1"), enumeration
    and citation markers ("(1)", "[12]"), and bare single-digit integers ("3 datasets",
    "2 components"), which are counts that evidence usually spells out in words.
    Spelled-out numbers ("one", "two") are never extracted.
    """
    found: dict[str, None] = {}  # ordered and without repeats; a list's `in` is quadratic
    citations = citation_spans(sentence)
    for match in _NUMBER.finditer(sentence):
        if match.group("unit") or not is_structural_number(
            sentence, match.start(), match.end(), match.group("value"), not match.group("fraction"), citations
        ):
            found.setdefault(_normalise(match))
    return list(found)


def citation_spans(sentence: str) -> list[tuple[int, int]]:
    """The spans of the sentence's open citation runs ("[3, 4"), in order (for
    is_structural_number)."""
    return [m.span() for m in _CITATION_RUN.finditer(sentence)]


def _normalise(match: re.Match[str]) -> str:
    raw = match.group("value").replace(",", "") + (match.group("fraction") or "")
    try:
        value = format(Decimal(raw).normalize(), "f")
    except InvalidOperation:  # pragma: no cover - the regex only matches digits
        value = raw
    unit = (match.group("unit") or "").strip().lower()
    if unit in {"%", "percent"} or unit.startswith("per"):
        return value + "%"
    if unit:
        return value + "x"
    return value


def is_structural_number(
    sentence: str, start: int, end: int, value: str, is_integer: bool, citations: list[tuple[int, int]]
) -> bool:
    """Whether the unitless number at `sentence[start:end]` is structure, not a result: a
    reference ("Table 2"), a citation or enumeration marker ("(1)", "[3, 4]"), a year, or a
    bare single digit. `citations` are citation_spans(sentence)."""
    if _follows_reference(sentence, start):
        return True
    if sentence[start - 1 : start] in ("(", "[") and sentence[end : end + 1] in (")", "]", ","):
        return True  # "(1)", "[12]", "[3, 4]"
    if sentence[max(0, start - 2) : start] == ", " and _in_citation(citations, start):
        return True  # the later numbers of a citation list "[3, 4]"
    value = value.replace(",", "")
    if is_integer and len(value) == 4 and 1900 <= int(value) <= 2099:
        return True  # a year
    return is_integer and len(value) == 1


def _follows_reference(sentence: str, start: int) -> bool:
    """Whether a reference word ("Table", "Eq.") ends right before `start`, possibly followed
    by whitespace and one "(": "Table 2", "Eq. (3)"."""
    end = _skip_space_back(sentence, start)
    if sentence[end - 1 : end] == "(":
        end = _skip_space_back(sentence, end - 1)
    # pos/endpos, not a slice: \b at the window's start still sees the character before it.
    return bool(_REFERENCE_WORD.search(sentence, max(0, end - REFERENCE_WINDOW), end))


def _skip_space_back(text: str, end: int) -> int:
    while end and text[end - 1].isspace():
        end -= 1
    return end


def _in_citation(citations: list[tuple[int, int]], start: int) -> bool:
    """Whether only digits, commas and whitespace stand between `start` and an earlier "["."""
    i = bisect_left(citations, (start,)) - 1
    return i >= 0 and citations[i][1] >= start


# --------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------

# Acronyms and capitalised words that do not name a dataset, benchmark or system a claim
# would have to back: field jargon and the words of cross-references.
GENERIC_NAMES = frozenset(
    """
    ai ml nlp cv rl llm llms lm lms gpu gpus cpu cpus tpu tpus api apis sota f1 ii iii iv
    table tables figure figures fig section sections appendix equation eq theorem lemma
    corollary proposition definition algorithm chapter we our the this these in on however
    method methods experiments results discussion conclusion conclusions introduction evaluation
    """.split()
)
_TOKEN = re.compile(r"(?<![\w-])[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*")


def named_entities(sentence: str) -> list[str]:
    """Dataset/benchmark-like names: "WMT14", "CIFAR-10", "ImageNet", "GLUE", "Wikipedia".

    A token counts when it mixes letters and digits, is in capitals (two or more), is
    CamelCase, or is capitalised somewhere other than the first word. Author names before
    "et al." and generic jargon ("LLMs", "GPU", "Table") are left out.
    """
    found: dict[str, None] = {}  # ordered and without repeats
    for index, match in enumerate(_TOKEN.finditer(sentence)):
        token = match.group(0)
        if token.lower() in GENERIC_NAMES:
            continue
        if sentence.startswith("et al", _SPACES.match(sentence, match.end()).end()):
            continue
        # After a colon or semicolon a capital starts a clause ("In summary: First, ..."),
        # so it says nothing about the word being a name.
        starts_clause = index == 0 or _after_clause_mark(sentence, match.start())
        if _looks_like_name(token, first_word=starts_clause):
            found.setdefault(token)
    return list(found)


_SPACES = re.compile(r"\s*")


def _after_clause_mark(sentence: str, start: int) -> bool:
    """Whether ":" or ";" comes right before `start`, but for spaces, quotes and "("."""
    while start and sentence[start - 1] in " \"'(":
        start -= 1
    return sentence[start - 1 : start] in (":", ";")


def _looks_like_name(token: str, *, first_word: bool) -> bool:
    letters = re.sub(r"[^A-Za-z]", "", token)
    if any(c.isdigit() for c in token):
        return True  # WMT14, CIFAR-10, GPT-4
    if sum(c.isupper() for c in letters) >= 2 and re.fullmatch(r"[A-Z0-9-]+s?", token):
        return True  # GLUE, MMLU, LLMs
    if any(c.islower() for c in letters) and any(c.isupper() for c in letters[1:]):
        return True  # ImageNet, SQuAD, FlashRoute
    return token[0].isupper() and not first_word  # ... on Wikipedia ...


def name_key(text: str) -> str:
    """Lower-case, hyphens dropped: "CIFAR-10" and "cifar10" compare equal."""
    return re.sub(r"(?<=\w)-(?=\w)", "", text.lower())


def name_is_backed(name: str, known_text_key: str) -> bool:
    """Whether `name` occurs as a whole word in text already passed through name_key()."""
    key = name_key(name)
    variants = {key, key[:-1]} if key.endswith("s") and len(key) > 3 else {key}
    return any(_occurs_as_word(v, known_text_key) for v in variants)


_ALNUM_RUN = re.compile(r"[a-z0-9]+")


def _occurs_as_word(key: str, text: str) -> bool:
    # A key of letters and digits occurs delimited by non-alphanumerics exactly when it is
    # one of the text's maximal alphanumeric runs: a set lookup instead of a scan of the
    # (possibly whole-paper) text for every name of every sentence.
    if _ALNUM_RUN.fullmatch(key):
        return key in _alnum_runs(text)
    return bool(re.search(rf"(?<![a-z0-9]){re.escape(key)}(?![a-z0-9])", text))


@lru_cache(maxsize=4)  # one backing text is asked about every name of every sentence
def _alnum_runs(text: str) -> frozenset[str]:
    return frozenset(_ALNUM_RUN.findall(text))


# --------------------------------------------------------------------------------------
# Claim sentences
# --------------------------------------------------------------------------------------

_COMPARISON = re.compile(
    r"\b(outperform\w*|surpass\w*|beats?|better than|worse than|more \w+ than|"
    r"state[- ]of[- ]the[- ]art|sota|faster|slower|fewer|speed-?ups?)\b",
    re.IGNORECASE,
)
# "reduces/cuts/improves ... by half/a factor/an order of magnitude/up to", within one
# clause (no "." or ";" between them); with a number after "by" the number alone already
# makes the sentence a claim. Two patterns and a loop (`_changes_by`), not one pattern with
# "[^.;]*?" between them: that one rescans the clause from every verb (quadratic).
_CHANGE_VERB = re.compile(r"\b(reduc|cut|improv|increas|decreas|lower|rais|boost|halv|doubl)\w*\b", re.IGNORECASE)
_BY_AMOUNT = re.compile(
    r"\bby\s+(half|a\s+(factor|third|quarter|wide margin|large margin)|an?\s+order|orders|up\s+to|\d)",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r"[.;]")
_RESULT_VERB = re.compile(
    r"\b(we|this (paper|work)|our (results?|experiments?|analysis|evaluation)|experiments|results)"
    r"\s+(also\s+|further\s+|formally\s+)?(show|prove|demonstrate|establish|confirm|verify|find)\b"
    r"|\b(achieves|achieved|guarantees|guaranteed|converges|converge to|provably|theorem)\b",
    re.IGNORECASE,
)


def is_claim_sentence(sentence: str) -> bool:
    """Whether the sentence commits the paper to something checkable.

    Results, result-like numbers, comparisons and result verbs make a claim; motivation
    ("Language models are widely used.") and plans ("We propose X.") do not.
    """
    return bool(
        numbers(sentence)
        or _COMPARISON.search(sentence)
        or _changes_by(sentence)
        or _RESULT_VERB.search(sentence)
    )


def _changes_by(sentence: str) -> bool:
    """A change verb and, later in the same clause, "by <amount>".

    Only the first verb of each clause is tried: any "by" after a later verb also comes
    after the first one. So each clause is scanned once.
    """
    pos = 0
    while verb := _CHANGE_VERB.search(sentence, pos):
        end = _CLAUSE_END.search(sentence, verb.end())
        stop = end.start() if end else len(sentence)
        if _BY_AMOUNT.search(sentence, verb.end(), stop):
            return True
        pos = stop + 1
    return False


def claim_sentences(text: str) -> list[str]:
    """The claim sentences of a piece of prose, in order."""
    return [s for s in split_sentences(text) if is_claim_sentence(s)]


# --------------------------------------------------------------------------------------
# Markdown lines (what Draft.to_markdown writes and paracycle.paper reads back)
# --------------------------------------------------------------------------------------

# A backslash before one of these at the start of a line is a Markdown escape.
_ESCAPABLE = "#`~<\\"


def markdown_line(text: str) -> str:
    """`text` as one line of Markdown that reads back (abstract or paragraph) as itself.

    Whitespace is collapsed (reading joins a paragraph's lines with single spaces anyway),
    and a line that would read as structure - a heading, a code fence, a comment or role
    marker - or that starts with an escape of its own gets a backslash in front.
    """
    line = " ".join(text.split())
    if line.startswith(("#", "```", "~~~", "<!--")) or markdown_unescape(line) != line:
        return "\\" + line
    return line


def markdown_title(title: str) -> str:
    """The "# Title" line; a title ending in '#' gets a closing '#' so that it keeps its own."""
    title = " ".join(title.split())
    return f"# {title} #" if title.endswith("#") else f"# {title}"


def markdown_unescape(line: str) -> str:
    """The line with the escape `markdown_line` may have put in front removed."""
    return line[1:] if len(line) > 1 and line[0] == "\\" and line[1] in _ESCAPABLE else line
