"""Read an existing paper in Markdown, for `paracycle review PAPER.md`.

The format is the one `Draft.to_markdown` writes, plus whatever else a paper has:

    # Title
    ## Abstract
    ...
    ## Introduction
    <!-- intro_p1 role: scene_setting -->      (optional role marker)
    First paragraph ...

    Second paragraph ...
    ## Method / ## Experiments / ...           ("the rest of the paper")

Introduction paragraphs are separated by blank lines; lines inside a paragraph are joined
with spaces (Markdown soft wraps). A role marker right before a paragraph sets its role;
paragraphs without one get a role from a keyword heuristic (`infer_roles`). Result-bearing
sentences of the rest of the paper become the Evidence the introduction is checked
against when no argument structure is given (`Paper.evidence`).

A backslash before '#', '`', '~', '<' or '\\' at the start of a line of the abstract or
introduction is a Markdown escape: "\\## x" is the text "## x", not a heading. That is how
`Draft.to_markdown` (`paracycle.text.markdown_line`) writes text that would otherwise read as
structure.

Every problem with the file is an InputError: one line naming the file, exit code 2.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from paracycle.errors import InputError
from paracycle.loading import read_text
from paracycle.schemas import (
    MAX_TEXT,
    ROLES,
    Draft,
    Evidence,
    EvidenceKind,
    Paragraph,
    Role,
)
from paracycle.text import claim_sentences, markdown_unescape, split_sentences

MAX_PAPER_BYTES = 5 * 1024 * 1024
# Evidence ids are "ev_<section slug>_<n>": the slug is cut so that a long heading still
# gives an id within the schema's bound.
MAX_SLUG_CHARS = 150

# The start of an ATX heading; see `_heading` for the rest of the line.
_HEADING_START = re.compile(r"(#{1,6})\s+")
_ROLE_MARKER = re.compile(r"^<!--\s*(\S+)\s+role:\s*(\S+)\s*-->$")
_COMMENT = re.compile(r"^<!--.*-->$")
# "1 Introduction", "2.1. Method", "IV. EXPERIMENTS" name the same sections as without.
_SECTION_NUMBER = re.compile(r"^(?:\d+(?:\.\d+)*\.?|[IVXLC]+\.)\s+")
# Sections whose sentences are not evidence: the conclusion restates the introduction (it
# would let a paper back its claims with themselves) and references cite other papers.
NOT_EVIDENCE = re.compile(
    r"^(conclusions?|concluding remarks|summary|future work|conclusion and future work|"
    r"references|bibliography|acknowledge?ments?)$"
)
_THEOREM = re.compile(r"\b(theorems?|lemmas?|corollary|proposition|proofs?|prove[sdn]?|provably)\b", re.I)
_ABLATION = re.compile(r"\bablat", re.I)


class Paper(BaseModel):
    """An existing paper: title, abstract, introduction paragraphs and the other sections."""

    model_config = ConfigDict(extra="forbid")

    source: str
    title: str
    abstract: str
    introduction: list[str]
    # The role each paragraph's marker names; None where the paragraph has no marker.
    marked_roles: list[Role | None]
    # The rest of the paper, in file order: section name -> text.
    sections: dict[str, str]

    @model_validator(mode="after")
    def _one_role_slot_per_paragraph(self) -> Paper:
        if len(self.marked_roles) != len(self.introduction):
            raise ValueError("marked_roles must have one entry per introduction paragraph")
        return self

    def roles(self) -> list[Role]:
        """Each paragraph's role: its marker's, or else the keyword heuristic's."""
        return infer_roles(self.introduction, self.marked_roles)

    def to_draft(self) -> Draft:
        """The abstract and introduction as a Draft (paragraph ids intro_p1, intro_p2, ...)."""
        return Draft(
            abstract=self.abstract,
            introduction=[
                Paragraph(id=f"intro_p{i}", role=role, text=text)
                for i, (text, role) in enumerate(zip(self.introduction, self.roles()), start=1)
            ],
        )

    def evidence(self) -> list[Evidence]:
        """Result-bearing sentences of the rest of the paper, one Evidence item each.

        Ids are "ev_<section-slug>_<n>"; kind is "theorem" when the section or sentence is
        about a theorem or proof, "ablation" when about an ablation, else "experiment".
        """
        items: list[Evidence] = []
        slugs = _UniqueSlugs()
        for name, body in self.sections.items():
            if NOT_EVIDENCE.match(canonical_section_name(name)):
                continue
            slug = slugs.take(_slug(name))
            location = _cut(name)
            for n, sentence in enumerate(claim_sentences(section_prose(body)), start=1):
                kind = evidence_kind(name, sentence)
                items.append(Evidence(id=f"ev_{slug}_{n}", kind=kind, location=location, finding=_cut(sentence)))
        return items


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


