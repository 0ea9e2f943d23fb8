r"""Parse an arXiv LaTeX source archive into `PaperSections`, safely.

Four stages, each usable on its own, chained by `parse_source`:

    extract_archive  what arXiv sent (tar, tar.gz, gzipped .tex, plain .tex) -> a directory
    find_main_tex    the .tex file with an uncommented \documentclass
    inline_inputs    \input / \include / \subfile inlined recursively, comments stripped
    parse_latex      title, abstract, introduction paragraphs, sections, floats, labels

Safety. The archive is untrusted bytes from the network. The format is sniffed from magic
bytes, never from the file name. gzip is decompressed as a stream with a byte cap (the size
a gzip header claims is never trusted), so a gzip bomb stops after a few megabytes. Tar
members are checked one by one and written by this module (never `extractall`): absolute
names, `..` components, links, devices, FIFOs, oversized members, an oversized total and
too many members all refuse the *whole* archive with `UnsafeArchive`; `tarfile.data_filter`
is applied on top as a second opinion. Everything is written into a temporary directory
next to `dest`, renamed to `dest` only when every member passed, so a refused archive
leaves nothing behind. `\input` only inlines files whose resolved path lies inside the
extracted tree.

Parsing is regular expressions plus a small recursive converter, not a TeX engine:

* Comments are stripped the way TeX does (`%` to end of line, not `\%`; a comment eats its
  line end, so a commented-out line never splits a paragraph), then `\iffalse...\fi`
  (its `\else` branch is kept) and `comment` environments.
* `\newcommand`/`\def`/`\DeclareMathOperator` macros are expanded textually: zero-argument
  ones and simple argument ones (`#1`...`#9`, optional first-argument default). Bodies
  that program TeX (`\def`, `\csname`, `\if`...) are left alone, and structural commands
  (`\section`, `\caption`, ...) are never redefined, so the structure stays findable.
* Structure (sections, `\appendix`, floats, labels and their numbers) is found on the
  LaTeX first; every text field is then converted to plain text, so `\ref{tab:main}`
  can become "1" and `\cref{tab:main}` "Table 1". Equation numbers are not tracked:
  `\eqref` is dropped.
* The converter keeps words and drops markup: formatting macros are unwrapped, citations,
  footnotes, labels and spacing commands vanish, inline math keeps its content with
  symbols simplified (`$1.8\times$` -> "1.8x", `$62\%$` -> "62%"), display math becomes
  "[equation]", tables/figures/algorithms/code are removed from prose (a float's caption
  lives in `PaperSections.floats`). Unknown macros are dropped in text and kept by name
  in math (`\log` -> "log").
* List items become sentences of the paragraph that holds the list (a contribution list
  stays one paragraph, as it reads in the PDF); an item without final punctuation gets a
  period so sentence splitting still works.
* Subsection headings are paragraphs of their own in section text, and paragraph breaks
  only (no text) in the introduction, whose paragraphs are its prose. `\paragraph{X}`
  starts a paragraph that begins with "X.".
* Text before the first `\section` (title block, teaser figure) is dropped when the paper
  has sections; a paper without any `\section` gets one Section named "". The references
  (`thebibliography`, a "References"/"Bibliography" section) and acknowledgement
  environments are dropped; sections after `\appendix` are named "Appendix: <name>".

Whatever the parser could not do goes to `PaperSections.notes`, in words (each note once,
at most MAX_NOTES, the rest counted). Only archive safety (`UnsafeArchive`) and a source
without LaTeX (`NoLatex`) raise; odd LaTeX never does.

Cost. The input is hostile, so every step is linear in its size. "Where does this group
close?" (braces, brackets, environments, \iffalse) is answered from a per-string index
built in one pass (`_Nesting`), not by a scan to the end per opener, which made repeated
unclosed openers quadratic; regular expressions never give two quantifiers the same
characters (possessive where they could); macro expansion stops before a pass outgrows its
limit rather than after. The ingest pipeline still runs this parser in a child process with
a time and memory limit (sandbox.py), as the backstop for whatever this misses.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import tarfile
import tempfile
import threading
import unicodedata
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from paracycle.errors import InputError
from paracycle.ingest.sections import Float, PaperSections, Section

# One canonical form for section names across the Markdown and the LaTeX readers.
from paracycle.paper import canonical_section_name

MB = 1024 * 1024


class UnsafeArchive(InputError):
    """The archive has a member this module refuses to extract; nothing was extracted."""

    def __init__(self, archive: str | Path, member: str, reason: str):
        self.member = member
        super().__init__(str(archive), f"refusing the archive: member {member!r} {reason}")


class NoLatex(InputError):
    """The source has no usable LaTeX (a PDF, unreadable bytes, no \\documentclass)."""

    def __init__(self, source: str | Path, reason: str):
        super().__init__(str(source), f"no LaTeX source: {reason}")


# ======================================================================================
# 1. Extraction
# ======================================================================================


@dataclass(frozen=True)
class _Limits:
    member_bytes: int
    total_bytes: int
    members: int

    @property
    def stream_bytes(self) -> int:
        """The most a gzip stream may decompress to: the files plus tar's per-member
        overhead (a header block, padding, and maybe a long-name header)."""
        return self.total_bytes + (self.members + 8) * 2048


def extract_archive(
    archive: Path,
    dest: Path,
    *,
    max_member_bytes: int = 20 * MB,
    max_total_bytes: int = 100 * MB,
    max_members: int = 2000,
) -> Path:
    """Extract an arXiv source archive into `dest` (created; must not exist or be empty).

    A tar (optionally gzipped) is extracted as is; a single (optionally gzipped) text file
    becomes `dest/main.tex`. Raises UnsafeArchive for anything unsafe and NoLatex for a PDF
    or bytes that are neither a tar nor text. On any error `dest` is not created.
    """
    archive, dest = Path(archive), Path(dest)
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise FileExistsError(f"{dest} exists and is not an empty directory")
    limits = _Limits(max_member_bytes, max_total_bytes, max_members)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        tree = staging / "tree"
        tree.mkdir()
        _extract_into(archive, staging, tree, limits)
        tree.chmod(0o755)  # mkdtemp's 0700 is for the staging area only
        if dest.exists():
            dest.rmdir()  # empty, checked above
        tree.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _extract_into(archive: Path, staging: Path, tree: Path, limits: _Limits) -> None:
    kind = _sniff(archive)
    payload = archive
    if kind == "gzip":
        payload = staging / "payload"
        _gunzip(archive, payload, limits.stream_bytes)
        kind = _sniff(payload)
        if kind == "gzip":  # arXiv never double-compresses; refuse rather than recurse
            kind = "binary"
    if kind == "tar":
        _extract_tar(archive, payload, tree, limits)
    elif kind == "text":
        _copy_single_file(archive, payload, tree, limits)
    elif kind == "pdf":
        raise NoLatex(archive, "arXiv served a PDF, not LaTeX")
    else:
        raise NoLatex(archive, "neither a tar archive nor a text file")


def _sniff(path: Path) -> str:
    """'gzip', 'tar', 'pdf', 'text' or 'binary', from the first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError as err:
        raise InputError(str(path), f"cannot read the archive ({err.strerror})") from err
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"%PDF"):
        return "pdf"
    if _looks_like_tar(head):
        return "tar"
    if b"\x00" in head or head.startswith((b"%!PS", b"PK\x03\x04", b"BZh", b"\xfd7zXZ")):
        return "binary"
    return "text"


