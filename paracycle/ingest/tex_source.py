r"""The paper's LaTeX as one string: the main file found, comments stripped, inputs inlined.

* `find_main_tex`: the .tex file with an uncommented `\documentclass`.
* `strip_comments`: comments go the way TeX drops them (`%` to end of line, not `\%`; a
  comment eats its line end, so a commented-out line never splits a paragraph), then
  `\iffalse...\fi` (its `\else` branch is kept) and `comment` environments.
* `inline_inputs`: `\input` / `\include` / `\subfile` inlined recursively, and only files
  whose resolved path lies inside the extracted tree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from paracycle.ingest.archive import MB, NoLatex
from paracycle.ingest.tex_scan import Nesting

_DOCUMENTCLASS = re.compile(r"\\document(?:class|style)(?![a-zA-Z])")
BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}")
_END_DOCUMENT = re.compile(r"\\end\s*\{document\}")
_PREFERRED_MAIN_NAMES = frozenset({"main.tex", "ms.tex", "paper.tex"})


def find_main_tex(root: Path) -> Path:
    """The .tex file with an uncommented \\documentclass.

    Several: the one with \\begin{document}, then one named main/ms/paper.tex, then the
    largest (then the shallowest, then by name, so the choice is deterministic).
    """
    root = Path(root)
    candidates: list[tuple[tuple[bool, bool, int, int, str], Path]] = []
    for path in _tex_files(root):
        text = strip_comments(_read_text(path))
        if not _DOCUMENTCLASS.search(text):
            continue
        rel = path.relative_to(root)
        key = (
            not BEGIN_DOCUMENT.search(text),
            path.name.lower() not in _PREFERRED_MAIN_NAMES,
            -path.stat().st_size,
            len(rel.parts),
            rel.as_posix(),
        )
        candidates.append((key, path))
    if not candidates:
        raise NoLatex(root, "no .tex file with \\documentclass")
    return min(candidates)[1]


def _tex_files(root: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.lower().endswith(".tex") and path.is_file() and not path.is_symlink():
                found.append(path)
    return found


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # older arXiv sources are often Latin-1
        return data.decode("latin-1")

# --------------------------------------------------------------------------------------
# Comments and \input
# --------------------------------------------------------------------------------------

# `%` not escaped by an odd number of backslashes, to the end of the line; the line end and
# the next line's indentation go too (TeX semantics) unless the next line is blank, which
# must stay a paragraph break.
_COMMENT = re.compile(r"(?<!\\)((?:\\\\)*)%[^\n]*(?:\n[ \t]*(?=\S))?")
_IFFALSE = re.compile(r"\\iffalse(?![a-zA-Z])")
# Conditionals nest inside a skipped \iffalse block; \ifthenelse and \iff are not TeX
# conditionals (a macro and a math symbol).
_CONDITIONAL = re.compile(r"\\(if(?!thenelse|f(?![a-zA-Z]))[a-zA-Z]*|fi|else)(?![a-zA-Z])")
_COMMENT_BEGIN = re.compile(r"\\begin\s*\{comment\}")
_COMMENT_END = re.compile(r"\\end\s*\{comment\}")


def strip_comments(tex: str, notes: list[str] | None = None) -> str:
    """`tex` without comments, `\\iffalse...\\fi` blocks and comment environments."""
    tex = _COMMENT.sub(lambda m: m.group(1), tex)
    tex = _drop_iffalse(tex, notes)
    tex = _drop_comment_envs(tex)
    if notes is not None and _COMMENT_BEGIN.search(tex):
        notes.append("an unclosed comment environment was kept as text")
    return tex


def _drop_iffalse(tex: str, notes: list[str] | None) -> str:
    out: list[str] = []
    pos = 0
    conditionals: Nesting | None = None  # built at the first \iffalse: most sources have none
    unclosed = False
    while match := _IFFALSE.search(tex, pos):
        if conditionals is None:
            conditionals = Nesting(_conditional_tokens(tex))
        out.append(tex[pos : match.start()])
        fi = conditionals.closer(match.end())
        if fi is None:  # TeX would fail here; keep the text and say so
            unclosed = True
            pos = match.end()
            continue
        fi_start = conditionals.starts[fi]
        else_at = _else_branch(tex, match.end(), fi_start)
        if else_at is not None:
            out.append(tex[else_at:fi_start])
        pos = conditionals.ends[fi]
    if unclosed and notes is not None:
        notes.append("an \\iffalse without a matching \\fi was ignored")
    out.append(tex[pos:])
    return "".join(out)


def _conditional_tokens(tex: str) -> Iterator[tuple[int, int, int]]:
    for token in _CONDITIONAL.finditer(tex):
        if token.group(1) != "else":
            yield token.start(), token.end(), -1 if token.group(1) == "fi" else 1


def _else_branch(tex: str, start: int, stop: int) -> int | None:
    """Where the last \\else of the \\iffalse block tex[start:stop] ends (not a nested one's)."""
    depth, else_at = 1, None
    for token in _CONDITIONAL.finditer(tex, start, stop):
        word = token.group(1)
        if word == "else":
            else_at = token.end() if depth == 1 else else_at
        else:
            depth += -1 if word == "fi" else 1
    return else_at


def _drop_comment_envs(tex: str) -> str:
    """Every `\\begin{comment}...\\end{comment}` removed (the first \\end closes it). Once one
    has no \\end after it none of the later ones has, so the search stops there."""
    out: list[str] = []
    pos = 0
    while begin := _COMMENT_BEGIN.search(tex, pos):
        end = _COMMENT_END.search(tex, begin.end())
        if end is None:
            break
        out.append(tex[pos : begin.start()])
        pos = end.end()
    out.append(tex[pos:])
    return "".join(out)


_INPUT = re.compile(r"\\(input|include|subfile)(?![a-zA-Z])\s*(?:\{([^{}]*)\}|([^\s{}\\%]+))")
MAX_INPUT_DEPTH = 16
MAX_INLINED_CHARS = 50 * MB  # stops a file that inputs another twice, sixteen levels deep


def inline_inputs(main: Path, root: Path, *, notes: list[str] | None = None) -> str:
    """The main file with every \\input/\\include/\\subfile inlined, comments stripped.

    Names are resolved like LaTeX does (against the main file's directory, then the
    including file's), with ".tex" added when missing. A file outside `root`, a missing
    file, a cycle and anything deeper than MAX_INPUT_DEPTH are skipped with a note in
    `notes`.
    """
    notes = [] if notes is None else notes
    main = Path(main).resolve()
    state = _Inliner(root=Path(root).resolve(), main_dir=main.parent, notes=notes)
    return state.file(main, stack=(main,))


@dataclass
class _Inliner:
    root: Path
    main_dir: Path
    notes: list[str]
    chars: int = 0

    def file(self, path: Path, stack: tuple[Path, ...]) -> str:
        text = strip_comments(_read_text(path), self.notes)
        self.chars += len(text)
        return _INPUT.sub(lambda m: self._expand(m, path, stack), text)

    def _expand(self, match: re.Match[str], current: Path, stack: tuple[Path, ...]) -> str:
        command = match.group(1)
        name = (match.group(2) if match.group(2) is not None else match.group(3)).strip().strip('"')
        shown = f"\\{command}{{{name}}}"
        if len(stack) > MAX_INPUT_DEPTH:
            return self._skip(shown, f"nested deeper than {MAX_INPUT_DEPTH} levels")
        if self.chars > MAX_INLINED_CHARS:
            return self._skip(shown, f"the inlined source passed {MAX_INLINED_CHARS} characters")
        target, why = self._resolve(name, current.parent)
        if target is None:
            return self._skip(shown, why)
        if target in stack:
            return self._skip(shown, "it would input itself (a cycle)")
        text = self.file(target, stack + (target,))
        if BEGIN_DOCUMENT.search(text):  # a \subfile (or a stray full document): its body only
            text = document_body(text)
        # \include starts a new page, so it always ends the paragraph before it.
        return f"\n\n{text}\n\n" if command != "input" else text

    def _resolve(self, name: str, current_dir: Path) -> tuple[Path | None, str]:
        if not name:
            return None, "the file name is empty"
        names = [name] if name.lower().endswith(".tex") else [f"{name}.tex", name]
        outside = False
        for base in dict.fromkeys((self.main_dir, current_dir)):
            for candidate in names:
                path = (base / candidate).resolve()
                if not path.is_relative_to(self.root):
                    outside = True
                elif path.is_file():
                    return path, ""
        return None, ("it points outside the source tree" if outside else "the file is missing")

    def _skip(self, shown: str, why: str) -> str:
        self.notes.append(f"skipped {shown}: {why}")
        return ""


def document_body(tex: str) -> str:
    begin = BEGIN_DOCUMENT.search(tex)
    if begin is None:
        return tex
    end = _END_DOCUMENT.search(tex, begin.end())
    return tex[begin.end() : end.start() if end else len(tex)]
