"""The analyst: a paper's sections become an ArgumentStructure (for `paracycle ingest arxiv`).

This is instruction backtranslation: the paper's own abstract and introduction are the
target text, the argument structure is the instruction a writer would need to produce it.
The real text is kept as the structure's `anchor`.

The default model is tiny, so everything that can be done without it is done by code:
- the evidence is found deterministically (`evidence_candidates`): table and figure
  captions first, then result-bearing sentences of the experiment/result sections;
- the model fills in only the free-text fields, constrained while it generates to a JSON
  schema whose evidence references can only be candidate ids (`analysis_schema`), with
  length bounds so it cannot ramble until it runs out of tokens;
- ids, evidence items, the title, the field and the anchor are added by code (`assemble`).

Evidence choice: the structure keeps *every* candidate, not only those a claim names. They
are all findings the paper really has, and the structural check backs a draft's claims
against the structure's evidence: dropping unreferenced candidates would make sentences of
the human anchor look unsupported only because a small model named too few ids.

Output that fails validation (truncated JSON, an assembled structure that is invalid) is
retried with a new seed; when every attempt fails, the failure is returned as data, never
raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, create_model

from paracycle.agents import analyst_prompts as P
from paracycle.agents.common import messages, schema_attempts
from paracycle.engines.base import Engine, TokenCallback
from paracycle.ingest.sections import PaperSections, Section
from paracycle.paper import NOT_EVIDENCE, canonical_section_name, evidence_kind, section_prose
from paracycle.schemas import (
    Anchor,
    ArgumentStructure,
    Evidence,
    EvidenceKind,
    Generation,
    MethodComponent,
    RealizationType,
    SamplingParams,
    Strict,
)
from paracycle.text import claim_sentences, numbers

# --------------------------------------------------------------------------------------
# Evidence candidates (deterministic)
# --------------------------------------------------------------------------------------

# Sections whose sentences report this paper's results.
_RESULT_SECTION = re.compile(
    r"experiment|result|evaluat|analys|ablat|empiric|benchmark|case stud|comparison|performance", re.I
)
# Sections never used as a fallback: their numbers are other papers' results.
_PRIOR_WORK = re.compile(r"related work|background|prior work|literature|preliminar", re.I)
# Sentences shorter than this are fragments; longer ones are flattened tables or formulas.
MIN_SENTENCE_WORDS = 4
MAX_SENTENCE_CHARS = 400


def evidence_candidates(sections: PaperSections, max_items: int = 12) -> list[Evidence]:
    """What the paper can show, found without a model; ids E1, E2, ... in order.

    Table/figure captions come first, in file order (location "Table 2 (tab:main)"). Then
    claim sentences (`paracycle.text.claim_sentences`: numbers, comparisons,
    result verbs) from the sections named like experiments/results/evaluation/analysis/
    ablation, or, when there is none, from every section except the conclusion, the
    references (as `Paper.evidence()` skips them) and related work. Sentences with a
    result-like number are preferred when there are more than fit; the chosen ones keep
    their file order. Duplicates (also of captions) are dropped.
    """
    items: list[tuple[EvidenceKind, str, str]] = []  # kind, location, finding
    seen: set[str] = set()

    def add(kind: EvidenceKind, location: str, finding: str) -> None:
        key = _dedupe_key(finding)
        if key and key not in seen and len(items) < max_items:
            seen.add(key)
            items.append((kind, location, finding))

    for float_ in sections.floats:
        caption = " ".join(float_.caption.split())
        if caption:
            location = f"{float_.kind.capitalize()} {float_.number}"
            if float_.label:
                location += f" ({float_.label})"
            add(_kind(float_.section, caption), location, caption)

    pool: list[tuple[bool, int, Section, str]] = []  # has a number, file order, section, sentence
    for section in _result_sections(sections.sections):
        for sentence in claim_sentences(section_prose(section.text)):
            sentence = " ".join(sentence.split())
            if len(sentence.split()) >= MIN_SENTENCE_WORDS and len(sentence) <= MAX_SENTENCE_CHARS:
                pool.append((bool(numbers(sentence)), len(pool), section, sentence))
    unique: dict[str, tuple[bool, int, Section, str]] = {}
    for entry in pool:
        key = _dedupe_key(entry[3])
        if key not in seen:
            unique.setdefault(key, entry)
    room = max(0, max_items - len(items))
    chosen = sorted(unique.values(), key=lambda e: (not e[0], e[1]))[:room]
    for _, _, section, sentence in sorted(chosen, key=lambda e: e[1]):
        add(_kind(section.name, sentence), section.name, sentence)

    return [
        Evidence(id=f"E{i}", kind=kind, location=location, finding=finding)
        for i, (kind, location, finding) in enumerate(items, start=1)
    ]


def _result_sections(sections: list[Section]) -> list[Section]:
    usable = [s for s in sections if not NOT_EVIDENCE.match(canonical_section_name(s.name))]
    named = [s for s in usable if _RESULT_SECTION.search(s.name)]
    return named or [s for s in usable if not _PRIOR_WORK.search(s.name)]


def _kind(section: str, text: str) -> EvidenceKind:
    """`Paper.evidence()`'s kind (theorem, ablation, experiment), refined by section name."""
    kind = evidence_kind(section, text)
    if kind == "experiment":
        name = canonical_section_name(section)
        if "case stud" in name:
            return "case_study"
        if "analys" in name:
            return "analysis"
    return kind