def _looks_like_tar(head: bytes) -> bool:
    if len(head) < 512:
        return False
    if head[257:262] == b"ustar":  # POSIX and GNU tar
        return True
    try:  # old V7 tar has no magic: a valid header checksum is the only sign
        tarfile.TarInfo.frombuf(head[:512], "utf-8", "surrogateescape")
    except (tarfile.HeaderError, ValueError):
        return False
    return True


def _gunzip(archive: Path, out_path: Path, cap: int) -> None:
    """Decompress in 1 MB steps, stopping as soon as the output passes `cap`."""
    written = 0
    try:
        with gzip.open(archive, "rb") as src, open(out_path, "wb") as out:
            while chunk := src.read(MB):
                written += len(chunk)
                if written > cap:
                    raise UnsafeArchive(archive, "(gzip stream)", f"decompresses to more than {cap} bytes (gzip bomb?)")
                out.write(chunk)
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise NoLatex(archive, f"corrupt gzip data ({err})") from err


def _copy_single_file(archive: Path, payload: Path, tree: Path, limits: _Limits) -> None:
    if payload.stat().st_size > limits.member_bytes:
        raise UnsafeArchive(archive, archive.name, f"is larger than {limits.member_bytes} bytes")
    shutil.copyfile(payload, tree / "main.tex")
    (tree / "main.tex").chmod(0o644)


def _extract_tar(archive: Path, payload: Path, tree: Path, limits: _Limits) -> None:
    total = count = 0
    try:
        with tarfile.open(payload, mode="r:") as tf:
            while (member := tf.next()) is not None:
                count += 1
                if count > limits.members:
                    raise UnsafeArchive(archive, member.name, f"is past the limit of {limits.members} members")
                parts = _checked_parts(archive, member, tree)
                if member.isreg():
                    if member.size > limits.member_bytes:
                        raise UnsafeArchive(archive, member.name, f"is larger than {limits.member_bytes} bytes")
                    total += member.size
                    if total > limits.total_bytes:
                        raise UnsafeArchive(archive, member.name, f"brings the total past {limits.total_bytes} bytes")
                if parts:
                    _write_member(archive, tf, member, tree.joinpath(*parts), tree)
    except (tarfile.TarError, EOFError, zlib.error) as err:
        raise NoLatex(archive, f"unreadable tar archive ({err})") from err