def load_paper(path: str | Path) -> Paper:
    """Read and parse a Markdown paper; every problem is a one-line InputError."""
    return parse_paper(read_text(path, max_bytes=MAX_PAPER_BYTES), str(path))


def parse_paper(text: str, source: str) -> Paper:
    """Parse Markdown text; `source` names the file in error messages."""
    title, sections = _split_sections(text)
    if not title:
        raise InputError(source, "no title (expected a first-level heading '# Title')", field="title")
    abstract = _abstract_text(_take_section(sections, "abstract", source))
    introduction = _take_section(sections, "introduction", source)
    if not abstract:
        raise InputError(source, "the '## Abstract' section is empty", field="abstract")
    paragraphs, marked_roles = _introduction_paragraphs(introduction, source)
    if not paragraphs:
        raise InputError(source, "the '## Introduction' section has no paragraphs", field="introduction")
    rest: dict[str, list[str]] = {}
    for name, body in sections:  # a repeated heading continues its section
        rest.setdefault(name, []).append(body.strip())
    return Paper(
        source=source,
        title=title,
        abstract=abstract,
        introduction=paragraphs,
        marked_roles=marked_roles,
        # Joined once: appending to a string per repeat would be quadratic.
        sections={name: "\n\n".join(bodies) for name, bodies in rest.items()},
    )


def _abstract_text(body: str) -> str:
    """The abstract as one line, with the line-start escapes `markdown_line` writes undone."""
    return " ".join(" ".join(markdown_unescape(line.strip()) for line in body.splitlines()).split())


