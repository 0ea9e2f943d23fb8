r"""Parse an arXiv LaTeX source archive into `PaperSections`, safely.

Four stages, each usable on its own, chained by `parse_source`:

    extract_archive  (archive.py)     what arXiv sent (tar, tar.gz, gzipped .tex, plain .tex)
                                      -> a directory; the security-critical part
    find_main_tex    (tex_source.py)  the .tex file with an uncommented \documentclass
    inline_inputs    (tex_source.py)  \input / \include / \subfile inlined, comments stripped
    parse_latex      (this module)    title, abstract, introduction paragraphs, sections,
                                      floats, labels

Parsing is regular expressions plus a small recursive converter, not a TeX engine. Macros
are expanded first (tex_macros.py). Structure (sections, `\appendix`, floats, labels and
their numbers) is then found on the LaTeX, here; every text field is then converted to
plain text (tex_text.py), so `\ref{tab:main}` can become "1" and `\cref{tab:main}` "Table
1". Equation numbers are not tracked: `\eqref` is dropped.

* Subsection headings are paragraphs of their own in section text, and paragraph breaks
  only (no text) in the introduction, whose paragraphs are its prose.
* Text before the first `\section` (title block, teaser figure) is dropped when the paper
  has sections; a paper without any `\section` gets one Section named "". The references
  (`thebibliography`, a "References"/"Bibliography" section) and acknowledgement
  environments are dropped; sections after `\appendix` are named "Appendix: <name>".

Whatever the parser could not do goes to `PaperSections.notes`, in words (each note once,
at most MAX_NOTES, the rest counted). Only archive safety (`UnsafeArchive`) and a source
without LaTeX (`NoLatex`) raise; odd LaTeX never does.

Cost. The input is hostile, so every step is linear in its size (tex_scan.py says how).
The ingest pipeline still runs this parser in a child process with a time and memory
limit (sandbox.py), as the backstop for whatever this misses.
"""

from __future__ import annotations

import re
import shutil
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from paracycle.ingest.archive import NoLatex, UnsafeArchive, extract_archive
from paracycle.ingest.sections import Float, PaperSections, Section
from paracycle.ingest.tex_macros import collect_macros, expand_macros
from paracycle.ingest.tex_scan import GAP, clear_indexes, drop_envs, env_span, group, group_end, optional, skip_space
from paracycle.ingest.tex_source import BEGIN_DOCUMENT, document_body, find_main_tex, inline_inputs, strip_comments
from paracycle.ingest.tex_text import Converter, one_line, paragraphs

# One canonical form for section names across the Markdown and the LaTeX readers.
from paracycle.paper import canonical_section_name

# parse_source raises NoLatex and UnsafeArchive: a caller of this module catches them here.
__all__ = ["MAX_NOTES", "NoLatex", "Notes", "UnsafeArchive", "parse_latex", "parse_source", "text_name"]


def parse_source(archive: Path, workdir: Path, **limits: int) -> PaperSections:
    """extract_archive -> find_main_tex -> inline_inputs -> parse_latex.

    The archive is extracted to `workdir/source` (replaced if a previous run left it).
    `limits` are extract_archive's keyword limits. Raises UnsafeArchive or NoLatex.
    """
    dest = Path(workdir) / "source"
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.is_dir():
        shutil.rmtree(dest)
    root = extract_archive(Path(archive), dest, **limits)
    main = find_main_tex(root)
    notes = Notes()
    tex = inline_inputs(main, root, notes=notes)
    parsed = parse_latex(tex, notes=notes)
    return parsed.model_copy(update={"main_file": text_name(main.resolve().relative_to(root.resolve()).as_posix())})


def text_name(name: str) -> str:
    """A file name as valid text. Tar keeps name bytes that are not UTF-8 as surrogate
    escapes, which cannot be written as UTF-8 or JSON; they become U+FFFD."""
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that no decoder produced
        raw = name.encode("utf-8", "replace")
    return raw.decode("utf-8", "replace")


MAX_NOTES = 50


