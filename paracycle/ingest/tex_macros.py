r"""`\newcommand` / `\def` / `\DeclareMathOperator` macros: collected, then expanded textually.

Zero-argument macros and simple argument ones (`#1`...`#9`, optional first-argument
default) are expanded. Bodies that program TeX (`\def`, `\csname`, `\if`...) are left
alone, and structural commands (`\section`, `\caption`, ...) are never redefined, so the
structure stays findable. Expansion stops before a pass outgrows its limit rather than
after, so a self-multiplying macro costs a bounded amount of memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from paracycle.ingest.tex_scan import CONTROL, group, match_brace, optional, skip_space

MB = 1024 * 1024  # what one expansion pass may always grow by, however short the text


@dataclass(frozen=True)
class _Macro:
    nargs: int
    body: str
    default: str | None = None  # the optional first argument's default, if it has one


_DEFINER = re.compile(
    r"\\(newcommand|renewcommand|providecommand|DeclareRobustCommand|DeclareMathOperator|def|gdef|edef|xdef)"
    r"(?![a-zA-Z])\*?"
)
# Redefining these would hide the structure the parser looks for.
_PROTECTED = frozenset(
    "section subsection subsubsection paragraph subparagraph chapter appendix caption captionof label "
    "ref eqref cref Cref autoref cite citep citet begin end item title abstract input include subfile "
    "footnote maketitle documentclass usepackage".split()
)
# Bodies that program TeX rather than stand for text are not expanded.
_PROGRAMMING = re.compile(r"\\(def|gdef|edef|let|newcommand|renewcommand|csname|expandafter|if[a-zA-Z]*|fi)(?![a-zA-Z])|@")
_MAX_EXPANSION_PASSES = 8
_MAX_PARAMETER_TEXT = 40  # "#1#2" or a delimited "#1.#2"; longer means not a definition we read
_MAX_NAME_GROUP = 100  # "{\name}" in \newcommand{\name}


def collect_macros(tex: str) -> tuple[dict[str, _Macro], str]:
    """Every usable macro definition, and `tex` with all definitions removed."""
    macros: dict[str, _Macro] = {}
    out: list[str] = []
    pos = 0
    while match := _DEFINER.search(tex, pos):
        parsed = _parse_definition(tex, match)
        if parsed is None:  # not a definition we can read: leave the text alone
            out.append(tex[pos : match.end()])
            pos = match.end()
            continue
        name, macro, end = parsed
        out.append(tex[pos : match.start()])
        pos = end
        if macro is None or name in _PROTECTED or _PROGRAMMING.search(macro.body):
            continue
        if match.group(1) != "providecommand" or name not in macros:
            macros[name] = macro
    out.append(tex[pos:])
    return macros, "".join(out)


def _parse_definition(tex: str, match: re.Match[str]) -> tuple[str, _Macro | None, int] | None:
    """(name, macro or None when unusable, end of the definition), or None if unreadable."""
    kind, i = match.group(1), skip_space(tex, match.end())
    if kind.endswith("def"):
        name = CONTROL.match(tex, i)
        # The parameter text is short; looking further for the body's "{" would scan to the
        # end of the text once per unreadable \def.
        brace = tex.find("{", name.end(), name.end() + _MAX_PARAMETER_TEXT + 1) if name else -1
        if name is None or brace < 0 or (close := match_brace(tex, brace)) < 0:
            return None
        params = tex[name.end() : brace].strip()
        simple = re.fullmatch(r"(?:#\d)*", params) is not None  # delimited parameters are not
        return name.group(1), _Macro(params.count("#"), tex[brace + 1 : close]) if simple else None, close + 1
    if tex.startswith("{", i):
        close = match_brace(tex, i)
        # A name is short: slicing a long group only to find it is not one would copy the
        # rest of the text for every \newcommand{ nested in it.
        short = 0 < close - i <= _MAX_NAME_GROUP
        name = CONTROL.fullmatch(tex[i + 1 : close].strip()) if short else None
        after = close + 1
    else:
        name = CONTROL.match(tex, i)
        after = name.end() if name else i
    if name is None or not name.group(1)[0].isalpha():
        return None
    nargs_text, after, _ = optional(tex, after)
    default, after, _ = optional(tex, after) if kind != "DeclareMathOperator" else (None, after, True)
    brace = skip_space(tex, after)
    # An unclosed body is unreadable; checked before slicing, as the next \newcommand
    # inside it is read again.
    if not tex.startswith("{", brace) or (close := match_brace(tex, brace)) < 0:
        return None
    nargs = int(nargs_text) if nargs_text and nargs_text.strip().isdigit() else 0
    return name.group(1), _Macro(min(nargs, 9), tex[brace + 1 : close], default), close + 1


def expand_macros(tex: str, macros: dict[str, _Macro], notes: list[str]) -> str:
    if not macros:
        return tex
    names = sorted(macros, key=len, reverse=True)
    pattern = re.compile(r"\\(" + "|".join(map(re.escape, names)) + r")(?![a-zA-Z])")
    limit = max(4 * len(tex), len(tex) + MB)  # a self-multiplying macro stops here
    for _ in range(_MAX_EXPANSION_PASSES):
        try:
            expanded = _expand_once(tex, pattern, macros, limit)
        except _TooLong:
            notes.append("macro expansion stopped: the text kept growing (a recursive macro?)")
            return tex
        if expanded == tex:
            return tex
        tex = expanded
    notes.append(f"macro expansion stopped after {_MAX_EXPANSION_PASSES} passes (a recursive macro?)")
    return tex


class _TooLong(Exception):
    """A pass of macro expansion would produce more than its limit."""


class _Output:
    """The pieces of one expansion pass, measured as they come: the limit is enforced before
    the text exists (a body holding a thousand copies of another macro grows a thousandfold
    per pass, so checking the finished pass let a 139 KB file reach 2 GB). A piece costs at
    least 1, so empty substitutions cannot pile up unbounded either."""

    def __init__(self, limit: int):
        self.parts: list[str] = []
        self.size, self.limit = 0, limit

    def add(self, piece: str) -> None:
        self.size += max(len(piece), 1)
        if self.size > self.limit:
            raise _TooLong
        if piece:
            self.parts.append(piece)


def _expand_once(tex: str, pattern: re.Pattern[str], macros: dict[str, _Macro], limit: int) -> str:
    out = _Output(limit)
    pos = 0
    while match := pattern.search(tex, pos):
        macro, i = macros[match.group(1)], match.end()
        args: list[str] = []
        if macro.nargs and macro.default is not None:
            given, after, _ = optional(tex, i)
            args.append(macro.default if given is None else given)
            i = after
        while len(args) < macro.nargs:
            arg, i, _ = group(tex, i)
            args.append(arg)
        out.add(tex[pos : match.start()])
        _substitute(macro.body, args, out)
        pos = i
    out.add(tex[pos:])
    return "".join(out.parts)


_PARAMETER = re.compile(r"#(#|\d)")


def _substitute(body: str, args: list[str], out: _Output) -> None:
    """`body` with #1..#9 replaced by `args` (missing ones by nothing) and ## by #."""
    pos = 0
    for match in _PARAMETER.finditer(body):
        out.add(body[pos : match.start()])
        if match.group(1) == "#":
            out.add("#")
        else:
            n = int(match.group(1))
            out.add(args[n - 1] if 1 <= n <= len(args) else "")
        pos = match.end()
    out.add(body[pos:])
