r"""LaTeX fragments -> plain text: keep the words, drop the markup.

* Formatting macros are unwrapped; citations, footnotes, labels and spacing commands
  vanish; inline math keeps its content with symbols simplified (`$1.8\times$` -> "1.8x",
  `$62\%$` -> "62%"); display math becomes "[equation]"; tables/figures/algorithms/code
  are removed from prose. Unknown macros are dropped in text and kept by name in math
  (`\log` -> "log"). siunitx quantities read as they print (`\SI{3}{\milli\second}` ->
  "3 ms", see tex_units.py).
* List items become sentences of the paragraph that holds the list (a contribution list
  stays one paragraph, as it reads in the PDF); an item without final punctuation gets a
  period so sentence splitting still works.
* `\paragraph{X}` starts a paragraph that begins with "X."; other headings become
  paragraphs of their own, or paragraph breaks only when headings are not wanted.

`GAP` marks where markup was removed; `paragraphs` and `one_line` delete it.
"""

from __future__ import annotations

import re
import unicodedata

from paracycle.ingest.tex_scan import (
    BLANK_LINE,
    CONTROL,
    GAP,
    env_span,
    group,
    optional,
    reading,
    text_index,
    window_end,
)
from paracycle.ingest.tex_units import SIUNITX_ARGS, siunitx_text

# Argument specs: o = optional, dropped; m = mandatory, dropped; K = kept, converted in the
# current mode; T = kept as text (\text inside math); M = kept as math; V = kept verbatim.
_ARGS: dict[str, str] = {
    **dict.fromkeys(
        "cite citep citet citealp citealt citeauthor citeyear citeyearpar citenum citetext parencite "
        "textcite autocite footcite nocite Cite Citep Citet Citealp shortcite".split(),
        "oom",
    ),
    **dict.fromkeys("footnote footnotetext marginpar todo".split(), "om"),
    **dict.fromkeys(
        "label thanks vspace hspace pagestyle thispagestyle bibliographystyle bibliography input include "
        "includeonly subfile graphicspath hypersetup stepcounter refstepcounter linespread theoremstyle "
        "date keywords institute email phantom hphantom vphantom printAffiliationsAndNotice "
        "IEEEauthorblockN IEEEauthorblockA pageref".split(),
        "m",
    ),
    **dict.fromkeys("setlength addtolength setcounter addtocounter fontsize".split(), "mm"),
    **dict.fromkeys("usepackage RequirePackage documentclass color author title affiliation address".split(), "om"),
    "includegraphics": "om",
    "definecolor": "mmm",
    "newtheorem": "momo",
    "newenvironment": "moomm",
    "renewenvironment": "moomm",
    "newcounter": "mo",
    "footnotemark": "o",
    "twocolumn": "o",  # ICML puts the whole title block in its optional argument
    "linebreak": "o",
    "caption": "om",  # a caption outside a float
    "captionof": "mom",
    **dict.fromkeys(
        "textbf textit textsl textsc texttt textrm textsf textup textmd textnormal emph underline uline "
        "mbox hbox fbox textsuperscript textsubscript mathbf mathrm mathit mathcal mathbb mathsf mathtt "
        "mathfrak mathscr boldsymbol bm operatorname mathnormal hat bar tilde vec dot ddot widehat "
        "widetilde overline underbrace overbrace hl".split(),
        "K",
    ),
    **dict.fromkeys("text textnormal intertext".split(), "T"),
    "ensuremath": "M",
    **dict.fromkeys("url nolinkurl path".split(), "V"),
    **dict.fromkeys("href textcolor colorbox hyperlink hypertarget adjustbox".split(), "mK"),
    "hyperref": "oK",
    "fcolorbox": "mmK",
    "makebox": "ooK",
    "framebox": "ooK",
    "raisebox": "mooK",
    "resizebox": "mmK",
    "scalebox": "moK",
    "rotatebox": "omK",
    "parbox": "ooomK",
    "multicolumn": "mmK",
    "multirow": "omoK",
}
_REFS = frozenset("ref eqref vref nameref cref Cref autoref Autoref labelcref".split())
_NAMED_REFS = frozenset({"cref", "Cref", "autoref", "Autoref"})
_HEADINGS = frozenset({"part", "chapter", "section", "subsection", "subsubsection"})
_RUN_IN_HEADINGS = frozenset({"paragraph", "subparagraph"})
# TeX primitives whose argument is a bare dimension ("\\vskip 0.3in"), not a group.
_DIMENSION_COMMANDS = frozenset({"vskip", "hskip", "kern"})
# Every run of spaces follows a required token and every quantifier is possessive, so a
# failed match gives up at once: the old `\s*[-+]?\s*(number)?\s*` could split one run of
# spaces three ways, and "\vskip" before 2,000 spaces took 23 s.
_NUMBER = r"(?:\d++(?:\.\d*+)?|\.\d++)"
_DIMENSION = re.compile(
    rf"\s*+(?:[-+]\s*+)?(?:{_NUMBER}\s*+)?(?:pt|in|cm|mm|em|ex|bp|sp|pc|dd|cc|mu|\\[a-zA-Z]+)"
    rf"(?:\s*+(?:plus|minus)\s*+[-+]?(?:{_NUMBER}\s*+)?(?:pt|in|cm|mm|em|ex|fil+|\\[a-zA-Z]+))*+"
)

