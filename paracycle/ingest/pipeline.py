"""Fetched papers -> argument structures in an ingest directory.

    OUT/<id>.yaml                 the argument structure, the real abstract/intro as its anchor
    OUT/<id>.md                   the paper as Markdown, for `paracycle review`
    OUT/.ingest/cache/<id>/       arXiv metadata and source archive (arxiv_fetch)
    OUT/.ingest/work/<id>/        the extracted source and the parsed sections (sections.json)
    OUT/.ingest/manifest.jsonl    one IngestRecord per attempt: status, notes, the analyst's calls

The bookkeeping lives in a hidden folder so `paracycle collect OUT/` sees only structures.
A paper whose YAML exists is skipped (rerun after a crash resumes); a failed analysis writes
no YAML, is recorded, and is retried by the next run. Output files are written atomically.

The source archive is untrusted: it is parsed in a child process with a time and memory limit
(ingest/sandbox.py). A source that is refused (unsafe archive) or has no LaTeX falls back to
the arXiv abstract; a parse that fails (time, memory, a parser error) or a paper whose prompt
does not fit the model is recorded as failed, and the batch goes on to the next paper.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import Field

from paracycle.agents.analyst import Analyst, structure_to_yaml
from paracycle.engines.base import PromptTooLong, TokenCallback
from paracycle.fsutil import write_atomic
from paracycle.ingest.arxiv_fetch import FetchedPaper, PaperMeta, safe_id
from paracycle.ingest.markdown import sections_to_markdown
from paracycle.ingest.sandbox import ParseLimits, parse_source_limited, valid_text
from paracycle.ingest.sections import PaperSections
from paracycle.schemas import Generation, Strict, utcnow

# arXiv's category codes for the fields a writing model is most likely trained on; others
# are named by their code.
FIELDS = {
    "cs.CL": "computation and language",
    "cs.LG": "machine learning",
    "stat.ML": "machine learning",
    "cs.AI": "artificial intelligence",
    "cs.CV": "computer vision",
    "cs.IR": "information retrieval",
    "cs.DC": "distributed computing",
    "cs.OS": "operating systems",
    "cs.PL": "programming languages",
    "cs.SE": "software engineering",
    "cs.CR": "security",
    "cs.RO": "robotics",
    "cs.NE": "neural and evolutionary computing",
    "cs.DB": "databases",
    "cs.NI": "networking",
    "cs.AR": "computer architecture",
}


class IngestRecord(Strict):
    """One paper's outcome (a line of OUT/.ingest/manifest.jsonl)."""

    id: str
    version: int | None = None
    title: str
    status: Literal["ok", "failed", "skipped"]
    structure: str | None = Field(default=None, description="the YAML file, relative to OUT")
    markdown: str | None = Field(default=None, description="the Markdown file, relative to OUT")
    from_latex: bool = False
    notes: list[str] = Field(default_factory=list)
    error: str | None = None
    generations: list[Generation] = Field(default_factory=list)
    created_at: str = Field(default_factory=utcnow)


class ParseFailed(Exception):
    """The paper's source could not be parsed within its limits; str(err) says why."""


def ingest_dir(out: Path) -> Path:
    return out / ".ingest"


def ingest_papers(
    papers: list[FetchedPaper],
    out: Path,
    analyst: Analyst,
    *,
    force: bool = False,
    on_start: Callable[[FetchedPaper], None] | None = None,
    on_tokens: TokenCallback | None = None,
    limits: ParseLimits | None = None,
) -> list[IngestRecord]:
    """Ingest each paper in turn; every outcome is appended to the manifest as it happens."""
    records = []
    for paper in papers:
        if on_start is not None:
            on_start(paper)
        record = ingest_one(paper, out, analyst, force=force, on_tokens=on_tokens, limits=limits)
        append_manifest(out, record)
        records.append(record)
    return records


def structure_path(out: Path, meta: PaperMeta) -> Path:
    """Where a paper's argument structure goes; its existence means the paper is done."""
    return out / f"{safe_id(meta.id)}.yaml"