def _checked_parts(archive: Path, member: tarfile.TarInfo, tree: Path) -> list[str]:
    """The member's path components, or UnsafeArchive if the member may not be extracted."""
    name = member.name
    if "\x00" in name:
        raise UnsafeArchive(archive, name, "has a NUL byte in its name")
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        raise UnsafeArchive(archive, name, "has an absolute path")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(archive, name, "has a '..' component")
    if member.issym() or member.islnk():
        raise UnsafeArchive(archive, name, f"is a {'symbolic' if member.issym() else 'hard'} link")
    if member.ischr() or member.isblk() or member.isfifo():
        raise UnsafeArchive(archive, name, "is a device or FIFO")
    if not (member.isreg() or member.isdir()):
        raise UnsafeArchive(archive, name, "is not a regular file or directory")
    try:  # a second opinion from the standard library (Python >= 3.11.4)
        tarfile.data_filter(member, str(tree))
    except tarfile.FilterError as err:
        raise UnsafeArchive(archive, name, f"is refused by tarfile's data filter ({err})") from err
    return parts


def _write_member(archive: Path, tf: tarfile.TarFile, member: tarfile.TarInfo, target: Path, tree: Path) -> None:
    # The checks above make escaping impossible; this one makes it impossible twice.
    if not target.resolve().is_relative_to(tree.resolve()):
        raise UnsafeArchive(archive, member.name, "resolves outside the destination")
    try:
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tf.extractfile(member)
        # O_NOFOLLOW: even a symlink that somehow got there is never written through.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out:
            if source is not None:
                shutil.copyfileobj(source, out, MB)
    except OSError as err:  # e.g. a file member where an earlier member made a directory
        raise UnsafeArchive(archive, member.name, f"cannot be written ({err.strerror or err})") from err


# ======================================================================================
# 2. The main file
# ======================================================================================

_DOCUMENTCLASS = re.compile(r"\\document(?:class|style)(?![a-zA-Z])")
_BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}")
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
            not _BEGIN_DOCUMENT.search(text),
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


# ======================================================================================
# 3. Comments and \input
# ======================================================================================

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
    conditionals: _Nesting | None = None  # built at the first \iffalse: most sources have none
    unclosed = False
    while match := _IFFALSE.search(tex, pos):
        if conditionals is None:
            conditionals = _Nesting(_conditional_tokens(tex))
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
        if _BEGIN_DOCUMENT.search(text):  # a \subfile (or a stray full document): its body only
            text = _document_body(text)
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


def _document_body(tex: str) -> str:
    begin = _BEGIN_DOCUMENT.search(tex)
    if begin is None:
        return tex
    end = _END_DOCUMENT.search(tex, begin.end())
    return tex[begin.end() : end.start() if end else len(tex)]


# ======================================================================================
# 4. Parsing
# ======================================================================================


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
        _clear_indexes()  # they hold this paper's strings