_GREEK = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau upsilon "
    "phi chi psi omega"
).split()
_SYMBOLS: dict[str, str] = {
    **{g: unicodedata.lookup(f"GREEK SMALL LETTER {g.replace('lambda', 'lamda').upper()}") for g in _GREEK},
    **{
        g.capitalize(): unicodedata.lookup(f"GREEK CAPITAL LETTER {g.replace('lambda', 'lamda').upper()}")
        for g in "gamma delta theta lambda xi pi sigma upsilon phi psi omega".split()
    },
    "varepsilon": "ε", "vartheta": "θ", "varphi": "φ", "varrho": "ρ", "varsigma": "ς", "varpi": "π",
    "times": "x", "pm": "±", "mp": "∓", "cdot": "·", "cdots": "…", "ldots": "…", "dots": "…",
    "textellipsis": "…", "vdots": "⋮", "ddots": "⋱", "approx": "≈", "sim": "~", "simeq": "≃",
    "neq": "≠", "ne": "≠", "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥", "ll": "≪", "gg": "≫",
    "equiv": "≡", "to": "→", "rightarrow": "→", "leftarrow": "←", "gets": "←", "Rightarrow": "⇒",
    "Leftarrow": "⇐", "leftrightarrow": "↔", "iff": "⟺", "implies": "⟹", "mapsto": "↦",
    "uparrow": "↑", "downarrow": "↓", "infty": "∞", "partial": "∂", "nabla": "∇", "sum": "∑",
    "prod": "∏", "int": "∫", "in": "∈", "notin": "∉", "subset": "⊂", "subseteq": "⊆",
    "supset": "⊃", "cup": "∪", "cap": "∩", "forall": "∀", "exists": "∃", "emptyset": "∅",
    "varnothing": "∅", "propto": "∝", "circ": "∘", "star": "⋆", "ast": "*", "div": "÷",
    "top": "⊤", "bot": "⊥", "dagger": "†", "ddagger": "‡", "bullet": "•", "mid": "|", "vert": "|",
    "Vert": "‖", "lvert": "|", "rvert": "|", "langle": "⟨", "rangle": "⟩", "lceil": "⌈",
    "rceil": "⌉", "lfloor": "⌊", "rfloor": "⌋", "ell": "ℓ", "prime": "′", "degree": "°",
    "textdegree": "°", "checkmark": "✓", "cmark": "✓", "xmark": "✗", "textendash": "–",
    "textemdash": "—", "textbullet": "•", "textasciitilde": "~", "textbackslash": "\\",
    "textbar": "|", "textless": "<", "textgreater": ">", "textasciicircum": "^",
    "textunderscore": "_", "textquotedbl": '"', "textregistered": "®", "texttrademark": "™",
    "copyright": "©", "S": "§", "P": "¶", "dag": "†", "ddag": "‡", "pounds": "£", "euro": "€",
    "ss": "ß", "o": "ø", "O": "Ø", "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "aa": "å", "AA": "Å",
    "l": "ł", "L": "Ł", "i": "ı", "j": "ȷ", "LaTeX": "LaTeX", "TeX": "TeX", "LaTeXe": "LaTeX2e",
    "BibTeX": "BibTeX",
    # Abbreviation macros that style files (not the archive) often define.
    "eg": "e.g.", "ie": "i.e.", "Eg": "E.g.", "Ie": "I.e.", "etal": "et al.", "wrt": "w.r.t.",
    "cf": "cf.", "Cf": "Cf.", "etc": "etc.", "vs": "vs.", "aka": "a.k.a.",
    "xspace": "", "quad": " ", "qquad": " ", "enspace": " ", "thinspace": " ", "space": " ",
    "newline": " ", "par": "\n\n", "left": "", "right": "", "middle": "", "big": "", "Big": "",
    "bigg": "", "Bigg": "", "bigl": "", "bigr": "", "Bigl": "", "Bigr": "", "biggl": "", "biggr": "",
    "limits": "", "nolimits": "", "displaystyle": "", "textstyle": "", "scriptstyle": "",
    "nonumber": "", "notag": "", "mathstrut": "", "strut": "", "percent": "%",  # siunitx's, alone
}
_SYMBOL_CHARS = {
    ",": " ", ";": " ", ":": " ", ">": " ", "!": "", "/": "", "@": "", "-": "", " ": " ",
    "\n": " ", "\t": " ", "|": "‖", "&": "&", "%": "%", "$": "$", "#": "#", "_": "_", "{": "{", "}": "}",
}
_ACCENTS = {
    "'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304",
    ".": "\u0307", "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327", "k": "\u0328",
    "r": "\u030a", "d": "\u0323", "b": "\u0331",
}
_DISPLAY_MATH = frozenset(
    "equation align gather multline eqnarray flalign alignat displaymath dmath dgroup subequations".split()
)
_LIST_ENVS = frozenset(
    "itemize enumerate description compactitem compactenum compactdesc inparaenum asparaenum "
    "asparaitem".split()
)
# Not prose: dropped with their content.
_DROP_ENVS = frozenset(
    "figure table wrapfigure wraptable sidewaysfigure sidewaystable SCfigure SCtable subfigure subtable "
    "tabular tabularx tabulary longtable tabu supertabular array algorithm algorithm2e algorithmic "
    "lstlisting verbatim Verbatim minted tikzpicture pgfpicture axis picture thebibliography "
    "filecontents comment ack acks acknowledgments acknowledgements CCSXML icmlauthorlist".split()
)
_ENV_ARGS = {"minipage": "ooom", "multicols": "m", "adjustbox": "m", "spacing": "m", "center": "", "quote": ""}
_LIST_TOKEN = re.compile(r"\\(begin|end)\s*\{(?:" + "|".join(sorted(_LIST_ENVS)) + r")\*?\}|\\item(?![a-zA-Z])")
_MAX_NESTING = 100  # about four Python frames per level: stays clear of the recursion limit
_TEXT_SPECIAL = re.compile(r"[\\{}$~&`'\-]")
_MATH_SPECIAL = re.compile(r"[\\{}$~&]")
_DOLLAR_TOKEN = re.compile(r"\\[\s\S]|\$|\n[ \t]*\n")
_DASHES = re.compile(r"-+")
_MAX_VERB = 1000  # TeX ends \verb at the line; no real argument comes near this