def ingest_one(
    paper: FetchedPaper,
    out: Path,
    analyst: Analyst,
    *,
    force: bool = False,
    on_tokens: TokenCallback | None = None,
    limits: ParseLimits | None = None,
) -> IngestRecord:
    meta = paper.meta
    name = safe_id(meta.id)
    yaml_path, md_path = structure_path(out, meta), out / f"{name}.md"
    base = {"id": meta.id, "version": meta.version, "title": meta.title}
    if yaml_path.exists() and not force:
        return IngestRecord(**base, status="skipped", structure=yaml_path.name, notes=["already ingested (--force to redo)"])

    try:
        sections = paper_sections(paper, ingest_dir(out) / "work" / name, limits)
    except ParseFailed as err:
        return IngestRecord(**base, status="failed", error=f"could not parse the LaTeX source: {err}")
    try:
        outcome = analyst.analyse(meta.title, sections, field=field_of(meta), on_tokens=on_tokens)
    except PromptTooLong as err:  # this paper's text; the next paper may well fit
        return IngestRecord(
            **base, status="failed", from_latex=sections.from_latex, notes=list(sections.notes),
            error=valid_text(f"the paper does not fit the analyst's context window: {err}"),
        )
    record = IngestRecord(
        **base, status="failed", from_latex=sections.from_latex, notes=list(sections.notes),
        generations=outcome.generations,
    )
    if outcome.structure is None:
        record.error = outcome.error
        return record
    write_atomic(yaml_path, structure_to_yaml(outcome.structure))
    record.status, record.structure = "ok", yaml_path.name
    if outcome.structure.anchor is None:
        record.notes.append("no anchor: the source gave no introduction to keep as human text")
    try:
        write_atomic(md_path, sections_to_markdown(meta.title, sections))
        record.markdown = md_path.name
    except ValueError as err:  # no introduction: nothing for `paracycle review` to read
        record.notes.append(f"no Markdown paper written: {err}")
    return record


def paper_sections(paper: FetchedPaper, workdir: Path, limits: ParseLimits | None = None) -> PaperSections:
    """The parsed LaTeX, or the arXiv abstract alone when there is no usable source.

    Raises ParseFailed when the source could not be parsed (time, memory, a parser error).
    """
    meta = paper.meta
    if paper.source is None:
        return abstract_only(meta, f"no source archive ({paper.error or 'not available'})")
    try:
        result = parse_source_limited(paper.source, workdir, limits)
    except OSError as err:  # the work folder itself cannot be made
        raise ParseFailed(valid_text(f"cannot prepare {workdir}: {err.strerror or err}")) from err
    if result.status == "refused":
        return abstract_only(meta, valid_text(f"source archive refused: {result.reason}"))
    if result.status == "no_latex":
        return abstract_only(meta, valid_text(f"no usable LaTeX: {result.reason}"))
    if result.sections is None:
        raise ParseFailed(result.reason or "the parser gave no result")
    sections = result.sections
    if not sections.abstract:
        sections = sections.model_copy(update={"abstract": meta.abstract, "notes": [*sections.notes, "abstract taken from arXiv's metadata"]})
    try:
        write_atomic(workdir / "sections.json", sections.model_dump_json(indent=2))
    except (OSError, ValueError) as err:  # a full disk; text JSON cannot hold
        raise ParseFailed(valid_text(f"cannot write sections.json: {err}")) from err
    return sections


def abstract_only(meta: PaperMeta, why: str) -> PaperSections:
    return PaperSections(
        title=meta.title, abstract=meta.abstract, from_latex=False,
        notes=[f"{why}; using the arXiv abstract only"],
    )


def field_of(meta: PaperMeta) -> str | None:
    category = meta.primary_category or (meta.categories[0] if meta.categories else None)
    return FIELDS.get(category, category) if category else None


def read_manifest(out: Path) -> list[IngestRecord]:
    """Every complete record; a line torn by a crash mid-append is skipped."""
    path = ingest_dir(out) / "manifest.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            records.append(IngestRecord.model_validate_json(line))
        except ValueError:  # pydantic's ValidationError included
            continue
    return records


def append_manifest(out: Path, record: IngestRecord) -> None:
    """Append one line. The log is never rewritten (write_atomic would copy all of it per
    paper), so the append is made crash-safe instead: one write, fsynced, and a line torn by
    an earlier crash is ended first, so it cannot swallow this record."""
    path = ingest_dir(out) / "manifest.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (record.model_dump_json() + "\n").encode("utf-8")
    with open(path, "a+b") as f:
        end = f.seek(0, os.SEEK_END)
        if end:
            f.seek(end - 1)
            if f.read(1) != b"\n":
                line = b"\n" + line
        f.write(line)  # "a" mode: always at the end, whatever was read
        f.flush()
        os.fsync(f.fileno())