class Notes(list):
    """What the parser could not do: each note once, and at most `limit` of them; the rest
    are only counted. A source that repeats one problem (or names a thousand missing files)
    must not grow the list, the manifest and the analyst's prompt with it. Use append or
    extend (`+=` would bypass the cap); `final()` is the list to store."""

    def __init__(self, limit: int = MAX_NOTES):
        super().__init__()
        self.limit, self.dropped = limit, 0

    def append(self, note: str) -> None:
        if note in self:
            return
        if len(self) < self.limit:
            super().append(note)
        else:
            self.dropped += 1

    def extend(self, notes: Iterable[str]) -> None:
        for note in notes:
            self.append(note)

    def final(self) -> list[str]:
        more = [f"{self.dropped} more notes were left out"] if self.dropped else []
        return [*self, *more]


_LABEL = re.compile(r"\\label\s*\{([^{}]*)\}")
_TITLE = re.compile(r"\\(?:icml)?title(?![a-zA-Z])\s*\*?")
_ABSTRACT_ENV = re.compile(r"\\begin\s*\{abstract\}")
_ABSTRACT_CMD = re.compile(r"\\abstract(?![a-zA-Z])")
_INTRODUCTION = re.compile(r"^introduction\b")
_REFERENCES = frozenset({"references", "reference", "bibliography", "literature cited"})


def parse_latex(tex: str, *, notes: Notes | None = None) -> PaperSections:
    """Title, abstract, introduction paragraphs, other sections, floats and labels.

    `notes` holds what earlier stages (inlining) noted, so one cap covers the paper.
    """
    notes = Notes() if notes is None else notes
    try:
        return _parse_latex(tex, notes)
    finally:
        clear_indexes()  # they hold this paper's strings


def _parse_latex(tex: str, notes: Notes) -> PaperSections:
    tex = strip_comments(tex.replace(GAP, ""), notes)
    macros, tex = collect_macros(tex)
    tex = expand_macros(tex, macros, notes)
    labels = list(dict.fromkeys(m.group(1).strip() for m in _LABEL.finditer(tex)))
    title_raw = _find_title(tex)
    abstract_raw, tex = _take_abstract(tex)
    if BEGIN_DOCUMENT.search(tex) is None:
        notes.append("no \\begin{document}: the whole text was parsed as the body")
    raw_sections = _split_sections(document_body(tex))
    raw_floats = _take_floats(raw_sections, notes)
    converter = Converter(_reference_targets(raw_sections, raw_floats))

    title = one_line(converter.text(title_raw, headings=False)) if title_raw else ""
    abstract = "\n\n".join(paragraphs(converter.text(abstract_raw or "", headings=False)))
    if not abstract:
        notes.append("no abstract in the LaTeX (use the arXiv abstract)")
    plain = [one_line(converter.text(s.title, headings=False)) for s in raw_sections]
    names = [f"Appendix: {p}" if s.appendix else p for s, p in zip(raw_sections, plain)]
    introduction, sections = _introduction_and_sections(converter, raw_sections, plain, names, notes)
    floats = [
        Float(kind=f.kind, number=f.number, label=f.label, caption=caption, section=names[f.section])
        for f in raw_floats
        if (caption := one_line(converter.text(f.caption, headings=False)))
    ]
    notes.extend(converter.problems)
    return PaperSections(
        title=title or None,
        abstract=abstract,
        introduction=introduction,
        sections=sections,
        floats=floats,
        labels=labels,
        notes=notes.final(),
    )


def _find_title(tex: str) -> str | None:
    for match in _TITLE.finditer(tex):
        _, i, _ = optional(tex, match.end())
        if _next_is_brace(tex, i):
            return group(tex, i)[0]
    return None


def _next_is_brace(tex: str, i: int) -> bool:
    return tex.startswith("{", skip_space(tex, i))


