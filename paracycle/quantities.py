"""Numbers as quantities: a value, a dimension, how precisely it was stated, and a bound.

The claim check compares what a sentence says with what the structure backs. "Roughly 78%"
for 77.7%, "under 10 ms" for 0.01 s, "four in five" for 81%, "nearly halves" for 192 s ->
101 s and "eighteen" for 18 are all the same fact; "15.08%" for 5.08% and "an order of
magnitude" for 2.7x are not. So every number a text states, in digits or in words, becomes a
Quantity:

- `value` in a base unit of its dimension (seconds, metres, grams, bytes, money units,
  percent, a ratio), so that units convert;
- `precision`, half of the last stated digit in base units ("78%" -> 0.5%), so that faithful
  rounding compares equal and nothing else does;
- `bound`: "=", "~" (a hedge: about, roughly, nearly), "<" (under, less than, up to) or ">"
  (over, more than, at least), read from the words just before the number.

Multiplier words with no digits ("halves", "twice", "several times", "an order of
magnitude") are quantities of dimension "x" whose value is a ratio (`multipliers`).

Hand-written on purpose: quantulum3 and pint were considered, but quantulum3 ships a
classifier model (non-deterministic across versions, 20 MB) and pint parses units, not the
hedges and multiplier words a claim turns on. Like `paracycle.text`, everything here is
linear in the text: each pattern scans once and each match reads a bounded window.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from dataclasses import dataclass

from paracycle import text

# --------------------------------------------------------------------------------------
# The quantity
# --------------------------------------------------------------------------------------

# A dimension that converts ("time", "length", ...) compares in base units; "" is a number
# with no unit we know (°C, mmHg, "per m²"): it compares by value alone.
PERCENT, RATIO, PLAIN, POINTS = "%", "x", "", "points"


@dataclass(frozen=True)
class Quantity:
    value: float
    dim: str
    precision: float  # half the last stated digit, in base units
    bound: str  # "=", "~", "<" or ">"
    text: str  # as written, for the verdict's reason
    start: int
    end: int
    spelled: bool = False  # "eighteen", "four in five", "twice": no digits
    derived: bool = False  # computed from two stated numbers (see `derived`), not stated
    share: bool = False  # a plain number in [0, 1] that reads as a share ("0.81 of days")
    written: float | None = None  # the value in the unit it was written in ("11 hours": 11)

    @property
    def as_written(self) -> float:
        return self.value if self.written is None else self.written


# Relative slack of a hedge ("about 40%" covers 36-44%) and of a multiplier word ("doubles"
# covers 1.7x-2.3x; "nearly halves" 0.53x). Rounding alone is exact to half the last digit.
HEDGE_SLACK = 0.10
MULTIPLIER_SLACK = 0.15
JUST_SLACK = 0.15  # "just over a quarter" covers 25-29%
SPELLED_FRACTION_SLACK = 0.15
# "Order of magnitude": what a careful reader accepts for "an order of magnitude" (10x).
ORDER_OF_MAGNITUDE = (6.0, 16.0)
# "Several times": more than two and a half, less than an order of magnitude.
SEVERAL = (2.5, 10.0)

# --------------------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------------------

# unit as written (lower-case) -> (dimension, factor to the base unit)
_UNITS: dict[str, tuple[str, float]] = {
    "%": (PERCENT, 1), "percent": (PERCENT, 1), "per cent": (PERCENT, 1),
    "percentage points": (PERCENT, 1), "percentage point": (PERCENT, 1), "pp": (PERCENT, 1),
    # "points" of what the sentence does not say (SOH, BLEU, F1, percentage): by value.
    "points": (POINTS, 1), "point": (POINTS, 1), "pts": (POINTS, 1),
    "×": (RATIO, 1), "x": (RATIO, 1), "times": (RATIO, 1), "fold": (RATIO, 1),
    "ns": ("time", 1e-9), "µs": ("time", 1e-6), "μs": ("time", 1e-6), "us": ("time", 1e-6),
    "ms": ("time", 1e-3), "milliseconds": ("time", 1e-3), "millisecond": ("time", 1e-3),
    "s": ("time", 1), "sec": ("time", 1), "secs": ("time", 1), "seconds": ("time", 1), "second": ("time", 1),
    "min": ("time", 60), "mins": ("time", 60), "minutes": ("time", 60), "minute": ("time", 60),
    "h": ("time", 3600), "hr": ("time", 3600), "hrs": ("time", 3600), "hours": ("time", 3600),
    "hour": ("time", 3600), "days": ("time", 86400), "day": ("time", 86400),
    "weeks": ("time", 604800), "week": ("time", 604800),
    "months": ("time", 2629800), "month": ("time", 2629800),
    "years": ("time", 31557600), "year": ("time", 31557600),
    "nm": ("length", 1e-9), "µm": ("length", 1e-6), "μm": ("length", 1e-6), "mm": ("length", 1e-3),
    "cm": ("length", 1e-2), "m": ("length", 1), "km": ("length", 1e3),
    "metres": ("length", 1), "meters": ("length", 1), "kilometres": ("length", 1e3), "kilometers": ("length", 1e3),
    "ng": ("mass", 1e-9), "µg": ("mass", 1e-6), "μg": ("mass", 1e-6), "mg": ("mass", 1e-3),
    "g": ("mass", 1), "kg": ("mass", 1e3), "tonnes": ("mass", 1e6), "tons": ("mass", 1e6),
    "°c": ("temperature", 1), "k": ("temperature", 1), "bar": ("pressure", 1e5), "mpa": ("pressure", 1e6),
    "kpa": ("pressure", 1e3), "pa": ("pressure", 1), "atm": ("pressure", 101325),
    "l": ("volume", 1e-3), "litres": ("volume", 1e-3), "litre": ("volume", 1e-3), "liters": ("volume", 1e-3),
    "liter": ("volume", 1e-3), "ml": ("volume", 1e-6), "m³": ("volume", 1),
    "v": ("voltage", 1), "mv": ("voltage", 1e-3), "kv": ("voltage", 1e3),
    "w": ("power", 1), "kw": ("power", 1e3), "mw": ("power", 1e6), "gw": ("power", 1e9),
    "wh": ("energy", 3600), "kwh": ("energy", 3.6e6), "mwh": ("energy", 3.6e9), "gwh": ("energy", 3.6e12),
    "hz": ("frequency", 1), "khz": ("frequency", 1e3), "mhz": ("frequency", 1e6), "ghz": ("frequency", 1e9),
    "cents": ("money", 0.01), "cent": ("money", 0.01),
    "bytes": ("data", 1), "kb": ("data", 1e3), "mb": ("data", 1e6), "gb": ("data", 1e9),
    "tb": ("data", 1e12), "kib": ("data", 1024), "mib": ("data", 1024**2), "gib": ("data", 1024**3),
    "tib": ("data", 1024**4),
}
_PER_UNIT = re.compile(r"/([A-Za-z]+)")
_RATES = {
    "m/s": ("speed", 1.0), "km/s": ("speed", 1000.0), "km/h": ("speed", 1 / 3.6), "m/min": ("speed", 1 / 60),
    "mm/s": ("speed", 1e-3),
}
# Every unit as a lower-case word: a number's condition ("11.9 mmHg under usual care")
# starts after them.
UNIT_WORDS = frozenset(u for u in _UNITS if u.isalpha()) | {"mmhg", "kj", "mol"}
# Longest first, so that "ms" wins over "m" and "percentage points" over "points"; a unit
# must end where a word ends ("5 sketches" has no unit "s").
_UNIT_PATTERN = "|".join(
    re.escape(u) for u in sorted(_UNITS, key=len, reverse=True) if u not in {"×", "%", "k", "°c"}
) + r"|°\s?C|K(?![A-Za-z])"
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "k": 1e3, "m": 1e6, "bn": 1e9}
_CURRENCY = r"(?:US\$|\$|€|£)"

_NUMBER = re.compile(
    rf"(?P<currency>{_CURRENCY})?"
    r"(?:(?<![\w.,])(?P<sign>[-−])(?=\d))?"  # "−10 °C"; not the dash of a range "5.6-10.0"
    r"(?<![\w./:])(?<![A-Za-z]-)"
    r"(?P<value>\d{1,3}(?:,\d{3})+|\d+)(?P<fraction>\.\d+)?"
    r"(?:\s?(?P<scale>thousand|million|billion|trillion|bn)\b)?"
    rf"(?:(?P<unit>\s?%|\s?×|x(?![A-Za-z0-9])|[\s-]?(?:{_UNIT_PATTERN})(?![A-Za-z0-9]))|(?=-fold)"
    # a time unit of someone or something: "300 GPU-hours", "17 machine-days"
    r"|\s[A-Za-z]+-(?P<tunit>minutes?|hours?|days?|weeks?|months?|years?)(?![A-Za-z0-9]))?"
    r"(?!-olds?\b)"  # "18-24-year-olds": an age, not a duration
    r"(?P<fold>-fold\b)?"
    r"(?![A-Za-z0-9]|\.\d|:\d)",  # not a clock time "15:00"
    re.IGNORECASE,
)

# --------------------------------------------------------------------------------------
# Bounds and hedges: the words right before a number
# --------------------------------------------------------------------------------------

_HEDGE_WORDS = (
    "about", "around", "roughly", "approximately", "approx.", "nearly", "almost", "some", "close to", "~", "≈",
)
_BOUNDS = {
    "more than": ">", "over": ">", "above": ">", "at least": ">", "exceeding": ">", "upwards of": ">",
    "in excess of": ">", "less than": "<", "fewer than": "<", "under": "<", "below": "<",
    "at most": "<", "up to": "<", "within": "<", "no more than": "<",
    "just over": "~>", "just above": "~>", "just under": "~<", "just below": "~<",
    **{word: "~" for word in _HEDGE_WORDS},
}
# Longest first: "no more than" before "more than", "just over" before "over".
_BOUND_PHRASES = sorted(_BOUNDS, key=len, reverse=True)
_TRAILING = re.compile(r"(?:\s|\b(?:an?|the)\b|US\$|\$|€|£)*$", re.IGNORECASE)
BOUND_WINDOW = 24  # characters before a number searched for a hedge ("approximately US$")


def _bound_before(txt: str, start: int) -> str:
    """The bound the words right before a number put on it: "about 40%" "~", "under 10 ms"
    "<". Plain string tests on a short window: this runs once per number of a paper."""
    window = txt[max(0, start - BOUND_WINDOW) : start].lower()
    window = window[: _TRAILING.search(window).start()]
    for phrase in _BOUND_PHRASES:
        if window.endswith(phrase) and (len(window) == len(phrase) or not window[-len(phrase) - 1].isalnum()):
            return _BOUNDS[phrase]
    return "="


# --------------------------------------------------------------------------------------
# Numbers in digits
# --------------------------------------------------------------------------------------


# After "N times", what makes it a ratio: "3.9 times more", "2.2 times higher", "1.06
# times the memory", "nine times as fast".
_RATIO_AFTER = re.compile(
    r"\s+(?:more|less|fewer|higher|lower|faster|slower|larger|smaller|greater|bigger|longer|shorter|"
    r"cheaper|as|the|that|than|over|better|worse)\b",
    re.IGNORECASE,
)


def _decimals(fraction: str | None) -> int:
    return len(fraction) - 1 if fraction else 0


def _digit_quantity(txt: str, match: re.Match[str]) -> Quantity | None:
    raw = match.group("value").replace(",", "")
    fraction = match.group("fraction") or ""
    value = float(raw + fraction) * (-1 if match.group("sign") else 1)
    scale = _SCALES.get((match.group("scale") or "").lower(), 1.0)
    unit = (match.group("unit") or match.group("tunit") or "").strip(" -").lower()
    if match.group("fold"):
        unit = "fold"
    unit = " ".join(unit.split())
    unit = "°c" if unit.replace(" ", "") == "°c" else unit
    dim, factor = _UNITS.get(unit, (PLAIN, 1.0))
    offset = 273.15 if unit == "°c" else 0.0  # temperatures compare in kelvin
    if unit == "times" and not _RATIO_AFTER.match(txt, match.end()):
        dim = PLAIN  # "rerunning each test 5 times": a count, not a ratio
    per = _PER_UNIT.match(txt, match.end()) if unit else None
    if per:
        # "144 km/h", "0.31 g/g": a rate, not a length or a mass; speeds convert, other rates
        # compare by value.
        rate = f"{unit}/{per.group(1).lower()}"
        dim, factor = _RATES.get(rate, (PLAIN, 1.0))  # "0.31 g/g" is "0.31 g of water per g": by value
    if match.group("currency"):
        dim, factor = "money", 1.0
    start = match.start("currency") if match.group("currency") else match.start("sign") if match.group("sign") else match.start("value")
    factor *= scale
    # A trailing "x"/"×" on a plain integer with no space is usually part of a name
    # ("4x4") only when a digit follows, which the pattern already refuses.
    return Quantity(
        value=value * factor + offset,
        dim=dim,
        precision=0.5 * 10 ** -_decimals(fraction) * factor,
        bound=_bound_before(txt, start),
        text=match.group(0).strip(),
        start=start,
        end=match.end(),
        written=value * scale,
        share=dim == PLAIN and value <= 1 and _is_share(txt, start, match.end()),
    )


_SHARE_AFTER = re.compile(r"\s+of\b")
_SHARE_BEFORE = re.compile(r"\b(?:proportion|share|fraction)\b", re.IGNORECASE)


def _is_share(txt: str, start: int, end: int) -> bool:
    return bool(_SHARE_AFTER.match(txt, end) or _SHARE_BEFORE.search(txt, max(0, start - 60), start))


def _is_structural(txt: str, match: re.Match[str], q: Quantity, citations: list[tuple[int, int]]) -> bool:
    """References, years, citations and bare single digits are not results (the rules of
    text.numbers)."""
    if q.dim != PLAIN or match.group("currency"):
        return False
    return text.is_structural_number(
        txt, match.start("value"), match.end(), match.group("value"), not match.group("fraction"), citations
    )


# --------------------------------------------------------------------------------------
# Numbers in words
# --------------------------------------------------------------------------------------

_WORD_VALUES = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "hundred": 100, "a hundred": 100, "one hundred": 100, "a dozen": 12, "dozen": 12,
}
_FRACTION_WORDS = {
    "half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fifth": 5, "fifths": 5,
    "sixth": 6, "sixths": 6, "seventh": 7, "eighth": 8, "tenth": 10, "tenths": 10,
}
_CARDINAL = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    r"a hundred|one hundred|hundred|a dozen|dozen)"
)
_SPELLED = re.compile(
    # "four in five", "one out of three"
    rf"\b(?P<num>{_CARDINAL}|\d+)(?:\s+[a-z][\w-]*){{0,2}}?\s+(?:in|out of)\s+(?P<den>a hundred|{_CARDINAL}|\d+)\b(?![.,]?\d|\s?%)"
    # "a week and a half", "two days and a half"
    rf"|\b(?P<uwhole>an?|{_CARDINAL})\s+(?P<uunit>{_UNIT_PATTERN})\s+and\s+a\s+half\b"
    # "a fifth", "two thirds", "three quarters", "half a percent", "two and a half days"
    rf"|(?<!\band\s)\b(?P<fnum>a|an|one|two|three|{_CARDINAL})[\s-]+(?P<frac>half|halves|thirds?|quarters?|fifths?|sixths?|sevenths?|eighths?|tenths?)\b"
    rf"(?:\s+(?:of\s+)?an?\s+(?:(?P<funit>percent|per cent|percentage point|{_UNIT_PATTERN})\b(?!['’]s)|(?P<fother>[a-z]+)\b(?!['’]s)))?"
    rf"|\bhalf\s+an?\s+(?P<hunit>percent|per cent|percentage point|{_UNIT_PATTERN})\b"
    rf"|\b(?P<whole>{_CARDINAL}|\d+)\s+and\s+a\s+half\s+(?P<hwunit>{_UNIT_PATTERN})\b"
    # "eighteen", "twenty-one", "three minutes", "a day", "thirty-day"
    rf"|\b(?P<card>{_CARDINAL}(?:-(?:one|two|three|four|five|six|seven|eight|nine))?|an?)"
    rf"(?:[\s-]+(?P<cunit>{_UNIT_PATTERN}))?\b",
    re.IGNORECASE,
)


# After a fraction word, a noun makes it an ordinal ("a third arm"); these words do not.
_ORDINAL_NOUN = re.compile(
    r"\s+(?!(?:of|more|less|fewer|lower|higher|below|above|as|than|and|or|to|in|by|on|at|for|with|from|"
    r"that|the|this|its|their|a|an|less|faster|slower|longer|shorter|cheaper|smaller|larger)\b)[a-z]+\b"
)
_RATE_BEFORE = re.compile(r"(?:\d|\b(?:once|twice|times|per))\s*$", re.IGNORECASE)


def _cardinal(word: str) -> float | None:
    word = word.lower()
    if word.isdigit():
        return float(word)
    if "-" in word:
        tens, _, ones = word.partition("-")
        if tens in _WORD_VALUES and ones in _WORD_VALUES:
            return float(_WORD_VALUES[tens] + _WORD_VALUES[ones])
    return float(_WORD_VALUES[word]) if word in _WORD_VALUES else None


def _spelled_quantity(txt: str, m: re.Match[str]) -> Quantity | None:
    bound = _bound_before(txt, m.start())
    if m.group("num"):
        num, den = _cardinal(m.group("num")), _cardinal(m.group("den"))
        if not num or not den or num >= den:
            return None  # "one carrier in one city" is no share
        return _spelled(100 * num / den, PERCENT, 100 / den / 2, bound, m)
    if m.group("uwhole"):
        whole = _cardinal(m.group("uwhole")) if m.group("uwhole").lower() not in {"a", "an"} else 1.0
        dim, factor = _UNITS.get(m.group("uunit").lower(), (PLAIN, 1.0))
        return None if whole is None else _spelled((whole + 0.5) * factor, dim, 0.25 * factor, bound, m)
    if m.group("frac"):
        if not (m.group("funit") or m.group("fother")) and _ORDINAL_NOUN.match(txt, m.end()):
            return None  # "a third arm", "a fifth trial": an ordinal, not a share
        num = _cardinal(m.group("fnum")) or 1.0
        den = _FRACTION_WORDS[m.group("frac").lower()]
        share = num / den
        if m.group("fother"):
            # "a quarter of a degree": a plain 0.25 of a unit we do not read.
            q = _spelled(share, PLAIN, share / 10, bound, m)
            return Quantity(q.value, q.dim, q.precision, q.bound, q.text, q.start, q.end, spelled=True, share=True)
        if m.group("funit"):
            dim, factor = _UNITS.get(m.group("funit").lower(), (PERCENT, 1.0))
            return _spelled(share * factor, dim, share * factor / 10, bound, m)
        # "a tenth" is said of 8.5-11.5%, "a third" of 28-38%: a writer's fraction is a rough one.
        return _spelled(100 * share, PERCENT, 100 * share * SPELLED_FRACTION_SLACK, bound, m)
    if m.group("hunit"):
        dim, factor = _UNITS.get(m.group("hunit").lower(), (PLAIN, 1.0))
        return _spelled(0.5 * factor, dim, 0.1 * factor, bound, m)
    if m.group("whole"):
        whole = _cardinal(m.group("whole"))
        dim, factor = _UNITS.get(m.group("hwunit").lower(), (PLAIN, 1.0))
        return None if whole is None else _spelled((whole + 0.5) * factor, dim, 0.25 * factor, bound, m)
    card = m.group("card")
    value = _cardinal(card) if card.lower() not in {"a", "an"} else 1.0
    unit = (m.group("cunit") or "").lower()
    if value is None or (card.lower() in {"a", "an"} and unit in {"second", "m", "g", "min", "h", "v", "w", "l"}):
        return None  # "a second stroke" is no quantity
    if card.lower() in {"a", "an"} and txt[m.end() : m.end() + 2] in ("'s", "’s"):
        return None  # "a tenth of a week's admissions"
    if card.lower() in {"a", "an"} and _RATE_BEFORE.search(txt, max(0, m.start() - 20), m.start()):
        return None  # "2,100 a day", "once a month": a rate, not a quantity
    if unit:
        dim, factor = _UNITS.get(unit, (PLAIN, 1.0))
        if dim in (PERCENT, RATIO):
            return None  # "three times", "two points": multipliers read these
        return _spelled(value * factor, dim, 0.5 * factor, bound, m)
    # A bare cardinal: only from ten up (like bare single digits, smaller counts are
    # structure: "three datasets"), and never "a"/"an".
    if card.lower() in {"a", "an"} or value < 10:
        return None
    return _spelled(value, PLAIN, 0.5, bound, m)


def _spelled(value: float, dim: str, precision: float, bound: str, m: re.Match[str]) -> Quantity:
    return Quantity(value, dim, precision, bound, m.group(0), m.start(), m.end(), spelled=True)


# --------------------------------------------------------------------------------------
# Multiplier words
# --------------------------------------------------------------------------------------

# After "three times": what makes it a ratio ("three times the hazard", "nine times faster"),
# not a count ("four times a minute").
_COMPARATIVE_AFTER = (
    r"\s+(?:more|less|fewer|higher|lower|faster|slower|larger|smaller|greater|bigger|longer|shorter|"
    r"cheaper|as|the|that|than|over|better|worse)\b"
)
_MULTIPLIER = re.compile(
    r"\b(?:(?P<more>more than|over|at least|less than|fewer than|under|nearly|almost|roughly|about|"
    r"around|approximately|close to)\s+)?"
    r"(?:(?P<half>halv(?:e|es|ed|ing)|(?:by|in)\s+half|half\s+(?:the|as)\b)"
    r"|(?P<double>doubl(?:e|es|ed|ing)|twice(?=\s+(?:as|the|that|than|more|higher|lower|faster|slower|larger|over)\b))"
    r"|(?P<triple>tripl(?:e|es|ed|ing)|thrice)"
    r"|(?P<quad>quadrupl(?:e|es|ed|ing))"
    r"|(?P<order>an\s+order\s+of\s+magnitude|orders\s+of\s+magnitude)"
    r"|(?P<several>(?:several|many)(?:[\s-]+times|-fold))"
    rf"|(?<!\band\s)(?<!\bto\s)(?<!\bor\s)(?P<ntimes>{_CARDINAL})(?:-fold\b|[\s-]+fold\b|\s+times(?={_COMPARATIVE_AFTER}))"
    r"|(?P<fraction>a\s+(?:small\s+)?fraction\s+of))\b",
    re.IGNORECASE,
)
_HEDGES = {"nearly", "almost", "roughly", "about", "around", "approximately", "close to"}


@dataclass(frozen=True)
class Multiplier:
    """A ratio stated in words; `low`-`high` is the range of true ratios it fits (always
    stated as >= 1: "halves" and "doubles" both mean a factor of 2, direction aside)."""

    text: str
    start: int
    end: int
    low: float
    high: float
    key: str = ""  # which word it is: "half", "double", "order", "several", "3 times", ...

    def fits(self, ratio: float) -> bool:
        r = ratio if ratio >= 1 else 1 / ratio if ratio > 0 else math.inf
        return self.low <= r <= self.high


def multipliers(txt: str) -> list[Multiplier]:
    found = []
    for m in _MULTIPLIER.finditer(txt):
        modifier = (m.group("more") or "").lower()
        low, high = _multiplier_range(m, modifier)
        if low is not None:
            key = next((g for g in ("half", "double", "triple", "quad", "order", "several", "fraction") if m.group(g)), "")
            key = key or f"{_cardinal(m.group('ntimes'))} times"
            found.append(Multiplier(m.group(0), m.start(), m.end(), low, high, key))
    return found


def _multiplier_range(m: re.Match[str], modifier: str) -> tuple[float | None, float]:
    if m.group("fraction"):
        return 3.0, math.inf  # "a fraction of the cost": at most a third of it
    if m.group("order"):
        if m.group("order").lower().startswith("orders"):
            return 60.0, math.inf
        low, high = ORDER_OF_MAGNITUDE
        return (10.0 * 0.97, math.inf) if modifier in {"more than", "over", "at least"} else (low, high)
    if m.group("several"):
        return SEVERAL
    factor = (
        2.0 if m.group("half") or m.group("double") else
        3.0 if m.group("triple") else
        4.0 if m.group("quad") else
        _cardinal(m.group("ntimes")) or 0.0
    )
    if factor < 1.5:
        return None, 0.0
    if modifier in {"more than", "over", "at least"}:
        return factor * 0.97, math.inf
    if modifier in {"less than", "fewer than", "under"}:
        # "less than half the error", "fewer than half as many": a factor of 2 or more in
        # the halving direction; "less than twice": a factor below 2.
        return (factor * 0.97, math.inf) if m.group("half") else (1.0, factor * 1.03)
    slack = MULTIPLIER_SLACK + (HEDGE_SLACK if modifier in _HEDGES else 0.0)
    return factor / (1 + slack), factor * (1 + slack)


# --------------------------------------------------------------------------------------
# All quantities of a text
# --------------------------------------------------------------------------------------


def quantities(txt: str, carry_units: bool = False) -> list[Quantity]:
    """Every result-like number of `txt`, in digits or in words, in order of position.

    `carry_units` (for the structure's statements, not for claims): a plain number set
    against one with a unit takes that unit ("0.89 g ..., against 0.94 for uncoated").
    A claim's plain number needs no unit: it may match any (see `comparable`)."""
    digits: list[Quantity] = []
    citations = text.citation_spans(txt)
    for match in _NUMBER.finditer(txt):
        q = _digit_quantity(txt, match)
        if q is not None and not _is_structural(txt, match, q, citations):
            digits.append(q)
    starts = [q.start for q in digits]  # in order: finditer scans left to right
    replaced: set[int] = set()  # digit numbers a spelled ratio reads ("3 in 4")
    spelled: list[Quantity] = []
    for match in _SPELLED.finditer(txt):
        q = _spelled_quantity(txt, match)
        if q is None:
            continue
        inside = range(bisect_left(starts, q.start), bisect_left(starts, q.end))
        before = bisect_left(starts, q.start) - 1
        overlaps = bool(inside) or (before >= 0 and digits[before].end > q.start)
        if overlaps and not match.group("den"):
            continue  # the digits already read it
        replaced.update(inside)
        spelled.append(q)
    found = [q for i, q in enumerate(digits) if i not in replaced] + spelled
    found.sort(key=lambda q: q.start)
    return _ranges_share_units(txt, found, carry_units)


_RANGE_ONLY = re.compile(r"\s*(?:-|–|to|and)\s*$")
_RANGE_JOIN = re.compile(r"\s*(?:-|–|to|and|or|rather\s+than|instead\s+of|vs\.?|versus)\s*$")


def _ranges_share_units(txt: str, found: list[Quantity], carry_units: bool) -> list[Quantity]:
    """In a range the unit is written once: "35-50%", "1.5-3 days", "between 2 and 4 km"."""
    for i in range(len(found) - 2, -1, -1):
        a, b = found[i], found[i + 1]
        join = _RANGE_JOIN if carry_units else _RANGE_ONLY
        if a.dim == PLAIN and b.dim != PLAIN and not a.spelled and join.match(txt[a.end : b.start]):
            if not re.search(r"\d\s*[-–]\s*$", txt[max(0, a.start - 3) : a.start]):  # not "18-24 vs. 58%"
                found[i] = _with_unit_of(a, b)
    for i in range(len(found) - 1 if carry_units else 0):
        a, b = found[i], found[i + 1]
        if b.dim == PLAIN and a.dim not in (PLAIN, RATIO) and not b.spelled and _UNIT_CARRIED.match(txt[a.end : b.start]):
            found[i + 1] = _with_unit_of(b, a)  # "0.89 g per gram ..., against 0.94 for uncoated"
    return found


_UNIT_CARRIED = re.compile(r"[^.;]{0,60}?\b(?:against|versus|vs\.?|compared\s+with|instead\s+of)\s*$", re.IGNORECASE)


def _with_unit_of(q: Quantity, unit_of: Quantity) -> Quantity:
    factor = unit_of.value / unit_of.as_written if unit_of.as_written and unit_of.dim != "temperature" else 1.0
    return Quantity(q.value * factor, unit_of.dim, q.precision * factor, q.bound, q.text, q.start, q.end, written=q.value)


# --------------------------------------------------------------------------------------
# Does one quantity back another?
# --------------------------------------------------------------------------------------


def comparable(a: Quantity, b: Quantity) -> list[tuple[float, float]]:
    """(a's value, b's value) in one unit, for each way the two can be read alike.

    Same dimension: as they are. A percentage and a plain share in [0, 1] ("0.81 of days",
    "81%"): the share times 100. A unit we know against a plain number: as written (the
    plain number may carry its unit in a word we do not read: "146 hours ..., beaver
    reaches only 11").
    """
    if a.dim == b.dim:
        if a.dim == "temperature":
            return [(a.value, b.value), (a.as_written, b.as_written)]  # 0.3 K is 0.3 °C apart
        return [(a.value, b.value)]
    if {a.dim, b.dim} == {PERCENT, PLAIN}:
        plain = a if a.dim == PLAIN else b
        if 0 < plain.value <= 1 and plain.share:
            return [(a.value * (100 if a is plain else 1), b.value * (100 if b is plain else 1))]
        return []
    if POINTS in (a.dim, b.dim) and {a.dim, b.dim} <= {POINTS, PERCENT, PLAIN}:
        return [(a.as_written, b.as_written)]
    # A plain number in the claim may leave its unit to the reader ("146 hours ..., beaver
    # reaches only 11"); a unit the claim states must be the backing's ("12 ms" is not
    # backed by "12 cells").
    if a.dim == PLAIN and b.dim != PERCENT:
        return [(a.as_written, b.as_written)]
    return []


def backs(claimed: Quantity, known: Quantity) -> bool:
    """Whether `known` (from the structure) backs `claimed` (from the draft).

    Equal up to the rounding of the claim ("78%" for 77.7%, not "2.4" for "2"); a hedge
    widens that to HEDGE_SLACK; a bound ("under 10 ms", "more than 40%") holds when the
    known value lies on its side. A known value stated as a bound itself ("fewer than 24
    files") backs the same bound.
    """
    # A computed value backs a value stated outright or an upper bound ("fewer than two in
    # five" after a 62% fall), never a lower bound: "above 99%" is not backed by some change.
    if known.derived and (known.dim != claimed.dim or claimed.bound.endswith(">")):
        return False
    for c, k in comparable(claimed, known):
        precision = claimed.precision * (c / claimed.value if claimed.value else 1.0)
        if known.bound.startswith("~"):
            precision = max(precision, HEDGE_SLACK * abs(k))
        if abs(c - k) <= precision * 1.0001:
            return True
        bound = claimed.bound
        if bound.startswith("~"):
            slack = max((HEDGE_SLACK if bound == "~" else JUST_SLACK) * abs(c), precision)
            if abs(c - k) <= slack * 1.0001:
                if bound == "~" or (bound == "~>" and k >= c) or (bound == "~<" and k <= c):
                    return True
        elif bound == "<" and k <= c + precision and known.bound in "=~<" and k >= c / 5:
            return True
        elif bound == ">" and k >= c - precision and known.bound in "=~>" and k <= c * 5:
            return True
    return False


_CHANGE_BEFORE = re.compile(r"\bby\s*$", re.IGNORECASE)
_CHANGE_AFTER = re.compile(
    r"^\s*(?:more|less|fewer|higher|lower|faster|slower|larger|smaller|greater|cheaper|"
    r"increase|reduction|decrease|drop|gain|improvement|speed-?up)\b",
    re.IGNORECASE,
)


# Words that set two numbers side by side: "from 192 s to 101 s", "0.42 versus 0.19",
# "58.1% against 86.5%", "101 s instead of 192 s".
_LINK = re.compile(
    r"\b(?:against|versus|vs\.?|compared\s+(?:with|to)|instead\s+of|rather\s+than|than|to|"
    r"down\s+from|up\s+from|relative\s+to|while|whereas)\b",
    re.IGNORECASE,
)
_NOUN_AFTER = re.compile(r"\s*([a-z][a-z-]+)")


def linked_pairs(qs: list[Quantity], txt: str) -> list[tuple[Quantity, Quantity]]:
    """Neighbouring numbers of one kind that the text sets side by side (a link word between
    them, within one clause)."""
    pairs = []
    # A rate's denominator ("2.9 new firms per 1,000 adults") is no value of its own.
    # Nor are the values in parentheses: an interval or a test statistic ("6 days (IQR 2-13)").
    values = [
        q for q in qs
        if not re.search(r"\bper\s*$", txt[max(0, q.start - 5) : q.start]) and not _in_parentheses(txt, q.start)
    ]
    for a, b in zip(values, values[1:]):
        between = _PARENTHESES.sub("", txt[a.end : b.start])
        same_kind = a.dim == b.dim or (PLAIN in (a.dim, b.dim) and not {RATIO, PERCENT} & {a.dim, b.dim})
        if same_kind and a.dim == PLAIN == b.dim and _counted(txt, a) and _counted(txt, b) and _counted(txt, b) != _counted(txt, a):
            same_kind = False  # "310 charging sessions from 25 fleet vehicles" counts two things
        linked = _LINK.search(between) or (a.dim == b.dim != PLAIN and re.search(r"\band\b", between))
        if same_kind and len(between) <= 60 and ";" not in between and linked:
            pairs.append((a, b))
    return pairs


@dataclass(frozen=True)
class Ratio:
    value: float
    start: int  # the span of the statement it comes from
    end: int


_PARENTHESES = re.compile(r"\([^()]*\)")


def _in_parentheses(txt: str, start: int) -> bool:
    """Whether an unclosed "(" stands before `start` within its 40 characters."""
    window = txt[max(0, start - 40) : start]
    return window.rfind("(") > window.rfind(")")


def _counted(txt: str, q: Quantity) -> str:
    """The noun right after a plain number, if any ("310 charging sessions": charging)."""
    m = _NOUN_AFTER.match(txt, q.end)
    word = m.group(1) if m else ""
    return "" if word in text.STOPWORDS else word


def ratios(qs: list[Quantity], txt: str = "") -> list[float]:
    """The ratios a statement states or implies: every ratio ("1.9x"), each pair of numbers
    it sets side by side ("from 192 s to 101 s": 1.9), and every change in percent ("falls
    by 31%": 0.69, "37% more": 1.37; a share such as "94% of their length" is no change)."""
    return [r.value for r in ratio_spans(qs, txt)]


def ratio_spans(qs: list[Quantity], txt: str = "") -> list[Ratio]:
    """`ratios`, each with the span of text it was read from."""
    found = [Ratio(q.value, q.start, q.end) for q in qs if q.dim == RATIO and q.value > 0]
    for a in qs:
        if a.dim == PERCENT and 0 < a.value < 100 and _is_change(a, txt):
            found += [Ratio(1 + a.value / 100, a.start, a.end), Ratio(1 - a.value / 100, a.start, a.end)]
    for a, b in linked_pairs(qs, txt) + parallel_pairs(qs, txt):
        if a.dim != RATIO and a.as_written > 0 and b.as_written > 0:
            found.append(Ratio(a.as_written / b.as_written, a.start, b.end))
    return found


def slot(txt: str, q: Quantity) -> str:
    """The word right before a number: what it is a value of ("g = 0.21": g)."""
    m = re.search(r"([A-Za-z][\w-]*)[^\w]*$", txt[max(0, q.start - 30) : q.start])
    return m.group(1).lower() if m else ""


def parallel_pairs(qs: list[Quantity], txt: str) -> list[tuple[Quantity, Quantity]]:
    """Numbers of one kind stated in parallel ("gained most (g = 0.46); ... was g = 0.12"):
    the same word before each. Each is paired with the next one like it (linear, not every
    pair)."""
    last: dict[tuple[str, str], Quantity] = {}
    pairs = []
    for q in qs:
        key = (q.dim, slot(txt, q))
        if q.dim == RATIO or not key[1]:
            continue
        if key in last:
            pairs.append((last[key], q))
        last[key] = q
    return pairs


def derived(qs: list[Quantity], txt: str) -> list[Quantity]:
    """What a reader may compute from two numbers set side by side and state as a finding:
    their difference ("212 vs. 246 minutes": 34 minutes less) and the relative change in
    percent ("0.89 against 0.94": about 5% lower)."""
    found: list[Quantity] = []
    for a, b in linked_pairs(qs, txt):
        if RATIO in (a.dim, b.dim):
            continue
        unit_of = b if b.dim != PLAIN else a
        factor = unit_of.value / unit_of.as_written if unit_of.as_written and unit_of.dim != "temperature" else 1.0
        diff = abs(a.as_written - b.as_written)
        precision = max(a.precision, b.precision)
        # A temperature difference is written like a temperature ("47 °C later").
        value = diff + 273.15 if unit_of.dim == "temperature" else diff * factor
        found.append(Quantity(value, unit_of.dim, precision, "=", f"{_fmt(diff)} (difference)", a.start, b.end,
                              written=diff, derived=True))
        for base in (a.as_written, b.as_written):
            if base and unit_of.dim != "temperature":
                pct = 100 * diff / base
                found.append(Quantity(pct, PERCENT, 0.5, "=", f"{_fmt(pct)}% (change)", a.start, b.end, derived=True))
    return found


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def complements(qs: list[Quantity], txt: str) -> list[Quantity]:
    """What is left after a change in percent ("freezes fell by 62%": 38% remain)."""
    return [
        Quantity(100 - q.value, PERCENT, q.precision, "=", f"{_fmt(100 - q.value)}% (what remains)", q.start, q.end,
                 derived=True)
        for q in qs if q.dim == PERCENT and 0 < q.value < 100 and not q.derived and _is_change(q, txt)
    ]


def _is_change(q: Quantity, txt: str) -> bool:
    return bool(_CHANGE_BEFORE.search(txt, max(0, q.start - 12), q.start) or _CHANGE_AFTER.match(txt[q.end : q.end + 20]))