class Converter:
    """LaTeX fragments -> plain text; paragraphs separated by blank lines, GAP marks left in.

    `refs` maps a label to (kind word, number) so references read "Table 1". Problems met
    on the way (unbalanced braces, unclosed environments) collect in `problems`.
    """

    def __init__(self, refs: dict[str, tuple[str, str]] | None = None):
        self.refs = refs or {}
        self.problems: list[str] = []
        self.headings = True
        self._depth = 0
        self._in_unclosed = False

    def text(self, tex: str, *, headings: bool) -> str:
        self.headings = headings
        return self.convert(tex, math=False)

    def problem(self, what: str) -> None:
        if what not in self.problems:
            self.problems.append(what)

    def convert(self, s: str, math: bool) -> str:
        if self._depth > _MAX_NESTING:  # absurd nesting: keep the words, lose the markup
            self.problem("markup nested too deeply was flattened")
            return _flatten(s)
        self._depth += 1
        try:
            with reading(s):
                return self._convert(s, math)
        finally:
            self._depth -= 1

    def _argument(self, arg: str, balanced: bool, math: bool) -> str:
        """A group's content, converted. An unclosed group holds the rest of its paragraph;
        one unclosed inside another is flattened rather than read again, or a chain of them
        (`\\section{ \\section{ ...`) would convert the paragraph once per link."""
        if balanced:
            return self.convert(arg, math)
        if self._in_unclosed:
            return _flatten(arg)
        self._in_unclosed = True
        try:
            return self.convert(arg, math)
        finally:
            self._in_unclosed = False

    def _convert(self, s: str, math: bool) -> str:
        special = _MATH_SPECIAL if math else _TEXT_SPECIAL
        out: list[str] = []
        i = 0
        while match := special.search(s, i):
            j = match.start()
            out.append(s[i:j])
            c = s[j]
            if c == "\\":
                i = self._control(s, j, out, math)
            elif c == "$":
                i = self._dollar(s, j, out)
            elif c in "{}":  # grouping only
                i = j + 1
            elif c in "~&":  # a non-breaking space; an alignment tab outside a table
                out.append(" ")
                i = j + 1
            elif c == "-":
                i = _DASHES.match(s, j).end()
                out.append({1: "-", 2: "–"}.get(i - j, "—"))
            else:  # `` and '' are quotes; single ` and ' stay apostrophes
                double = s.startswith(c * 2, j)
                out.append('"' if double else "'")
                i = j + 1 + double
        out.append(s[i:])
        return "".join(out)

    def _dollar(self, s: str, j: int, out: list[str]) -> int:
        if s.startswith("$$", j):
            end = s.find("$$", j + 2)
            if end < 0:
                self.problem("an unmatched $$ was dropped")
                return j + 2
            out.append(" [equation] ")
            return end + 2
        end = _closing_dollar(s, j + 1)
        if end is None:
            self.problem("an unmatched $ was dropped")
            return j + 1
        out.append(self.convert(s[j + 1 : end], math=True))
        return end + 1

    def _control(self, s: str, j: int, out: list[str], math: bool) -> int:
        match = CONTROL.match(s, j)
        if match is None:  # a lone backslash at the very end
            return j + 1
        name, i = match.group(1), match.end()
        if not name[0].isalpha():
            return self._control_symbol(name, s, i, out, math)
        if s.startswith("*", i):  # starred variants read the same for our purposes
            i += 1
        if name == "begin":
            return self._begin(s, i, out)
        if name == "end":  # of an unwrapped environment
            out.append(GAP)
            return group(s, i)[1]
        if name == "verb":
            return self._verb(s, i, out)
        if name in _ACCENTS and not math:
            return self._accent(name, s, i, out)
        if name == "item":  # outside a list environment
            label, i, _ = optional(s, i)
            out.append(f" {self.convert(label, math) if label else ''} ")
            return i
        if name in _HEADINGS or name in _RUN_IN_HEADINGS:
            return self._heading(name, s, i, out)
        if name in _REFS:
            keys, i, _ = group(s, i)
            out.append(self._ref(name, keys) or GAP)
            return i
        if math and name in ("frac", "dfrac", "tfrac", "cfrac", "sqrt"):
            return self._math_construct(name, s, i, out)
        if name in SIUNITX_ARGS:
            return self._siunitx(name, s, i, out)
        if name in _DIMENSION_COMMANDS:
            dimension = _DIMENSION.match(s, i)
            out.append(GAP)
            return dimension.end() if dimension else i
        if name in _ARGS:
            return self._with_args(_ARGS[name], s, i, out, math)
        if name in _SYMBOLS:
            out.append(_SYMBOLS[name])
        else:  # unknown: in text a formatting switch to drop, in math a named operator
            out.append(name if math else GAP)
        return i

    def _control_symbol(self, char: str, s: str, i: int, out: list[str], math: bool) -> int:
        if char in _ACCENTS and not math:
            return self._accent(char, s, i, out)
        if char == "\\":  # a line break, maybe \\* or \\[2pt]
            i += s.startswith("*", i)
            _, i, _ = optional(s, i)
            out.append(" ")
            return i
        if char in "[(":  # \[ display math \], \( inline math \)
            closer = "\\]" if char == "[" else "\\)"
            end = s.find(closer, i, window_end(s, i))
            if end < 0:  # not near: the index knows whether there is one at all
                end = text_index(s).find(closer, i)
            if end < 0:
                self.problem(f"an unmatched \\{char} was dropped")
                return i
            out.append(" [equation] " if char == "[" else self.convert(s[i:end], math=True))
            return end + 2
        out.append(_SYMBOL_CHARS.get(char, "" if char in "])" else char))
        return i

    def _accent(self, mark: str, s: str, i: int, out: list[str]) -> int:
        if mark.isalpha() or s.startswith("{", i):  # \c{c}, \v c, \'{e}
            arg, i, ok = group(s, i)
        else:  # \'e: the accent takes the very next character
            arg, i, ok = s[i : i + 1], i + 1, True
        base = self._argument(arg, ok, math=False).replace(GAP, "").strip()
        if base.startswith("ı"):  # \'{\i}: the dotless i carries the accent
            base = "i" + base[1:]
        out.append(unicodedata.normalize("NFC", base[:1] + _ACCENTS[mark] + base[1:]) if base else "")
        return i

    def _verb(self, s: str, i: int, out: list[str]) -> int:
        if i >= len(s):
            return i
        end = s.find(s[i], i + 1, i + 1 + _MAX_VERB)
        if end < 0:
            return i + 1
        out.append(s[i + 1 : end])
        return end + 1

    def _heading(self, name: str, s: str, i: int, out: list[str]) -> int:
        _, i, _ = optional(s, i)
        title, i, ok = group(s, i)
        if not ok:
            self.problem("unbalanced braces in a heading")
        text = one_line(self._argument(title, ok, math=False))
        if name in _RUN_IN_HEADINGS:  # "\paragraph{Setup} We..." reads "Setup. We..."
            if text and text[-1] not in ".:!?":
                text += "."
            out.append(f"\n\n{text} ")
        else:
            out.append(f"\n\n{text}\n\n" if self.headings and text else "\n\n")
        return i

    def _ref(self, command: str, keys: str) -> str:
        shown = []
        for key in keys.split(","):
            target = self.refs.get(key.strip())
            if target:
                shown.append(f"{target[0]} {target[1]}" if command in _NAMED_REFS else target[1])
        return ", ".join(shown)

    def _math_construct(self, name: str, s: str, i: int, out: list[str]) -> int:
        if name == "sqrt":
            _, i, _ = optional(s, i)
            radicand, i, ok = group(s, i)
            out.append("√" + _parenthesised(self._argument(radicand, ok, math=True)))
            return i
        numerator, i, ok = group(s, i)
        top = self._argument(numerator, ok, math=True)
        denominator, i, ok = group(s, i)
        out.append(f"{_parenthesised(top)}/{_parenthesised(self._argument(denominator, ok, math=True))}")
        return i

    def _with_args(self, spec: str, s: str, i: int, out: list[str], math: bool) -> int:
        kept: list[str] = []
        for kind in spec:
            if kind == "o":
                _, i, _ = optional(s, i)
                continue
            arg, i, ok = self._mandatory(s, i)
            if kind == "K":
                kept.append(self._argument(arg, ok, math))
            elif kind in "TM":
                kept.append(self._argument(arg, ok, math=kind == "M"))
            elif kind == "V":
                kept.append(arg.strip())
        out.append("".join(kept) if kept else GAP)
        return i

    def _siunitx(self, name: str, s: str, i: int, out: list[str]) -> int:
        """A siunitx command: its options dropped, its numbers read as math, its unit read
        from the unit macros (tex_units.py)."""
        _, i, _ = optional(s, i)
        values: list[str] = []
        unit_tex = pre_tex = None
        for kind in SIUNITX_ARGS[name]:
            if kind == "p":  # \SI{10}[\$]{}
                pre_tex, i, _ = optional(s, i)
                continue
            arg, i, ok = self._mandatory(s, i)
            if kind == "u":
                unit_tex = arg
            else:
                values.append(self._argument(arg, ok, math=True))
        out.append(siunitx_text(name, values, unit_tex, pre_tex))
        return i

    def _mandatory(self, s: str, i: int) -> tuple[str, int, bool]:
        """`group`, noting an unclosed one."""
        arg, i, ok = group(s, i)
        if not ok:
            self.problem("unbalanced braces: a group ran to the end of its paragraph")
        return arg, i, ok

    def _begin(self, s: str, i: int, out: list[str]) -> int:
        env, i, _ = group(s, i)
        env = env.strip()
        base = env.rstrip("*")
        if base in _DISPLAY_MATH or base in _DROP_ENVS or base in _LIST_ENVS or base == "math":
            span = env_span(s, env, i)
            if span is None:
                self.problem(f"an unclosed \\begin{{{env}}} was ignored")
                out.append(GAP)
                return i
            content = s[i : span[0]]
            if base == "math":
                out.append(self.convert(content, math=True))
            elif base in _DISPLAY_MATH:
                out.append(" [equation] ")
            elif base in _LIST_ENVS:
                out.append(f" {self._list(content, base)} ")
            else:
                out.append(GAP)
            return span[1]
        # Any other environment (theorem, quote, center, minipage...) holds prose: unwrap it.
        for kind in _ENV_ARGS.get(base, "o"):
            i = optional(s, i)[1] if kind == "o" else group(s, i)[1]
        out.append(GAP)
        return i

    def _list(self, content: str, env: str) -> str:
        """Items as sentences of one paragraph."""
        sentences = []
        for item in _split_items(content):
            label, i, _ = optional(item, 0)
            body = one_line(self.convert(item[i:], math=False))
            label_text = one_line(self.convert(label, math=False)) if label else ""
            if label_text:
                separator = ": " if env == "description" and label_text[-1] not in ".:;,!?" else " "
                body = f"{label_text}{separator}{body}"
            if body and body[-1] not in ".!?;:,":
                body += "."
            if body:
                sentences.append(body)
        return " ".join(sentences)


