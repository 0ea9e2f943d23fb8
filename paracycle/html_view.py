"""One self-contained HTML page per cycle (or per checked or reviewed paper).

The page shows what a person would otherwise dig out of JSON: the argument structure as a
ledger (claims, the evidence each cites, open commitments), every revision with a word diff
against the one before, each claim sentence highlighted by the check's verdict with the
evidence or the reason beside it, the review's comments on the paragraph they name, the
scores per revision and the generation facts per step.

Self-contained on purpose: inline CSS, no script, no font, image or CDN, so it opens offline
and a reviewer can mail it. Every string from a paper or a model goes through Jinja2's
autoescape (`paracycle.html_templates`): a paper that says `<script>` shows the text.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from paracycle.fsutil import write_atomic
from paracycle.html_templates import render
from paracycle.report import VERDICTS
from paracycle.schemas import ArgumentStructure, Draft, Evidence, Generation, Review, StructuralCheck, Trajectory


@dataclass
class Segment:
    """A run of text: plain, or a claim sentence with its verdict and the note beside it."""

    text: str
    verdict: str | None = None  # "supported" | "partial" | "unsupported"
    note: str = ""
    number: int | None = None  # the margin note's number


@dataclass
class Unit:
    """The abstract or one introduction paragraph, as the page shows it."""

    id: str
    label: str
    segments: list[Segment]
    notes: list[Segment]  # the highlighted sentences' notes, in order
    diff: list[tuple[str, str]] | None  # (op, words): op is "same", "add" or "del"; None for the first draft
    problems: list[str] = field(default_factory=list)  # role order, from the check
    comments: list[str] = field(default_factory=list)  # the review's weaknesses on this unit


@dataclass
class Revision:
    number: int
    units: list[Unit]
    check: StructuralCheck | None
    review: Review | None
    review_error: str | None
    generations: list[Generation]


@dataclass
class LedgerRow:
    id: str
    text: str
    evidence: list[Evidence]
    missing: list[str]  # cited ids the structure does not have
    open: bool


# -- building the page's data ----------------------------------------------------------------


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """Words added and removed, in order (difflib on whitespace-separated words)."""
    a, b = before.split(), after.split()
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("same", " ".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("del", " ".join(a[i1:i2])))
        if j2 > j1:
            out.append(("add", " ".join(b[j1:j2])))
    return out


def highlight(text: str, marks: list[tuple[str, str, str]], first_number: int = 1) -> list[Segment]:
    """`text` cut into segments, each of `marks` (sentence, verdict, note) highlighted where the
    sentence occurs. The check reports sentences as they stand in the text, but whitespace
    may differ, so the search tolerates any run of spaces; a sentence not found (or
    overlapping one already placed) is left unmarked rather than guessed at."""
    spans = []
    for sentence, verdict, note in marks:
        words = sentence.split()
        if not words:
            continue
        found = re.search(r"\s+".join(map(re.escape, words)), text)
        if found and not any(s < found.end() and found.start() < e for s, e, *_ in spans):
            spans.append((found.start(), found.end(), verdict, note))
    spans.sort()
    out, at, number = [], 0, first_number
    for start, end, verdict, note in spans:
        if start > at:
            out.append(Segment(text[at:start]))
        out.append(Segment(text[start:end], verdict, note, number))
        at, number = end, number + 1
    if at < len(text):
        out.append(Segment(text[at:]))
    return out


def _marks(check: StructuralCheck | None, evidence: dict[str, Evidence], unit_id: str) -> list[tuple[str, str, str]]:
    """(sentence, verdict, note) for every claim sentence of one unit. Unsupported claims come
    first, so a sentence the check lists both ways shows the failure."""
    if check is None:
        return []
    marks = [(u.sentence, "unsupported", u.reason) for u in check.unsupported_claims if u.paragraph_id == unit_id]
    for c in check.commitments:
        if c.paragraph_id != unit_id:
            continue
        verdict = VERDICTS[c.status][0]
        if verdict == "supported":
            backing = [f"{i}: {evidence[i].finding}" if i in evidence else i for i in c.evidence_ids]
            note = "; ".join(backing) or (f"claim {c.matched_claim}" if c.matched_claim else c.reason)
        else:
            note = c.reason or "no evidence named"
        if c.second_opinion is not None and c.second_opinion.verdict is not None:
            note += f" (second opinion: {c.second_opinion.verdict}, {c.second_opinion.reason})"
        marks.append((c.sentence, verdict, note))
    return marks


def _units(draft: Draft, before: Draft | None, check: StructuralCheck | None, review: Review | None,
           evidence: dict[str, Evidence]) -> list[Unit]:
    texts = [("abstract", "abstract", draft.abstract)]
    texts += [(p.id, f"{p.id} · {p.role}", p.text) for p in draft.introduction]
    old = {"abstract": before.abstract} | {p.id: p.text for p in before.introduction} if before else {}
    problems: dict[str, list[str]] = {}
    for v in check.role_order_violations if check else []:
        problems.setdefault(v.paragraph_id, []).append(f"role order: {v.role} comes after {v.after_role}")
    comments: dict[str, list[str]] = {}
    for w in review.weaknesses if review else []:
        comments.setdefault(w.paragraph_id, []).append(f"{w.issue} — {w.suggestion}")
    units, number = [], 1
    for unit_id, label, text in texts:
        segments = highlight(text, _marks(check, evidence, unit_id), number)
        notes = [s for s in segments if s.verdict]
        number += len(notes)
        diff = word_diff(old.get(unit_id, ""), text) if before is not None else None
        units.append(Unit(unit_id, label, segments, notes, diff, problems.get(unit_id, []), comments.get(unit_id, [])))
    return units


def revisions(steps, structure: ArgumentStructure | None) -> list[Revision]:
    """Each draft step with the review step that followed it (if any)."""
    evidence = {e.id: e for e in structure.evidence} if structure else {}
    out, before = [], None
    for i, step in enumerate(steps):
        if step.kind != "draft" or step.draft is None:
            continue
        review = next((s for s in steps[i + 1:] if s.kind == "review" and s.revision == step.revision), None)
        check = review.structural_check if review else None
        out.append(Revision(
            number=step.revision,
            units=_units(step.draft, before, check, review.review if review else None, evidence),
            check=check, review=review.review if review else None,
            review_error=review.review_error if review else None,
            generations=list(step.generations) + (list(review.generations) if review else []),
        ))
        before = step.draft
    return out


def ledger(structure: ArgumentStructure) -> list[LedgerRow]:
    """The structure's claims with the evidence each cites; a claim citing none is open."""
    evidence = {e.id: e for e in structure.evidence}
    return [
        LedgerRow(c.id, c.text, [evidence[i] for i in c.evidence if i in evidence],
                  [i for i in c.evidence if i not in evidence], open=not c.evidence)
        for c in structure.claims
    ]


# -- pages --------------------------------------------------------------------------------------


def thread_page(trajectory: Trajectory) -> str:
    t = trajectory
    status = t.status + (f" ({t.stop_reason})" if t.stop_reason else "")
    return render(
        "thread", title=t.structure.title, subtitle=f"thread {t.thread_id} · structure {t.structure_hash} · {status}",
        structure=t.structure, ledger=ledger(t.structure), revisions=revisions(t.steps, t.structure), evidence=[],
    )


def draft_page(title: str, subtitle: str, draft: Draft, check: StructuralCheck, structure: ArgumentStructure | None,
               evidence: list[Evidence], review: Review | None = None, review_error: str | None = None) -> str:
    """A paper read by `check` or `review`: one revision, no diff."""
    known = {e.id: e for e in evidence}
    revision = Revision(0, _units(draft, None, check, review, known), check, review, review_error, [])
    return render(
        "thread", title=title, subtitle=subtitle, structure=structure,
        ledger=ledger(structure) if structure else [], revisions=[revision], evidence=evidence,
    )


def write_page(path: Path, page: str) -> Path:
    """Written whole or not at all: a half-written page is worse than none."""
    path = Path(path)
    write_atomic(path, page)
    return path