def _dedupe_key(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


# --------------------------------------------------------------------------------------
# The schema the model is constrained to
# --------------------------------------------------------------------------------------

TEXT = 300  # characters per free-text field: bounds how long a small model can ramble
NAME = 80

BoundedText = Annotated[str, Field(min_length=1, max_length=TEXT)]


class AnalysisMethod(MethodComponent):
    """A method component with length bounds (converted back to MethodComponent)."""

    name: str = Field(min_length=1, max_length=NAME)
    description: str = Field(min_length=1, max_length=TEXT)
    rationale: str = Field(min_length=1, max_length=TEXT, description="why this design is necessary")


class AnalysisClaim(Strict):
    text: BoundedText
    evidence: list[str] = Field(max_length=3, description="ids of the evidence candidates that back it")


class Analysis(Strict):
    """What the model fills in: the argument structure without ids, evidence or anchor.

    Every field is required (no defaults): the grammar then makes the model write each one.
    """

    problem: BoundedText
    motivation: BoundedText
    gap: BoundedText
    insight: BoundedText
    realization_type: RealizationType
    method: list[AnalysisMethod] = Field(min_length=1, max_length=4)
    claims: list[AnalysisClaim] = Field(min_length=1, max_length=5)
    contributions: list[BoundedText] = Field(min_length=1, max_length=4)
    limitations: list[BoundedText] = Field(max_length=3)


def analysis_schema(evidence_ids: list[str]) -> type[Analysis]:
    """An Analysis subclass whose claims can name only these evidence ids.

    With no candidates, every claim's evidence list must be empty (an open commitment).
    Derived from `Analysis` (not written twice); a parsed instance converts back with
    `Analysis.model_validate`.
    """
    if evidence_ids:
        evidence_type = Annotated[list[Literal[tuple(evidence_ids)]], Field(max_length=3)]
    else:
        evidence_type = Annotated[list[Annotated[str, Field(max_length=0)]], Field(max_length=0)]
    claim = create_model("GroundedAnalysisClaim", __base__=AnalysisClaim, evidence=(evidence_type, ...))
    return create_model(
        "GroundedAnalysis",
        __base__=Analysis,
        claims=(Annotated[list[claim], Field(min_length=1, max_length=5)], ...),
    )


# --------------------------------------------------------------------------------------
# The agent
# --------------------------------------------------------------------------------------


class AnalystSettings(Strict):
    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(
            temperature=0.2, top_p=0.9, max_new_tokens=900, repetition_penalty=1.1
        )
    )
    max_attempts: int = Field(default=2, ge=1)
    max_candidates: int = Field(default=12, ge=0)
    # The introduction is cut (at a paragraph boundary where possible) to fit a small context.
    max_intro_chars: int = Field(default=6000, ge=200)
    max_finding_chars: int = Field(default=240, ge=40, description="per evidence line in the prompt")


@dataclass
class AnalysisOutcome:
    structure: ArgumentStructure | None
    error: str | None
    generations: list[Generation]


