r"""siunitx quantities as they print: `\SI{61.2}{\percent}` -> "61.2%", `\qty{3}{\milli\second}`
-> "3 ms", `\SIrange{2}{3}{\times}` -> "2-3x".

The claim check compares the numbers a draft states with the paper's, so these must come
out whole: dropping the macro (the converter's rule for an unknown one) lost the unit,
and reading its groups as plain text glued a range's ends together ("23x").

* Numbers (`\num`, and the numbers of every command below) are written out plainly:
  spaces between digits go (`12 345` -> "12345"), `+-` reads "±", and an exponent is
  multiplied out when that stays short (`1.5e3` -> "1500", `2e-3` -> "0.002"); a larger
  one keeps the form it was written in (`6.02e23`).
* Units are read from their macros (prefix + unit, `\per`, `\squared`...) through the
  tables below; an unknown unit keeps its name without the backslash, and literal units
  (`\qty{3}{ms}`) stay as written. "%", "°", "′", "″" and "x" follow the number without
  a space, every other unit after one.
* Ranges read "2-3 ms" ("2 to 3" when an end has a sign), lists "1 ms, 2 ms, 3 ms",
  angles "30°" or "1°2′3″".

Options (`[round-precision=2]`) are ignored: the number is read as the source wrote it.
"""

from __future__ import annotations

import re
from decimal import Decimal

# What each command takes after its optional [options]: n = a number, l = a list of
# numbers ("1;2;3"), a = an angle ("1;2;3" as degrees, minutes, seconds), u = a unit,
# p = \SI's optional pre-unit ("[\$]").
SIUNITX_ARGS: dict[str, str] = {
    "num": "n",
    "tablenum": "n",
    "numlist": "l",
    "numrange": "nn",
    "SI": "npu",
    "qty": "nu",
    "SIlist": "lu",
    "qtylist": "lu",
    "SIrange": "nnu",
    "qtyrange": "nnu",
    "si": "u",
    "unit": "u",
    "ang": "a",
}

_PREFIXES = {
    "yocto": "y", "zepto": "z", "atto": "a", "femto": "f", "pico": "p", "nano": "n", "micro": "µ",
    "milli": "m", "centi": "c", "deci": "d", "deca": "da", "deka": "da", "hecto": "h", "kilo": "k",
    "mega": "M", "giga": "G", "tera": "T", "peta": "P", "exa": "E", "zetta": "Z", "yotta": "Y",
    "kibi": "Ki", "mebi": "Mi", "gibi": "Gi", "tebi": "Ti", "pebi": "Pi",
}
_UNITS = {
    "percent": "%", "degree": "°", "arcminute": "′", "arcsecond": "″", "times": "x",
    "second": "s", "minute": "min", "hour": "h", "day": "d", "metre": "m", "meter": "m",
    "gram": "g", "kilogram": "kg", "tonne": "t", "litre": "L", "liter": "L", "hertz": "Hz",
    "byte": "B", "bit": "bit", "watt": "W", "joule": "J", "volt": "V", "ampere": "A",
    "ohm": "Ω", "newton": "N", "pascal": "Pa", "kelvin": "K", "celsius": "°C",
    "degreeCelsius": "°C", "mole": "mol", "candela": "cd", "radian": "rad", "steradian": "sr",
    "decibel": "dB", "bel": "B", "neper": "Np", "electronvolt": "eV", "dalton": "Da",
    "angstrom": "Å", "hectare": "ha", "astronomicalunit": "au", "coulomb": "C", "farad": "F",
    "siemens": "S", "tesla": "T", "weber": "Wb", "henry": "H", "lumen": "lm", "lux": "lx",
    "becquerel": "Bq", "gray": "Gy", "sievert": "Sv", "katal": "kat",
    # siunitx's abbreviations for the units papers use most
    "ps": "ps", "ns": "ns", "us": "µs", "ms": "ms", "s": "s", "nm": "nm", "um": "µm", "mm": "mm",
    "cm": "cm", "m": "m", "km": "km", "mg": "mg", "g": "g", "kg": "kg", "Hz": "Hz", "kHz": "kHz",
    "MHz": "MHz", "GHz": "GHz", "THz": "THz", "kB": "kB", "MB": "MB", "GB": "GB", "TB": "TB",
    "mW": "mW", "W": "W", "kW": "kW", "MW": "MW", "kWh": "kWh", "eV": "eV", "keV": "keV",
    "MeV": "MeV", "GeV": "GeV", "TeV": "TeV", "mV": "mV", "V": "V", "kV": "kV", "mA": "mA",
    "A": "A", "kJ": "kJ", "J": "J", "mL": "mL", "L": "L", "dB": "dB",
}
# Units that follow the number without a space, as siunitx prints them ("°C" takes one).
_GLUED = re.compile(r"(?:%|°|′|″|x)(?![A-Za-z])")
_POWERS = {"square": "²", "cubic": "³", "squared": "²", "cubed": "³"}
# Markup inside a unit that prints nothing of its own.
_SILENT = frozenset({"per", "tothe", "raiseto", "highlight", "cancel", "of", "text", "mathrm", "ensuremath"})
_SUPERSCRIPT = str.maketrans("0123456789-+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺")
_MAX_EXPONENT = 12  # 1e12 is 13 digits; a longer expansion would only be harder to read

