"""The writer: drafts an abstract and a role-tagged introduction, and revises them.

A draft is planned, not improvised: one paragraph per role in canonical order, each written
from only the facts of the argument structure that role needs. All paragraphs and the
abstract are independent given the plan, so they go to the engine as one batch.
A revision rewrites only what the review and the structural check flagged, keeps the rest
verbatim, and restores canonical role order if the draft went backwards.
"""

from __future__ import annotations

import re
from collections import defaultdict

from paracycle.agents import writer_prompts as P
from paracycle.agents.common import messages, record
from paracycle.engines.base import ChatRequest, Engine, TokenCallback
from paracycle.schemas import (
    ROLES,
    ArgumentStructure,
    Draft,
    Generation,
    Paragraph,
    Review,
    StructuralCheck,
)
from paracycle.settings import WriterSettings
from paracycle.text import split_sentences

_NUMBER_WORDS = "zero one two three four five six seven eight nine ten".split()


class Writer:
    def __init__(self, engine: Engine, settings: WriterSettings | None = None):
        self.engine = engine
        self.settings = settings or WriterSettings()

    # -- drafting -------------------------------------------------------------------------

    def draft(
        self, structure: ArgumentStructure, on_tokens: TokenCallback | None = None
    ) -> tuple[Draft, list[Generation]]:
        jobs = self._draft_jobs(structure)
        texts, generations = self._run(jobs, "draft", on_tokens)
        return _assemble(jobs, texts), generations

    def _draft_jobs(self, structure: ArgumentStructure) -> list[tuple[str, str, ChatRequest]]:
        jobs = [("abstract", "abstract", self._abstract_request(structure))]
        for i, role in enumerate(planned_roles(structure), start=1):
            jobs.append((f"intro_p{i}", role, self._paragraph_request(structure, role)))
        return jobs

    def revise(
        self,
        structure: ArgumentStructure,
        draft: Draft,
        review: Review | None,
        check: StructuralCheck,
        on_tokens: TokenCallback | None = None,
    ) -> tuple[Draft, list[Generation]]:
        problems = problems_by_location(draft, review, check)
        jobs = []
        if "abstract" in problems:
            jobs.append(("abstract", "abstract", self._revise_request(structure, "abstract", draft.abstract, problems["abstract"])))
        for p in draft.introduction:
            if p.id in problems:
                jobs.append((p.id, p.role, self._revise_request(structure, p.role, p.text, problems[p.id])))
        texts, generations = self._run(jobs, "revise", on_tokens)
        paragraphs = [p.model_copy(update={"text": texts.get(p.id, p.text)}) for p in draft.introduction]
        if check.role_order_violations:
            paragraphs = in_canonical_order(paragraphs)
        return Draft(abstract=texts.get("abstract", draft.abstract), introduction=paragraphs), generations

    # -- requests -------------------------------------------------------------------------

    def _paragraph_request(self, s: ArgumentStructure, role: str) -> ChatRequest:
        return ChatRequest(draft_messages(s, role), self.settings.paragraph, prefill=self._opening(s, role))

    def _abstract_request(self, s: ArgumentStructure) -> ChatRequest:
        return ChatRequest(draft_messages(s, "abstract"), self.settings.abstract, prefill=self._opening(s, "abstract"))

    def _revise_request(self, s: ArgumentStructure, role: str, text: str, problems: list[str]) -> ChatRequest:
        if role == "abstract":
            user = P.REVISE_ABSTRACT.format(
                title=s.title, text=text, problems=bullets(problems), facts=bullets(abstract_facts(s))
            )
            sampling = self.settings.abstract
        else:
            user = P.REVISE_PARAGRAPH.format(
                title=s.title, purpose=P.ROLE_PURPOSE[role], text=text,
                problems=bullets(problems), facts=bullets(role_facts(s, role)),
            )
            sampling = self.settings.paragraph
        return ChatRequest(messages(P.SYSTEM, user), sampling, prefill=self._opening(s, role))

    def _opening(self, s: ArgumentStructure, role: str) -> str:
        if not self.settings.guided_openings:
            return ""
        return P.OPENINGS[role].format(**opening_values(s)).rstrip() + " "

    def _run(self, jobs, stage: str, on_tokens) -> tuple[dict[str, str], list[Generation]]:
        results = self.engine.generate([req for _, _, req in jobs], on_tokens=on_tokens)
        return self._texts(jobs, results, stage)

    def _texts(self, jobs, results, stage: str) -> tuple[dict[str, str], list[Generation]]:
        texts, generations = {}, []
        for (pid, _role, req), result in zip(jobs, results):
            limit = self.settings.max_abstract_sentences if pid == "abstract" else self.settings.max_paragraph_sentences
            texts[pid] = clean_prose(result.text, limit) or req.prefill.strip()
            generations.append(record(self.engine, "writer", f"{stage}:{pid}", req, result))
        return texts, generations