def _take_abstract(tex: str) -> tuple[str | None, str]:
    """The abstract's LaTeX (environment, else \\abstract{...}) and `tex` without it."""
    begin = _ABSTRACT_ENV.search(tex)
    if begin:
        span = env_span(tex, "abstract", begin.end())
        if span:
            return tex[begin.end() : span[0]], tex[: begin.start()] + GAP + tex[span[1] :]
    command = _ABSTRACT_CMD.search(tex)
    if command and _next_is_brace(tex, command.end()):
        text, end, _ = group(tex, command.end())
        return text, tex[: command.start()] + GAP + tex[end:]
    return None, tex


def _introduction_and_sections(
    converter: Converter, raw: list[_RawSection], plain: list[str], names: list[str], notes: list[str]
) -> tuple[list[str], list[Section]]:
    """The introduction's paragraphs and every other section but the references."""
    introduction: list[str] | None = None
    sections: list[Section] = []
    for index, (section, name) in enumerate(zip(raw, names)):
        canonical = canonical_section_name(plain[index])
        if index == 0:  # text before the first \section: title block, teaser figure
            if len(raw) == 1:
                notes.append("no \\section commands: the whole body is one section named ''")
                sections.append(Section(name="", text=_section_text(converter, section.body)))
            continue
        if canonical in _REFERENCES:
            continue
        if introduction is None and not section.appendix and _INTRODUCTION.match(canonical):
            introduction = paragraphs(converter.text(section.body, headings=False))
            continue
        sections.append(Section(name=name, text=_section_text(converter, section.body)))
    if introduction is None:
        notes.append("no Introduction section: introduction left empty")
    return introduction or [], sections


def _section_text(converter: Converter, body: str) -> str:
    return "\n\n".join(paragraphs(converter.text(body, headings=True)))

# --------------------------------------------------------------------------------------
# Structure: sections, floats, what \ref points to
# --------------------------------------------------------------------------------------


@dataclass
class _RawSection:
    title: str  # LaTeX of the (long) title; "" for the text before the first \section
    number: str | None  # "3" or "A"; None when starred or before the first section
    appendix: bool
    body: str


@dataclass
class _RawFloat:
    kind: str  # "table" | "figure"
    number: int
    label: str | None
    caption: str  # LaTeX
    section: int  # index into the raw sections


_HEADING = re.compile(r"\\(section|appendix)(?![a-zA-Z])|\\(begin|end)\s*\{appendices\}")


def _split_sections(body: str) -> list[_RawSection]:
    """Text before the first \\section, then every \\section with its body, in order."""
    sections = [_RawSection("", None, False, "")]
    chunks: list[list[str]] = [[]]
    appendix, numbered, lettered, pos, cursor = False, 0, 0, 0, 0
    while match := _HEADING.search(body, pos):
        if match.group(1) != "section":  # \appendix, \begin{appendices}, \end{appendices}
            chunks[-1].append(body[cursor : match.start()])
            appendix = appendix or match.group(2) != "end"
            pos = cursor = match.end()
            continue
        i = match.end() + body.startswith("*", match.end())
        _, i, _ = optional(body, i)
        if not _next_is_brace(body, i):  # "\section" without a title is not a heading
            pos = match.end()
            continue
        title, i, _ = group(body, i)
        chunks[-1].append(body[cursor : match.start()])
        number = None
        if not body.startswith("*", match.end()):
            if appendix:
                lettered += 1
                number = chr(ord("A") + lettered - 1) if lettered <= 26 else str(lettered)
            else:
                numbered += 1
                number = str(numbered)
        sections.append(_RawSection(title, number, appendix, ""))
        chunks.append([])
        pos = cursor = i
    chunks[-1].append(body[cursor:])
    for section, chunk in zip(sections, chunks):
        section.body = "".join(chunk)
    return sections


_FLOAT_BEGIN = re.compile(r"\\begin\s*\{((?:sideways|wrap|SC)?(figure|table)\*?)\}")
_SUBFLOAT_ENV = re.compile(r"\\begin\s*\{(sub(?:figure|table|float)\*?)\}")
_CAPTION = re.compile(r"\\caption(of)?(?![a-zA-Z])")