# A unit token: \tothe{2} or \raiseto{2} with its argument, a control word, a control
# symbol, or literal text. All quantifiers are possessive, and a failed "\tothe{" looks
# only as far as the next brace or backslash: each character is read at most twice.
_UNIT_TOKEN = re.compile(
    r"\\(tothe|raiseto)\s*+(?:\{([^{}\\]*+)\}|([^\s{}\\]))|\\([a-zA-Z]+)|\\([\s\S])|([^\\]++)"
)
# A number with an exponent; the lookarounds keep it whole ("v1.5e3x" is not one).
_EXPONENT = re.compile(r"(?<![\w.])([-+]?(?:\d++(?:\.\d*+)?|\.\d++))[eEdD]([-+]?\d++)(?![\w.])")
_DIGIT_SPACE = re.compile(r"(?<=\d) (?=\d)")
_PLUS_MINUS = re.compile(r" ?(?:\+-|±) ?")


def siunitx_text(name: str, values: list[str], unit_tex: str | None, pre_tex: str | None) -> str:
    """What `\\name` prints, from its numbers (already plain text) and its unit's LaTeX."""
    unit_text = unit(unit_tex) if unit_tex is not None else ""
    if name in ("si", "unit"):
        return unit_text
    if name == "ang":
        return angle(values[0])
    if name in ("numlist", "SIlist", "qtylist"):
        return ", ".join(quantity(number(v), unit_text) for v in values[0].split(";") if v.strip())
    if name in ("numrange", "SIrange", "qtyrange"):
        return quantity(number_range(number(values[0]), number(values[1])), unit_text)
    pre = unit(pre_tex) if pre_tex else ""
    return pre + quantity(number(values[0]), unit_text)


def number(text: str) -> str:
    """A siunitx number as plain text: "12 345" -> "12345", "1.2+-0.1" -> "1.2 ± 0.1",
    "1.5e3" -> "1500"."""
    text = " ".join(text.split())
    text = _DIGIT_SPACE.sub("", text)
    text = _PLUS_MINUS.sub(" ± ", text).strip()
    return _EXPONENT.sub(_multiplied_out, text)


def _multiplied_out(match: re.Match[str]) -> str:
    mantissa, exponent = match.groups()
    if len(exponent.lstrip("+-")) > 2 or abs(int(exponent)) > _MAX_EXPONENT:
        return match.group()
    return format(Decimal(f"{mantissa}e{exponent}"), "f")  # exact: no float rounding


def number_range(low: str, high: str) -> str:
    """Two ends as "2-3", or as "-5 to 5" where a hyphen would read as a sign."""
    signed = any(end.startswith(("-", "+", "±")) for end in (low, high))
    return f"{low} to {high}" if signed else f"{low}-{high}"


def quantity(value: str, unit_text: str) -> str:
    """A number and its unit: "3 ms", but "61.2%" and "2.5x"."""
    if not unit_text:
        return value
    return f"{value}{unit_text}" if _GLUED.match(unit_text) else f"{value} {unit_text}"


def angle(text: str) -> str:
    """"30" -> "30°"; "1;2;3" -> "1°2′3″" (degrees; minutes; seconds)."""
    parts = [number(part) for part in text.split(";")[:3]]
    return "".join(part + mark for part, mark in zip(parts, "°′″") if part)


def unit(tex: str) -> str:
    """A unit's LaTeX as text: `\\kilo\\metre\\per\\hour` -> "km/h", `\\metre\\squared` -> "m²"."""
    # Pieces are lists, joined once at the end: adding to a string in place would copy it
    # again for each of a hostile thousand \squared.
    pieces: list[list[str]] = []
    pending: list[str] = []  # prefixes waiting for their unit
    power, per = "", False
    for match in _UNIT_TOKEN.finditer(tex):
        word, raised = match.group(4), match.group(2) or match.group(3)
        if word in _PREFIXES:
            pending.append(_PREFIXES[word])
        elif word == "per":
            per = True
        elif word in ("square", "cubic") or match.group(1) == "raiseto":
            power = _POWERS[word] if word else _superscript(raised)
        elif pieces and (word in ("squared", "cubed") or match.group(1) == "tothe"):
            pieces[-1].append(_POWERS[word] if word else _superscript(raised))
        elif text := _unit_token_text(match):
            pieces.append(["/" if per else "", *pending, text, power])
            pending, power, per = [], "", False
    if pending:  # a prefix with no unit after it
        pieces.append(pending)
    return _joined(["".join(piece) for piece in pieces])


def _unit_token_text(match: re.Match[str]) -> str:
    """What one token prints on its own ("" for a prefix, a power or \\per)."""
    word, symbol, literal = match.group(4), match.group(5), match.group(6)
    if word is not None:
        if word in _PREFIXES or word in _POWERS or word in _SILENT:
            return ""
        return _UNITS.get(word, word)
    if symbol is not None:  # \, \; \  are spaces; \$ \% print themselves
        return "" if symbol.isspace() or symbol in ",;:!" else symbol
    if literal is not None:
        return literal.replace("{", "").replace("}", "").strip()
    return ""


def _joined(pieces: list[str]) -> str:
    """Units separated by spaces ("N m"); a "/s" goes right after what it divides."""
    out: list[str] = []
    for piece in pieces:
        out.append(piece if not out or piece.startswith("/") else " " + piece)
    return "".join(out)


def _superscript(power: str) -> str:
    power = power.strip()
    if power and all(c in "0123456789-+" for c in power):
        return power.translate(_SUPERSCRIPT)
    return f"^{power}"