def draft_together(engine: Engine, items: list[tuple[ArgumentStructure, WriterSettings]]) -> list[Draft]:
    """First drafts of several structures in one engine call, in a fixed order: the batches an
    in-process engine forms (and the seed each is sampled with) depend only on `items`, so two
    writers given the same items and seeds draw paired samples (see `paracycle.eval.compare`)."""
    writers = [Writer(engine, settings) for _, settings in items]
    jobs = [w._draft_jobs(structure) for w, (structure, _) in zip(writers, items)]
    results = engine.generate([req for unit in jobs for _, _, req in unit])
    drafts, start = [], 0
    for writer, unit in zip(writers, jobs):
        texts, _ = writer._texts(unit, results[start : start + len(unit)], "draft")
        drafts.append(_assemble(unit, texts))
        start += len(unit)
    return drafts


def _assemble(jobs, texts: dict[str, str]) -> Draft:
    return Draft(
        abstract=texts["abstract"],
        introduction=[Paragraph(id=pid, role=role, text=texts[pid]) for pid, role, _ in jobs[1:]],
    )


# -- the plan and its facts ----------------------------------------------------------------


def draft_messages(s: ArgumentStructure, unit: str) -> list[dict[str, str]]:
    """The chat prompt that drafts one unit ("abstract" or a paragraph role). DPO pairs are
    built on these same prompts, so training shapes exactly what the writer is asked."""
    if unit == "abstract":
        user = P.ABSTRACT.format(title=s.title, field=s.field or "research", facts=bullets(abstract_facts(s)))
    else:
        user = P.PARAGRAPH.format(
            title=s.title, field=s.field or "research", purpose=P.ROLE_PURPOSE[unit], facts=bullets(role_facts(s, unit))
        )
    return messages(P.SYSTEM, user)


def planned_roles(structure: ArgumentStructure) -> list[str]:
    """Every canonical role, except an evidence preview when there is no evidence to preview."""
    return [r for r in ROLES if r != "evidence_preview" or structure.evidence]


def role_facts(s: ArgumentStructure, role: str) -> list[str]:
    if role == "scene_setting":
        return [f"Field: {s.field or 'research'}", f"Why it matters: {s.motivation}"]
    if role == "problem_statement":
        return [f"Problem: {s.problem}", f"Why it matters: {s.motivation}"]
    if role == "gap_analysis":
        return [f"What prior work misses: {s.gap}", f"Problem: {s.problem}"]
    if role == "insight_delivery":
        kind = "explains how something works" if s.realization_type == "explanatory" else "makes something possible"
        return [f"Central insight: {s.insight}", f"This insight {kind}."]
    if role == "method_preview":
        return [f"{c.name}: {c.description} It is needed because {lower_first(c.rationale)}" for c in s.method]
    if role == "evidence_preview":
        return [f"{e.location} ({e.kind}): {e.finding}" for e in s.evidence]
    if role == "contribution_summary":
        return list(s.contributions)
    raise ValueError(f"unknown role {role!r}")