def _take_floats(sections: list[_RawSection], notes: list[str]) -> list[_RawFloat]:
    """Every captioned table/figure, numbered like LaTeX; float bodies leave the text."""
    floats: list[_RawFloat] = []
    counters = {"figure": 0, "table": 0}
    for index, section in enumerate(sections):
        out: list[str] = []
        kept = pos = 0  # the text up to `kept` is in `out`; the search goes on from `pos`
        while match := _FLOAT_BEGIN.search(section.body, pos):
            span = env_span(section.body, match.group(1), match.end())
            if span is None:  # the search moves on; the text, this \begin included, stays
                notes.append(f"an unclosed \\begin{{{match.group(1)}}} was left in the text")
                pos = match.end()
                continue
            content = section.body[match.end() : span[0]]
            floats += _captions(drop_envs(content, _SUBFLOAT_ENV), match.group(2), counters, index)
            out += [section.body[kept : match.start()], GAP]
            kept = pos = span[1]
        out.append(section.body[kept:])
        section.body = "".join(out)
    return floats


def _captions(content: str, env_kind: str, counters: dict[str, int], section: int) -> list[_RawFloat]:
    """One float per numbered \\caption (a figure may hold two side by side)."""
    found: list[tuple[int, str, str]] = []  # (start, kind, caption LaTeX)
    pos = 0
    while match := _CAPTION.search(content, pos):
        i, kind = match.end(), env_kind
        starred = content.startswith("*", skip_space(content, i))
        if starred:
            i = skip_space(content, i) + 1
        if match.group(1):  # \captionof{table}{...}
            kind_text, i, _ = group(content, i)
            kind = "table" if "table" in kind_text else "figure"
        _, i, _ = optional(content, i)
        caption, i, _ = group(content, i)
        if not starred:  # \caption* is unnumbered
            found.append((match.start(), kind, caption))
        # Past the caption: an unclosed one runs to the paragraph's end, and reading every
        # \caption inside it again would copy the rest of the paragraph once per caption.
        pos = max(i, match.end())
    labels = [(m.start(), m.group(1).strip()) for m in _LABEL.finditer(content)]
    at = [start for start, _ in labels]
    floats = []
    for n, (start, kind, caption) in enumerate(found):
        stop = found[n + 1][0] if n + 1 < len(found) else len(content)
        first_after = bisect_left(at, start)  # labels are in order: no scan per caption
        if first_after < len(at) and at[first_after] < stop:
            label = labels[first_after][1]
        elif len(found) == 1 and first_after > 0:  # a lone caption may follow its label
            label = labels[0][1]
        else:
            label = None
        counters[kind] += 1
        floats.append(_RawFloat(kind, counters[kind], label, caption, section))
    return floats


_SUBHEADING = re.compile(r"\\(subsection|subsubsection)(?![a-zA-Z])")
_LEADING_LABEL = re.compile(r"\s*\\label\s*\{([^{}]*)\}")


def _reference_targets(sections: list[_RawSection], floats: list[_RawFloat]) -> dict[str, tuple[str, str]]:
    """label -> (kind word, number) for sections, subsections, tables and figures."""
    refs: dict[str, tuple[str, str]] = {}
    for section in sections:
        if section.number is None:
            continue
        kind = "Appendix" if section.appendix else "Section"
        # The label follows the heading, or hides inside it: \section{Method\label{sec:m}}.
        if label := _LEADING_LABEL.match(section.body) or _LABEL.search(section.title):
            refs[label.group(1).strip()] = (kind, section.number)
        sub = subsub = 0
        for match in _SUBHEADING.finditer(section.body):
            i = match.end()
            if section.body.startswith("*", i):
                continue
            _, i, _ = optional(section.body, i)
            i = group_end(section.body, i)
            if match.group(1) == "subsection":
                sub, subsub = sub + 1, 0
                number = f"{section.number}.{sub}"
            else:
                subsub += 1
                number = f"{section.number}.{sub}.{subsub}"
            if label := _LEADING_LABEL.match(section.body, i):
                refs[label.group(1).strip()] = ("Section", number)
    for item in floats:
        if item.label:
            refs[item.label] = (item.kind.capitalize(), str(item.number))
    return refs