_FLATTEN = re.compile(r"\\[a-zA-Z]+|[{}$]")


def _flatten(s: str) -> str:
    """The words of `s` without its markup, in one linear pass."""
    return _FLATTEN.sub(" ", s)


def _split_items(content: str) -> list[str]:
    """The text after each top-level \\item (nested lists stay inside their item)."""
    starts: list[tuple[int, int]] = []
    depth = 0
    for token in _LIST_TOKEN.finditer(content):
        if token.group(1) == "begin":
            depth += 1
        elif token.group(1) == "end":
            depth -= 1
        elif depth == 0:
            starts.append((token.start(), token.end()))
    ends = [start for start, _ in starts[1:]] + [len(content)]
    return [content[after_item:end] for (_, after_item), end in zip(starts, ends)]


def _closing_dollar(s: str, start: int) -> int | None:
    """The `$` closing inline math opened before `start`; None past a blank line."""
    for token in _DOLLAR_TOKEN.finditer(s, start):
        if token.group() == "$":
            return token.start()
        if token.group().startswith("\n"):
            return None
    return None


def _parenthesised(text: str) -> str:
    text = text.strip()
    return f"({text})" if len(text) > 1 and re.search(r"[\s+\-·/]", text) else text

# --------------------------------------------------------------------------------------
# Paragraphs
# --------------------------------------------------------------------------------------


def paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each on one line, without empty ones."""
    return [p for block in BLANK_LINE.split(text) if (p := one_line(block))]


def one_line(text: str) -> str:
    text = " ".join(text.replace(GAP, "").split())
    text = re.sub(r"\(\s*[,;]?\s*\)|\[\s*[,;]?\s*\]", "", text)  # "()" where a citation was
    text = re.sub(r"[,;]\s*\)", ")", text)  # "(e.g., \cite{x})"
    text = re.sub(r"\s+([.,;:!?)\]])", r"\1", text)
    text = re.sub(r"([(\[])\s+", r"\1", text)
    return " ".join(text.split())