def _parse_latex(tex: str, notes: Notes) -> PaperSections:
    tex = strip_comments(tex.replace(_GAP, ""), notes)
    macros, tex = _collect_macros(tex)
    tex = _expand_macros(tex, macros, notes)
    labels = list(dict.fromkeys(m.group(1).strip() for m in _LABEL.finditer(tex)))
    title_raw = _find_title(tex)
    abstract_raw, tex = _take_abstract(tex)
    if _BEGIN_DOCUMENT.search(tex) is None:
        notes.append("no \\begin{document}: the whole text was parsed as the body")
    raw_sections = _split_sections(_document_body(tex))
    raw_floats = _take_floats(raw_sections, notes)
    converter = _Converter(_reference_targets(raw_sections, raw_floats))

    title = _one_line(converter.text(title_raw, headings=False)) if title_raw else ""
    abstract = "\n\n".join(_paragraphs(converter.text(abstract_raw or "", headings=False)))
    if not abstract:
        notes.append("no abstract in the LaTeX (use the arXiv abstract)")
    plain = [_one_line(converter.text(s.title, headings=False)) for s in raw_sections]
    names = [f"Appendix: {p}" if s.appendix else p for s, p in zip(raw_sections, plain)]
    introduction, sections = _introduction_and_sections(converter, raw_sections, plain, names, notes)
    floats = [
        Float(kind=f.kind, number=f.number, label=f.label, caption=caption, section=names[f.section])
        for f in raw_floats
        if (caption := _one_line(converter.text(f.caption, headings=False)))
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
        _, i, _ = _optional(tex, match.end())
        if _next_is_brace(tex, i):
            return _group(tex, i)[0]
    return None


def _next_is_brace(tex: str, i: int) -> bool:
    return tex.startswith("{", _skip_space(tex, i))


def _take_abstract(tex: str) -> tuple[str | None, str]:
    """The abstract's LaTeX (environment, else \\abstract{...}) and `tex` without it."""
    begin = _ABSTRACT_ENV.search(tex)
    if begin:
        span = _env_span(tex, "abstract", begin.end())
        if span:
            return tex[begin.end() : span[0]], tex[: begin.start()] + _GAP + tex[span[1] :]
    command = _ABSTRACT_CMD.search(tex)
    if command and _next_is_brace(tex, command.end()):
        text, end, _ = _group(tex, command.end())
        return text, tex[: command.start()] + _GAP + tex[end:]
    return None, tex


def _introduction_and_sections(
    converter: _Converter, raw: list[_RawSection], plain: list[str], names: list[str], notes: list[str]
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
            introduction = _paragraphs(converter.text(section.body, headings=False))
            continue
        sections.append(Section(name=name, text=_section_text(converter, section.body)))
    if introduction is None:
        notes.append("no Introduction section: introduction left empty")
    return introduction or [], sections


def _section_text(converter: _Converter, body: str) -> str:
    return "\n\n".join(_paragraphs(converter.text(body, headings=True)))


# --------------------------------------------------------------------------------------
# Macros
# --------------------------------------------------------------------------------------


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


def _collect_macros(tex: str) -> tuple[dict[str, _Macro], str]:
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
    kind, i = match.group(1), _skip_space(tex, match.end())
    if kind.endswith("def"):
        name = _CONTROL.match(tex, i)
        # The parameter text is short; looking further for the body's "{" would scan to the
        # end of the text once per unreadable \def.
        brace = tex.find("{", name.end(), name.end() + _MAX_PARAMETER_TEXT + 1) if name else -1
        if name is None or brace < 0 or (close := _match_brace(tex, brace)) < 0:
            return None
        params = tex[name.end() : brace].strip()
        simple = re.fullmatch(r"(?:#\d)*", params) is not None  # delimited parameters are not
        return name.group(1), _Macro(params.count("#"), tex[brace + 1 : close]) if simple else None, close + 1
    if tex.startswith("{", i):
        close = _match_brace(tex, i)
        # A name is short: slicing a long group only to find it is not one would copy the
        # rest of the text for every \newcommand{ nested in it.
        short = 0 < close - i <= _MAX_NAME_GROUP
        name = _CONTROL.fullmatch(tex[i + 1 : close].strip()) if short else None
        after = close + 1
    else:
        name = _CONTROL.match(tex, i)
        after = name.end() if name else i
    if name is None or not name.group(1)[0].isalpha():
        return None
    nargs_text, after, _ = _optional(tex, after)
    default, after, _ = _optional(tex, after) if kind != "DeclareMathOperator" else (None, after, True)
    brace = _skip_space(tex, after)
    # An unclosed body is unreadable; checked before slicing, as the next \newcommand
    # inside it is read again.
    if not tex.startswith("{", brace) or (close := _match_brace(tex, brace)) < 0:
        return None
    nargs = int(nargs_text) if nargs_text and nargs_text.strip().isdigit() else 0
    return name.group(1), _Macro(min(nargs, 9), tex[brace + 1 : close], default), close + 1


def _expand_macros(tex: str, macros: dict[str, _Macro], notes: list[str]) -> str:
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
            given, after, _ = _optional(tex, i)
            args.append(macro.default if given is None else given)
            i = after
        while len(args) < macro.nargs:
            arg, i, _ = _group(tex, i)
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
        _, i, _ = _optional(body, i)
        if not _next_is_brace(body, i):  # "\section" without a title is not a heading
            pos = match.end()
            continue
        title, i, _ = _group(body, i)
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
            span = _env_span(section.body, match.group(1), match.end())
            if span is None:  # the search moves on; the text, this \begin included, stays
                notes.append(f"an unclosed \\begin{{{match.group(1)}}} was left in the text")
                pos = match.end()
                continue
            content = section.body[match.end() : span[0]]
            floats += _captions(_drop_envs(content, _SUBFLOAT_ENV), match.group(2), counters, index)
            out += [section.body[kept : match.start()], _GAP]
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
        starred = content.startswith("*", _skip_space(content, i))
        if starred:
            i = _skip_space(content, i) + 1
        if match.group(1):  # \captionof{table}{...}
            kind_text, i, _ = _group(content, i)
            kind = "table" if "table" in kind_text else "figure"
        _, i, _ = _optional(content, i)
        caption, i, _ = _group(content, i)
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
            _, i, _ = _optional(section.body, i)
            i = _group_end(section.body, i)
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


# --------------------------------------------------------------------------------------
# Low-level reading: braces, brackets, environments
# --------------------------------------------------------------------------------------

# Marks where markup was removed. It is not whitespace, so a line that held only a
# \label or a figure does not turn into a blank line (a paragraph break); it is deleted
# when paragraphs are assembled.
_GAP = "\x00"
_CONTROL = re.compile(r"\\([a-zA-Z]+|[\s\S])")
# Possessive: a line of spaces followed by a blank line is given up in one step.
_SPACE = re.compile(r"[ \t]*+(?:\n[ \t]*+(?![\n \t]))?")
_BLANK_LINE = re.compile(r"\n\s*\n")
# The next brace or ']' that is not escaped, with the text before it skipped in C. The
# alternatives never overlap and the loop is possessive, so a search never backtracks; the
# `\\?\Z` branch lets the tail without any brace match once instead of failing from every
# position.
_NEXT_BRACE = re.compile(r"(?:[^\\{}\]]++|\\[\s\S])*+(?:([{}\]])|\\?\Z)")
_MAX_VERB = 1000  # TeX ends \verb at the line; no real argument comes near this
# How far the readers below scan before they ask the string's index instead.
_SHORT_SCAN = 32  # tokens
_SHORT_FIND = 2048  # characters
_SHORT_OPTIONAL = 256  # characters: [t], [width=0.5\linewidth], [see][p. 3]


class _Nesting:
    """Openers (+1) and closers (-1) of one kind in one string, indexed in a single pass.

    A scan from an opener to its closer is linear, but hostile sources repeat an unclosed
    opener (`{`, `[`, `\\begin{figure}`, `\\iffalse`) thousands of times, and one scan to
    the end of the text per opener is quadratic: a 335-byte archive took 16 s. Here
    `closer(pos)` answers in O(log n) what a scan starting at `pos` with depth 1 would
    find: the first later token at which the running depth falls below the depth at `pos`.
    """

    def __init__(self, tokens: Iterable[tuple[int, int, int]]):
        self.starts, self.ends = array("q"), array("q")
        self.depths = array("q")  # the running depth before each token ("slot")
        self._falls = array("q")  # slot -> the first token that falls below it, or -1
        waiting_depths, waiting_slots = array("q"), array("q")  # non-decreasing depths
        depth = 0
        for index, (start, end, step) in enumerate(tokens):
            self.starts.append(start)
            self.ends.append(end)
            self.depths.append(depth)
            self._falls.append(-1)
            waiting_depths.append(depth)
            waiting_slots.append(index)
            depth += step
            while waiting_depths and waiting_depths[-1] > depth:
                waiting_depths.pop()
                self._falls[waiting_slots.pop()] = index
        self.depths.append(depth)  # the slot after the last token never closes
        self._falls.append(-1)

    def _slot(self, pos: int) -> int:
        return bisect_left(self.starts, pos)

    def depth_at(self, pos: int) -> int:
        """The running depth just before `pos`."""
        return self.depths[self._slot(pos)]

    def closer(self, pos: int) -> int | None:
        """The index of the token closing a group whose content starts at `pos`, or None."""
        token = self._falls[self._slot(pos)]
        return token if token >= 0 else None


class _TextIndex:
    """What the readers below ask of one string, answered without rescanning it: braces
    (`{`/`}`, escapes skipped) and unescaped `]` by brace depth, environments, paragraph
    ends, last occurrences. Each part is built on first use, in one pass."""

    def __init__(self, s: str):
        self.s = s
        # Built whole, then assigned: two threads parsing the same string only repeat work.
        self._braces: tuple[_Nesting, dict[int, array]] | None = None
        self._environments: dict[str, _Nesting] = {}
        self._blank = (0, -1)  # (searched from, found at)
        self._last: dict[str, int] = {}

    @property
    def braces(self) -> _Nesting:
        return self._brace_index()[0]

    def _brace_index(self) -> tuple[_Nesting, dict[int, array]]:
        if self._braces is None:
            brackets: dict[int, array] = {}  # brace depth -> positions of ']' at that depth
            self._braces = (_Nesting(_brace_tokens(self.s, brackets)), brackets)
        return self._braces

    def environment(self, env: str) -> _Nesting:
        nesting = self._environments.get(env)
        if nesting is None:
            tokens = _env_pattern(env).finditer(self.s)
            nesting = _Nesting((m.start(), m.end(), 1 if m.group(1) == "begin" else -1) for m in tokens)
            self._environments[env] = nesting
        return nesting

    def bracket_closer(self, pos: int) -> int | None:
        """The first `]` from `pos` on at the brace depth of `pos`, before a `}` closes a
        group opened before `pos`; None if there is none."""
        braces, brackets = self._brace_index()
        candidates = brackets.get(braces.depth_at(pos))
        k = bisect_left(candidates, pos) if candidates else 0
        if not candidates or k == len(candidates):
            return None
        fall = braces.closer(pos)
        limit = braces.starts[fall] if fall is not None else len(self.s)
        return candidates[k] if candidates[k] < limit else None

    def find(self, sub: str, pos: int) -> int:
        """s.find(sub, pos); past the last occurrence the answer is known without a scan
        (each of many unmatched `\\[` would otherwise search to the end)."""
        last = self._last.get(sub)
        if last is None:
            last = self._last[sub] = self.s.rfind(sub)
        return self.s.find(sub, pos) if pos <= last else -1

    def paragraph_end(self, pos: int) -> int:
        """Where the first blank line at or after `pos` starts (len(s) if none).

        The last search is remembered: a search from any position up to the blank line it
        found finds the same one, so many unclosed groups in one paragraph cost one scan.
        """
        searched_from, found_at = self._blank
        if not searched_from <= pos <= found_at:
            blank = _BLANK_LINE.search(self.s, pos)
            searched_from, found_at = pos, blank.start() if blank else len(self.s)
            self._blank = (searched_from, found_at)  # one tuple: replaced atomically
        return found_at


def _brace_tokens(s: str, brackets: dict[int, array]) -> Iterator[tuple[int, int, int]]:
    depth = 0
    for match in _NEXT_BRACE.finditer(s):
        token, at = match.group(1), match.start(1)
        if token == "{":
            depth += 1
            yield at, at + 1, 1
        elif token == "}":
            depth -= 1
            yield at, at + 1, -1
        elif token == "]":
            brackets.setdefault(depth, array("q")).append(at)


class _Reading(threading.local):
    """The strings the converter is reading, innermost last, each with its index. An index
    kept only in the LRU below would be evicted by a deep or wide subtree and rebuilt after
    each one: quadratic. A string being read keeps its index until it is done."""

    def __init__(self):
        self.stack: list[list] = []  # [string, _TextIndex or None]


_READING = _Reading()


def _text_index(s: str) -> _TextIndex:
    stack = _READING.stack
    if stack and stack[-1][0] is s:
        if stack[-1][1] is None:
            stack[-1][1] = _TextIndex(s)
        return stack[-1][1]
    return _cached_text_index(s)


# Strings are hashed once (CPython caches a str's hash) and compared by identity first, so
# a lookup is cheap even for the whole paper. parse_latex clears the cache when it ends.
@lru_cache(maxsize=32)
def _cached_text_index(s: str) -> _TextIndex:
    return _TextIndex(s)


@contextmanager
def _reading(s: str) -> Iterator[None]:
    _READING.stack.append([s, None])
    try:
        yield
    finally:
        _READING.stack.pop()


def _clear_indexes() -> None:
    _cached_text_index.cache_clear()


def _window_end(s: str, start: int, size: int = _SHORT_FIND) -> int:
    """Where a short scan from `start` stops: a scan to the end of the text once per
    unclosed opener is what made them quadratic."""
    return min(len(s), start + size)


def _skip_space(s: str, i: int) -> int:
    """Past spaces and at most one line end: TeX looks that far for an argument."""
    return _SPACE.match(s, i).end()


def _match_brace(s: str, i: int) -> int:
    """Index of the `}` closing the `{` at s[i], or -1.

    A short scan finds almost every closer; a group still open after it is looked up in
    the string's index, so no opener costs a scan to the end of the text.
    """
    depth, end = 0, _window_end(s, i)
    for seen, match in enumerate(_NEXT_BRACE.finditer(s, i, end)):
        token = match.group(1)
        if token is None:  # no brace left (in the window)
            if end == len(s):
                return -1
            break
        if token != "]":
            depth += 1 if token == "{" else -1
            if depth == 0:
                return match.start(1)
        if seen == _SHORT_SCAN:
            break
    braces = _text_index(s).braces
    token = braces.closer(i + 1)
    return braces.starts[token] if token is not None else -1


def _group(s: str, i: int) -> tuple[str, int, bool]:
    """A mandatory argument after s[i]: a braced group or a single token.

    Returns (content, end, balanced). An unclosed group runs to the end of its paragraph,
    which is where TeX would complain too.
    """
    j = _skip_space(s, i)
    if j >= len(s) or s[j] == "}":
        return "", j, True
    if s[j] == "{":
        close = _match_brace(s, j)
        if close < 0:
            end = _text_index(s).paragraph_end(j)
            return s[j + 1 : end], end, False
        return s[j + 1 : close], close + 1, True
    if s[j] == "\\":
        token = _CONTROL.match(s, j)
        return (token.group(), token.end(), True) if token else ("", j + 1, True)
    return s[j], j + 1, True


def _group_end(s: str, i: int) -> int:
    """Where the argument `_group` would read ends, without copying it."""
    j = _skip_space(s, i)
    if j < len(s) and s[j] == "{":
        close = _match_brace(s, j)
        return close + 1 if close >= 0 else _text_index(s).paragraph_end(j)
    return _group(s, i)[1]


def _optional(s: str, i: int) -> tuple[str | None, int, bool]:
    """An optional [argument] after s[i]: (content or None, end, balanced)."""
    j = _skip_space(s, i)
    if not s.startswith("[", j):
        return None, i, True
    close = _short_bracket_scan(s, j + 1)
    if close == -2:  # undecided: look it up
        close = _text_index(s).bracket_closer(j + 1)
    if close is None or close < 0:
        return None, i, False  # an unclosed "[" is just text
    return s[j + 1 : close], close + 1, True


def _short_bracket_scan(s: str, start: int) -> int | None:
    """The `]` at brace depth 0 from `start`, None if a `}` or the end comes first, -2 if
    the short scan could not tell."""
    depth, end = 0, _window_end(s, start, _SHORT_OPTIONAL)
    for seen, match in enumerate(_NEXT_BRACE.finditer(s, start, end)):
        token = match.group(1)
        if token is None:  # no brace or ']' left (in the window)
            return None if end == len(s) else -2
        if token == "]" and depth == 0:
            return match.start(1)
        if token != "]":
            depth += 1 if token == "{" else -1
            if depth < 0:
                return None
        if seen == _SHORT_SCAN:
            return -2
    return None


def _env_span(s: str, env: str, start: int) -> tuple[int, int] | None:
    """(start of \\end{env}, end of \\end{env}) for an environment whose body starts at
    `start`, counting nested environments of the same name; None if never closed."""
    depth, end = 1, _window_end(s, start)
    for seen, match in enumerate(_env_pattern(env).finditer(s, start, end)):
        depth += 1 if match.group(1) == "begin" else -1
        if depth == 0:
            return match.start(), match.end()
        if seen == _SHORT_SCAN:
            break
    else:
        if end == len(s):
            return None
    nesting = _text_index(s).environment(env)
    token = nesting.closer(start)
    return (nesting.starts[token], nesting.ends[token]) if token is not None else None


@lru_cache(maxsize=256)
def _env_pattern(env: str) -> re.Pattern[str]:
    return re.compile(r"\\(begin|end)\s*\{" + re.escape(env) + r"\}")


def _drop_envs(s: str, begin: re.Pattern[str]) -> str:
    out: list[str] = []
    pos = 0
    while match := begin.search(s, pos):
        span = _env_span(s, match.group(1), match.end())
        if span is None:
            break
        out += [s[pos : match.start()], _GAP]
        pos = span[1]
    out.append(s[pos:])
    return "".join(out)


# --------------------------------------------------------------------------------------
# LaTeX -> plain text
# --------------------------------------------------------------------------------------

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
    "nonumber": "", "notag": "", "mathstrut": "", "strut": "",
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


class _Converter:
    """LaTeX fragments -> plain text; paragraphs separated by blank lines, _GAP marks left in.

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
            with _reading(s):
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
        match = _CONTROL.match(s, j)
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
            out.append(_GAP)
            return _group(s, i)[1]
        if name == "verb":
            return self._verb(s, i, out)
        if name in _ACCENTS and not math:
            return self._accent(name, s, i, out)
        if name == "item":  # outside a list environment
            label, i, _ = _optional(s, i)
            out.append(f" {self.convert(label, math) if label else ''} ")
            return i
        if name in _HEADINGS or name in _RUN_IN_HEADINGS:
            return self._heading(name, s, i, out)
        if name in _REFS:
            keys, i, _ = _group(s, i)
            out.append(self._ref(name, keys) or _GAP)
            return i
        if math and name in ("frac", "dfrac", "tfrac", "cfrac", "sqrt"):
            return self._math_construct(name, s, i, out)
        if name in _DIMENSION_COMMANDS:
            dimension = _DIMENSION.match(s, i)
            out.append(_GAP)
            return dimension.end() if dimension else i
        if name in _ARGS:
            return self._with_args(_ARGS[name], s, i, out, math)
        if name in _SYMBOLS:
            out.append(_SYMBOLS[name])
        else:  # unknown: in text a formatting switch to drop, in math a named operator
            out.append(name if math else _GAP)
        return i

    def _control_symbol(self, char: str, s: str, i: int, out: list[str], math: bool) -> int:
        if char in _ACCENTS and not math:
            return self._accent(char, s, i, out)
        if char == "\\":  # a line break, maybe \\* or \\[2pt]
            i += s.startswith("*", i)
            _, i, _ = _optional(s, i)
            out.append(" ")
            return i
        if char in "[(":  # \[ display math \], \( inline math \)
            closer = "\\]" if char == "[" else "\\)"
            end = s.find(closer, i, _window_end(s, i))
            if end < 0:  # not near: the index knows whether there is one at all
                end = _text_index(s).find(closer, i)
            if end < 0:
                self.problem(f"an unmatched \\{char} was dropped")
                return i
            out.append(" [equation] " if char == "[" else self.convert(s[i:end], math=True))
            return end + 2
        out.append(_SYMBOL_CHARS.get(char, "" if char in "])" else char))
        return i

    def _accent(self, mark: str, s: str, i: int, out: list[str]) -> int:
        if mark.isalpha() or s.startswith("{", i):  # \c{c}, \v c, \'{e}
            arg, i, ok = _group(s, i)
        else:  # \'e: the accent takes the very next character
            arg, i, ok = s[i : i + 1], i + 1, True
        base = self._argument(arg, ok, math=False).replace(_GAP, "").strip()
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
        _, i, _ = _optional(s, i)
        title, i, ok = _group(s, i)
        if not ok:
            self.problem("unbalanced braces in a heading")
        text = _one_line(self._argument(title, ok, math=False))
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
            _, i, _ = _optional(s, i)
            radicand, i, ok = _group(s, i)
            out.append("√" + _parenthesised(self._argument(radicand, ok, math=True)))
            return i
        numerator, i, ok = _group(s, i)
        top = self._argument(numerator, ok, math=True)
        denominator, i, ok = _group(s, i)
        out.append(f"{_parenthesised(top)}/{_parenthesised(self._argument(denominator, ok, math=True))}")
        return i

    def _with_args(self, spec: str, s: str, i: int, out: list[str], math: bool) -> int:
        kept: list[str] = []
        for kind in spec:
            if kind == "o":
                _, i, _ = _optional(s, i)
                continue
            arg, i, ok = _group(s, i)
            if not ok:
                self.problem("unbalanced braces: a group ran to the end of its paragraph")
            if kind == "K":
                kept.append(self._argument(arg, ok, math))
            elif kind in "TM":
                kept.append(self._argument(arg, ok, math=kind == "M"))
            elif kind == "V":
                kept.append(arg.strip())
        out.append("".join(kept) if kept else _GAP)
        return i

    def _begin(self, s: str, i: int, out: list[str]) -> int:
        env, i, _ = _group(s, i)
        env = env.strip()
        base = env.rstrip("*")
        if base in _DISPLAY_MATH or base in _DROP_ENVS or base in _LIST_ENVS or base == "math":
            span = _env_span(s, env, i)
            if span is None:
                self.problem(f"an unclosed \\begin{{{env}}} was ignored")
                out.append(_GAP)
                return i
            content = s[i : span[0]]
            if base == "math":
                out.append(self.convert(content, math=True))
            elif base in _DISPLAY_MATH:
                out.append(" [equation] ")
            elif base in _LIST_ENVS:
                out.append(f" {self._list(content, base)} ")
            else:
                out.append(_GAP)
            return span[1]
        # Any other environment (theorem, quote, center, minipage...) holds prose: unwrap it.
        for kind in _ENV_ARGS.get(base, "o"):
            i = _optional(s, i)[1] if kind == "o" else _group(s, i)[1]
        out.append(_GAP)
        return i

    def _list(self, content: str, env: str) -> str:
        """Items as sentences of one paragraph."""
        sentences = []
        for item in _split_items(content):
            label, i, _ = _optional(item, 0)
            body = _one_line(self.convert(item[i:], math=False))
            label_text = _one_line(self.convert(label, math=False)) if label else ""
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


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each on one line, without empty ones."""
    return [p for block in _BLANK_LINE.split(text) if (p := _one_line(block))]


def _one_line(text: str) -> str:
    text = " ".join(text.replace(_GAP, "").split())
    text = re.sub(r"\(\s*[,;]?\s*\)|\[\s*[,;]?\s*\]", "", text)  # "()" where a citation was
    text = re.sub(r"[,;]\s*\)", ")", text)  # "(e.g., \cite{x})"
    text = re.sub(r"\s+([.,;:!?)\]])", r"\1", text)
    text = re.sub(r"([(\[])\s+", r"\1", text)
    return " ".join(text.split())