class Analyst:
    def __init__(self, engine: Engine, settings: AnalystSettings | None = None):
        self.engine = engine
        self.settings = settings or AnalystSettings()

    def analyse(
        self,
        title: str,
        sections: PaperSections,
        field: str | None = None,
        on_tokens: TokenCallback | None = None,
    ) -> AnalysisOutcome:
        title = " ".join((title or sections.title or "").split())
        if not title:
            return AnalysisOutcome(None, "the paper has no title", [])
        evidence = evidence_candidates(sections, self.settings.max_candidates)
        schema = analysis_schema([e.id for e in evidence])
        prompt = messages(P.SYSTEM, analyse_prompt(title, sections, evidence, field, self.settings))
        generations: list[Generation] = []
        error = None
        for attempt, result in schema_attempts(
            self.engine, "analyst", "analyse", prompt, self.settings.sampling, schema,
            self.settings.max_attempts, generations, on_tokens,
        ):
            if result.parsed is None:
                error = f"attempt {attempt}: {result.parse_error}"
                continue
            try:
                analysis = Analysis.model_validate(result.parsed.model_dump())
                structure = assemble(title, field, analysis, evidence, anchor_of(sections))
            except ValidationError as err:
                error = f"attempt {attempt}: the assembled structure is invalid: {_first_error(err)}"
                continue
            return AnalysisOutcome(structure, None, generations)
        return AnalysisOutcome(
            None, f"no valid argument structure after {self.settings.max_attempts} attempts ({error})", generations
        )


def analyse_prompt(
    title: str,
    sections: PaperSections,
    evidence: list[Evidence],
    field: str | None = None,
    settings: AnalystSettings | None = None,
) -> str:
    settings = settings or AnalystSettings()
    lines = "\n".join(
        P.EVIDENCE_LINE.format(id=e.id, location=e.location, finding=_truncate(e.finding, settings.max_finding_chars))
        for e in evidence
    )
    return P.ANALYSE.format(
        title=title,
        field=field or P.NO_FIELD,
        abstract=" ".join(sections.abstract.split()),
        introduction=introduction_excerpt(sections.introduction, settings.max_intro_chars),
        evidence=lines or P.NO_EVIDENCE,
    )


def introduction_excerpt(paragraphs: list[str], max_chars: int) -> str:
    """Whole paragraphs while they fit; the first one is cut at a word if it alone does not."""
    kept: list[str] = []
    used = 0
    for paragraph in (" ".join(p.split()) for p in paragraphs):
        if not paragraph:
            continue
        cost = len(paragraph) + (2 if kept else 0)
        if used + cost > max_chars:
            if not kept:
                kept.append(_truncate(paragraph, max_chars))
            else:
                kept[-1] += P.TRUNCATED
            break
        kept.append(paragraph)
        used += cost
    return "\n\n".join(kept)


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(maxsplit=1)[0] if " " in text[:limit] else text[:limit]
    return cut + P.TRUNCATED


def anchor_of(sections: PaperSections) -> Anchor | None:
    """The paper's own abstract and introduction, when it has both."""
    paragraphs = [p for p in sections.introduction if p.strip()]
    if not sections.abstract.strip() or not paragraphs:
        return None
    return Anchor(abstract=sections.abstract, introduction=paragraphs)


def assemble(
    title: str, field: str | None, analysis: Analysis, evidence: list[Evidence], anchor: Anchor | None
) -> ArgumentStructure:
    """The ArgumentStructure from the model's fields plus what code knows.

    Claims get ids c1, c2, ...; repeated evidence ids within a claim are dropped; empty
    (whitespace-only) list items are dropped. Raises ValidationError when the result is
    not a valid structure (e.g. a whitespace-only problem).
    """

    def clean(items: list[str]) -> list[str]:
        return [" ".join(s.split()) for s in items if s.strip()]

    return ArgumentStructure.model_validate(
        {
            "title": title,
            "field": field,
            "problem": analysis.problem.strip(),
            "motivation": analysis.motivation.strip(),
            "gap": analysis.gap.strip(),
            "insight": analysis.insight.strip(),
            "realization_type": analysis.realization_type,
            "method": [
                {"name": m.name.strip(), "description": m.description.strip(), "rationale": m.rationale.strip()}
                for m in analysis.method
            ],
            "evidence": [e.model_dump() for e in evidence],
            "claims": [
                {"id": f"c{i}", "text": c.text.strip(), "evidence": list(dict.fromkeys(c.evidence))}
                for i, c in enumerate(analysis.claims, start=1)
            ],
            "contributions": clean(analysis.contributions),
            "limitations": clean(analysis.limitations),
            "anchor": anchor.model_dump() if anchor is not None else None,
        }
    )


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "(root)"
    return f"{where}: {first.get('msg')}"


def structure_to_yaml(structure: ArgumentStructure) -> str:
    """YAML that `paracycle.loading.load_structure` reads back into an equal structure."""
    data = structure.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1_000_000)