def _split_sections(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The title and the (name, body) of every section, in file order.

    The first "# " heading is the title; "## " headings (and any later "# " heading) start
    sections; deeper headings stay inside their section. Lines in code fences are never
    headings.
    """
    title = ""
    sections: list[tuple[str, list[str]]] = []
    in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        heading = None if in_fence else _heading(line)
        if heading and heading[0] == 1 and not title and not sections:
            title = heading[1]
        elif heading and heading[0] <= 2:
            sections.append((heading[1], []))
        elif sections:
            sections[-1][1].append(line)
    return title, [(name, "\n".join(lines)) for name, lines in sections]


def _heading(line: str) -> tuple[int, str] | None:
    r"""(level, text) of an ATX heading ("## Method", "## Method ##"), else None.

    The same as r"^(#{1,6})\s+(.*?)\s*#*\s*$" with group 2 as the text, but that pattern
    backtracks cubically on a long run of spaces (a crafted 4 KB line took a minute): the
    closing hashes and the whitespace around them are stripped with str methods instead.
    """
    start = _HEADING_START.match(line)
    if start is None:
        return None
    return len(start.group(1)), line[start.end() :].rstrip().rstrip("#").rstrip()


def _take_section(sections: list[tuple[str, str]], wanted: str, source: str) -> str:
    """Remove the section called `wanted` from `sections` and return its body."""
    found = [i for i, (name, _) in enumerate(sections) if canonical_section_name(name) == wanted]
    heading = f"'## {wanted.capitalize()}'"
    if not found:
        raise InputError(source, f"no {heading} section", field=wanted)
    if len(found) > 1:
        raise InputError(source, f"{heading} appears {len(found)} times; expected once", field=wanted)
    return sections.pop(found[0])[1]


def _introduction_paragraphs(body: str, source: str) -> tuple[list[str], list[Role | None]]:
    """Paragraphs (blank-line separated) and the role each one's marker names, if any."""
    paragraphs: list[str] = []
    roles: list[Role | None] = []
    pending: Role | None = None  # a marker applies to the next paragraph
    for block in _blocks(body):
        lines: list[str] = []
        for line in block:
            marker = _ROLE_MARKER.match(line)
            if marker:
                pending = _marker_role(marker, source)
            elif not _COMMENT.match(line):
                lines.append(markdown_unescape(line))
        if lines:
            paragraphs.append(" ".join(lines))
            roles.append(pending)
            pending = None
    return paragraphs, roles


def _marker_role(marker: re.Match[str], source: str) -> Role:
    paragraph_id, role = marker.groups()
    if role not in ROLES:
        raise InputError(
            source,
            # _shown: this is the file's text on the user's terminal
            f"role marker for {_shown(paragraph_id)} names unknown role '{_shown(role)}' "
            f"(expected one of {', '.join(ROLES)})",
            field="introduction",
        )
    return role  # type: ignore[return-value]  # checked against ROLES above


def _blocks(body: str) -> list[list[str]]:
    """Stripped lines grouped into blocks at blank lines and headings; code fences dropped.

    Table rows are blocks of their own, so a results table reads as one "sentence" per row
    instead of running into the prose around it.
    """
    blocks: list[list[str]] = [[]]
    in_fence = False
    for raw in body.splitlines():
        line = raw.strip()
        if line.startswith(("```", "~~~")):
            in_fence = not in_fence
            blocks.append([])
        elif in_fence:
            continue
        elif not line or _heading(line):
            blocks.append([])
        elif line.startswith("|"):
            blocks += [[line], []]
        else:
            blocks[-1].append(line)
    return [b for b in blocks if b]


def section_prose(body: str) -> str:
    """A section body as paragraphs of prose separated by blank lines."""
    return "\n\n".join(" ".join(block) for block in _blocks(body))


def canonical_section_name(name: str) -> str:
    return _SECTION_NUMBER.sub("", name.strip()).strip().lower()


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", canonical_section_name(name)).strip("_")
    return slug[:MAX_SLUG_CHARS].rstrip("_") or "section"


class _UniqueSlugs:
    """Slugs made unique with a number: "method", "method2", "method3", ...

    Each slug remembers the last number it tried, so many sections with one slug cost
    linear time; numbers below it were taken and stay taken.
    """

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.next: dict[str, int] = {}

    def take(self, slug: str) -> str:
        candidate, n = slug, self.next.get(slug, 2)
        if candidate in self.used:
            candidate = f"{slug}{n}"
            while candidate in self.used:
                n += 1
                candidate = f"{slug}{n}"
            self.next[slug] = n + 1
        self.used.add(candidate)
        return candidate


def _cut(text: str) -> str:
    """Text within the schema's bound for an evidence field; only a broken file has more."""
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def _shown(text: str, limit: int = 60) -> str:
    """A piece of the file for an error message: printable (repr) and short."""
    text = text if text.isprintable() else repr(text)[1:-1]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def evidence_kind(section: str, sentence: str) -> EvidenceKind:
    if _THEOREM.search(section) or _THEOREM.search(sentence):
        return "theorem"
    if _ABLATION.search(section) or _ABLATION.search(sentence):
        return "ablation"
    return "experiment"


# --------------------------------------------------------------------------------------
# Role inference
# --------------------------------------------------------------------------------------

# Keyword cues per role, checked in this order: the first role whose cue appears wins.
# Later roles in the canonical order come first because their cues are more specific
# ("In summary, existing work..." is a summary, not a gap).
ROLE_CUES: tuple[tuple[Role, re.Pattern[str]], ...] = tuple(
    (role, re.compile(pattern, re.IGNORECASE))
    for role, pattern in (
        ("contribution_summary", r"\bcontributions?\b|\bin summary\b|\bwe make the following\b"),
        ("evidence_preview", r"\bexperiments?\b|\bresults\b|\bwe evaluate\b|\bwe show\b"),
        ("insight_delivery", r"\bwe (propose|introduce|present)\b|\bour key insight\b|\bkey idea\b"),
        ("method_preview", r"\bour method\b|\bwe design\b|\bconsists of\b|\bcomponents?\b"),
        ("gap_analysis", r"\bhowever\b|\byet\b|\bexisting\b|\bprior work\b|\bfail"),
        ("problem_statement", r"\bproblem\b|\bchallenge|\bdifficult"),
    )
)


def infer_roles(paragraphs: list[str], marked: list[Role | None] | None = None) -> list[Role]:
    """A role for every paragraph: its marker's if it has one, else a keyword guess.

    The heuristic, documented because a reviewer sees its output: the first paragraph sets
    the scene; for the others the first sentence decides (topic sentences say what a
    paragraph is for), then the whole paragraph, using ROLE_CUES in order; a paragraph
    with no cue continues the previous paragraph's role.
    """
    marked = marked or [None] * len(paragraphs)
    roles: list[Role] = []
    for index, (text, role) in enumerate(zip(paragraphs, marked)):
        if role is None:
            previous: Role = roles[-1] if roles else "scene_setting"
            role = "scene_setting" if index == 0 else _role_from_cues(text) or previous
        roles.append(role)
    return roles


def _role_from_cues(paragraph: str) -> Role | None:
    sentences = split_sentences(paragraph)
    for scope in (sentences[0] if sentences else "", paragraph):
        for role, cue in ROLE_CUES:
            if cue.search(scope):
                return role
    return None