def abstract_facts(s: ArgumentStructure) -> list[str]:
    facts = [f"Problem: {s.problem}", f"Gap: {s.gap}", f"Insight: {s.insight}"]
    facts += [f"Method: {c.name}: {c.description}" for c in s.method]
    facts += [f"Result ({e.location}): {e.finding}" for e in s.evidence[:3]]
    facts += [f"Contribution: {c}" for c in s.contributions]
    return facts


def opening_values(s: ArgumentStructure) -> dict[str, str]:
    first = s.method[0]
    n = len(s.method)
    evidence = s.evidence[0] if s.evidence else None
    return {
        "motivation": s.motivation.strip(),
        "problem": s.problem.strip(),
        "gap_lc": lower_first(s.gap.strip()),
        "insight_lc": lower_first(s.insight.strip()),
        "n_components": _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n),
        "first_component": f"The first, {lower_first(first.name)}, {lower_first(first.description.strip())}",
        "first_evidence_location": evidence.location if evidence else "our experiments",
        "first_finding": evidence.finding.strip() if evidence else "",
        "contributions": "; ".join(
            f"({i}) {lower_first(c.strip().rstrip('.'))}" for i, c in enumerate(s.contributions, start=1)
        ),
    }


# -- revision ------------------------------------------------------------------------------


def problems_by_location(draft: Draft, review: Review | None, check: StructuralCheck) -> dict[str, list[str]]:
    """What to fix where: 'abstract' or a paragraph id -> problems in words the model can act on."""
    known = {"abstract", *(p.id for p in draft.introduction)}
    problems: dict[str, list[str]] = defaultdict(list)
    for claim in check.unsupported_claims:
        problems[claim.paragraph_id].append(
            f'Unsupported claim: "{claim.sentence}" ({claim.reason}). Remove it or state only what the facts show.'
        )
    for contribution in check.dropped_contributions:
        where = next((p.id for p in draft.introduction if p.role == "contribution_summary"), "abstract")
        problems[where].append(f"The contribution '{contribution}' is missing. State it.")
    if review is not None:
        for w in review.weaknesses:
            problems[w.paragraph_id].append(f"{w.issue} Suggestion: {w.suggestion}".strip())
        for c in review.commitments:
            if c.status != "fulfilled":
                problems[c.source_paragraph].append(f"The claim '{c.claim}' is {c.status}ly supported.")
    problems = {k: v for k, v in problems.items() if k in known}
    if not problems:
        # Nothing specific was flagged but the draft did not pass: improve every part.
        general = "The review scored this text low. Make it clearer, more concrete and better connected."
        problems = {k: [general] for k in known}
    return problems


def in_canonical_order(paragraphs: list[Paragraph]) -> list[Paragraph]:
    ordered = sorted(paragraphs, key=lambda p: ROLES.index(p.role))  # stable: merges keep their order
    return [p.model_copy(update={"id": f"intro_p{i}"}) for i, p in enumerate(ordered, start=1)]


# -- text helpers ----------------------------------------------------------------------------

_LIST_MARKER = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?$")


def clean_prose(text: str, max_sentences: int) -> str:
    """One paragraph of prose: no headings or list markers, whole sentences only."""
    lines = [_LIST_MARKER.sub("", line) for line in text.splitlines() if not line.lstrip().startswith("#")]
    flat = re.sub(r"\s+", " ", " ".join(lines)).replace("**", "").strip()
    sentences = split_sentences(flat)
    if len(sentences) > 1 and not _SENTENCE_END.search(sentences[-1]):
        sentences = sentences[:-1]  # cut off mid-sentence by the token limit
    return " ".join(sentences[:max_sentences]).strip()


def lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word looks like a name (SpanSieve, GPU, L2)."""
    if not text:
        return text
    word = text.split()[0]
    if any(ch.isupper() or ch.isdigit() for ch in word[1:]):
        return text
    return text[0].lower() + text[1:]


def bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items) if items else "- (none)"
