"""Every file format paracycle reads or writes, as pydantic models.

These models are the single source of truth: input files are validated against them,
trajectories are serialised from them, and the JSON schema a model is constrained to while
it generates (the Review) is generated from them. Field bounds on the model-facing schemas
(`max_length`, `max_items`) are there on purpose: they bound how long a constrained
generation can run, which matters with small models that never stop talking.

The input formats (the argument structure) are bounded too, far above anything a real paper
needs (MAX_TEXT characters per text field, MAX_ITEMS items per list, MAX_ID characters per
id): a file is read whole, hashed, put into prompts and checked sentence by sentence, and
those bounds keep every one of those steps small.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from paracycle.text import markdown_line, markdown_title

SCHEMA_VERSION = 1

Role = Literal[
    "scene_setting",
    "problem_statement",
    "gap_analysis",
    "insight_delivery",
    "method_preview",
    "evidence_preview",
    "contribution_summary",
]
ROLES: tuple[str, ...] = get_args(Role)  # in canonical order: going backwards is a flow weakness
RealizationType = Literal["explanatory", "enabling"]
EvidenceKind = Literal["experiment", "ablation", "analysis", "theorem", "case_study"]
CommitmentStatus = Literal["fulfilled", "partial", "unfulfilled"]


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Strict(BaseModel):
    """Unknown keys are an error in every file format."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------
# Argument structure (input)
# --------------------------------------------------------------------------------------

# Bounds of the input formats (see the module docstring): a long abstract is about 2,000
# characters, a long paragraph 3,000; a paper has tens of claims, not hundreds.
MAX_TEXT = 20_000  # characters per text field
MAX_ITEMS = 500  # items per list
MAX_ID = 200  # characters per id

_TEXT_BOUND = f"at most {MAX_TEXT:,} characters"
_ITEMS_BOUND = f"at most {MAX_ITEMS} items"
_ID_BOUND = f"at most {MAX_ID} characters"
# A list item: the list's own Field describes the whole list.
BoundedText = Annotated[str, Field(max_length=MAX_TEXT)]
BoundedId = Annotated[str, Field(max_length=MAX_ID)]


def _text(description: str = "") -> Any:
    """A required, bounded text field; the bound is part of its description."""
    return Field(min_length=1, max_length=MAX_TEXT, description=_described(description, _TEXT_BOUND))


def _id() -> Any:
    return Field(min_length=1, max_length=MAX_ID, description=_ID_BOUND)


def _items(description: str = "", **options: Any) -> Any:
    """A bounded list field (its items are bounded by their type)."""
    return Field(max_length=MAX_ITEMS, description=_described(description, _ITEMS_BOUND), **options)


def _described(description: str, bound: str) -> str:
    return f"{description} ({bound})" if description else bound


class MethodComponent(Strict):
    name: str = _text()
    description: str = _text()
    rationale: str = _text("why this design is necessary")


class Evidence(Strict):
    id: str = _id()
    kind: EvidenceKind
    location: str = _text()
    finding: str = _text()


class Claim(Strict):
    id: str = _id()
    text: str = _text()
    evidence: list[BoundedId] = _items(
        f"evidence ids, each {_ID_BOUND}; empty = no support yet", default_factory=list
    )


class Anchor(Strict):
    """The human-written text for this structure (from ingest)."""

    abstract: str = _text()
    introduction: list[BoundedText] = _items(f"paragraphs, each {_TEXT_BOUND}", min_length=1)


class ArgumentStructure(Strict):
    title: str = _text()
    field: str | None = Field(default=None, max_length=MAX_TEXT, description=_TEXT_BOUND)
    problem: str = _text()
    motivation: str = _text()
    gap: str = _text()
    insight: str = _text()
    realization_type: RealizationType
    method: list[MethodComponent] = _items(min_length=1)
    evidence: list[Evidence] = _items(default_factory=list)
    claims: list[Claim] = _items(default_factory=list)
    contributions: list[BoundedText] = _items(f"each {_TEXT_BOUND}", min_length=1)
    limitations: list[BoundedText] = _items(f"each {_TEXT_BOUND}", default_factory=list)
    anchor: Anchor | None = None

    @model_validator(mode="after")
    def _ids_are_consistent(self) -> ArgumentStructure:
        _require_unique([e.id for e in self.evidence], "evidence")
        _require_unique([c.id for c in self.claims], "claims")
        known = {e.id for e in self.evidence}
        for i, claim in enumerate(self.claims):
            for ref in claim.evidence:
                if ref not in known:
                    raise ValueError(
                        f"claims[{i}] ({claim.id!r}) names evidence id {ref!r}, which does not exist"
                    )
        return self

    def content_hash(self) -> str:
        """Stable hash of the structure's content (key order and whitespace do not matter)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _require_unique(ids: list[str], where: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(ids):
        if item in seen:
            raise ValueError(f"{where}[{i}] repeats id {item!r}; ids must be unique")
        seen.add(item)


# --------------------------------------------------------------------------------------
# Draft (writer output)
# --------------------------------------------------------------------------------------


class Paragraph(Strict):
    id: str = Field(pattern=r"^intro_p[0-9]+$")
    role: Role
    text: str


class Draft(Strict):
    abstract: str
    introduction: list[Paragraph]

    def paragraph(self, paragraph_id: str) -> Paragraph | None:
        return next((p for p in self.introduction if p.id == paragraph_id), None)

    def to_markdown(self, title: str) -> str:
        """Markdown that `paracycle review` reads back (roles kept as HTML comments).

        Each text is one line, escaped where it would read as a heading, code fence or role
        marker (`paracycle.text.markdown_line`): reading the file gives back the same
        paragraphs (whitespace collapsed) and roles, whatever the model wrote.
        """
        lines = [markdown_title(title), "", "## Abstract", "", markdown_line(self.abstract), "", "## Introduction", ""]
        for p in self.introduction:
            lines += [f"<!-- {p.id} role: {p.role} -->", markdown_line(p.text), ""]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Review (reviewer output; the model is constrained to this schema while it generates)
# --------------------------------------------------------------------------------------

Short = 200  # characters; bounds each free-text field a small model fills in
Id = 24


class CentralRealization(Strict):
    text: str = Field(max_length=Short)
    type: RealizationType
    why_this_type: str = Field(max_length=Short)


class ParagraphRoleAssessment(Strict):
    paragraph_id: str = Field(max_length=Id)
    role: Role
    function: str = Field(max_length=Short)


class ReviewCommitment(Strict):
    claim: str = Field(max_length=Short)
    source_paragraph: str = Field(max_length=Id)
    status: CommitmentStatus
    evidence_ids: list[str] = Field(max_length=4)
    fulfilled_in: str = Field(max_length=Short)


class Weakness(Strict):
    paragraph_id: str = Field(max_length=Id, description='an introduction paragraph id or "abstract"')
    issue: str = Field(max_length=Short)
    suggestion: str = Field(max_length=Short)


Score = Field(ge=1, le=10)


class Scores(Strict):
    closure: int = Score
    flow: int = Score
    clarity: int = Score
    significance: int = Score
    overall: int = Score


class Review(Strict):
    # Analysis fields come before scores so the model reasons before it grades.
    central_realization: CentralRealization
    paragraph_roles: list[ParagraphRoleAssessment] = Field(max_length=8)
    commitments: list[ReviewCommitment] = Field(max_length=6)
    weaknesses: list[Weakness] = Field(max_length=4)
    strengths: list[str] = Field(max_length=3)
    scores: Scores


# --------------------------------------------------------------------------------------
# Structural check (deterministic, no model)
# --------------------------------------------------------------------------------------


SpecificKind = Literal[
    "number", "quantity", "name", "baseline", "guarantee", "scope", "causal", "open_claim", "assertion"
]
EntailmentVerdict = Literal["yes", "partial", "no"]


class SpecificCheck(Strict):
    """One thing a claim sentence asserts, checked on its own against the structure."""

    kind: SpecificKind
    text: str = Field(description='as the sentence says it: "57%", "twice", "FirmBench", "every"')
    backed: bool
    source: str | None = Field(
        default=None, description='what backs it: an evidence id, a claim id, "method", "problem", ...'
    )
    matched: str | None = Field(default=None, description='the value or words it matched there: "37%", "2.1x"')
    reason: str = ""


class Entailment(Strict):
    """The model's answer to one entailment question (the second opinion's constrained schema)."""

    verdict: EntailmentVerdict
    reason: str = Field(max_length=300)


class SecondOpinion(Strict):
    """A model's verdict on one commitment, recorded beside the deterministic one."""

    verdict: EntailmentVerdict | None = None  # None when the model's answer failed
    reason: str = ""
    model: str = ""
    evidence_ids: list[str] = Field(default_factory=list)  # the evidence it was shown
    error: str | None = None


class CommitmentCheck(Strict):
    """One claim the draft makes, matched against the structure's claims and evidence."""

    sentence: str
    paragraph_id: str  # "abstract" or an introduction paragraph id
    status: CommitmentStatus
    matched_claim: str | None = None
    evidence_ids: list[str] = Field(default_factory=list)
    reason: str = ""
    # How sure the deterministic match is (1.0: every specific found where the sentence
    # puts it); borderline commitments are the ones a second opinion is asked about.
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    specifics: list[SpecificCheck] = Field(default_factory=list)
    second_opinion: SecondOpinion | None = None


class UnsupportedClaim(Strict):
    sentence: str
    paragraph_id: str
    reason: str


class RoleOrderViolation(Strict):
    paragraph_id: str
    role: Role
    after_role: Role


class LengthCheck(Strict):
    abstract_words: int
    introduction_words: int
    target_abstract_words: int
    target_introduction_words: int
    abstract_ratio: float
    introduction_ratio: float
    within_target: bool


class StructuralCheck(Strict):
    open_commitments: list[str] = Field(
        default_factory=list, description="structure claim ids that cite no evidence the structure has"
    )
    commitments: list[CommitmentCheck] = Field(default_factory=list)
    closure_rate: float | None = Field(
        default=None, description="fulfilled / commitments made; None when the draft makes none"
    )
    unsupported_claims: list[UnsupportedClaim] = Field(default_factory=list)
    dropped_contributions: list[str] = Field(default_factory=list)
    role_order_violations: list[RoleOrderViolation] = Field(default_factory=list)
    length: LengthCheck


# --------------------------------------------------------------------------------------
# Trajectory (stored)
# --------------------------------------------------------------------------------------


class SamplingParams(Strict):
    temperature: float = Field(default=0.7, ge=0.0)
    top_p: float = Field(default=0.9, gt=0.0, le=1.0)
    max_new_tokens: int = Field(default=256, ge=1)
    repetition_penalty: float = Field(default=1.1, gt=0.0)
    seed: int | None = None


ParseStatus = Literal["ok", "failed", "not_applicable"]


class Generation(Strict):
    """One call to a model: everything needed to reproduce or audit it."""

    agent: Literal["writer", "reviewer", "analyst"]
    purpose: str  # e.g. "draft:abstract", "revise:intro_p2", "review"
    model_id: str
    adapter_id: str | None = None
    sampling: SamplingParams
    prompt: list[dict[str, str]]
    output: str
    parse_status: ParseStatus
    parse_error: str | None = None
    prompt_tokens: int
    completion_tokens: int
    attempt: int = 1
    seconds: float = 0.0


class Step(Strict):
    index: int
    kind: Literal["draft", "review"]
    revision: int  # 0 = first draft, 1 = first revision, ...
    draft: Draft | None = None
    review: Review | None = None
    review_error: str | None = None  # set when every reviewer attempt violated the schema
    structural_check: StructuralCheck | None = None
    generations: list[Generation] = Field(default_factory=list)
    created_at: str = Field(default_factory=utcnow)


class Trajectory(Strict):
    schema_version: int = SCHEMA_VERSION
    thread_id: str
    structure_hash: str
    structure: ArgumentStructure
    steps: list[Step] = Field(default_factory=list)
    final_draft: Draft | None = None
    status: Literal["running", "completed", "failed"] = "running"
    stop_reason: str | None = None
    created_at: str = Field(default_factory=utcnow)
    finished_at: str | None = None


def grounded_review_schema(paragraph_ids: list[str], evidence_ids: list[str]) -> type[Review]:
    """A Review subclass whose id fields accept only ids that exist in this draft/structure.

    Constrained generation then cannot invent paragraph or evidence ids, and
    `paragraph_roles` assesses every paragraph exactly once, in order. It is derived from `Review`
    (not written twice); a parsed instance converts back with `Review.model_validate`.
    """
    def one_of(values: list[str]):
        return Literal[tuple(values)] if values else Annotated[str, Field(max_length=0)]

    location_id = one_of(["abstract", *paragraph_ids])
    evidence_id = one_of(evidence_ids)
    evidence_list = Annotated[list[evidence_id], Field(max_length=4 if evidence_ids else 0)]

    # One slot per paragraph, in order, its id fixed: "each paragraph exactly once" is then
    # part of the grammar (JSON schema prefixItems), not something a small model must get right.
    slots = [
        create_model(f"RoleOf_{pid}", __base__=ParagraphRoleAssessment, paragraph_id=(Literal[pid], ...))
        for pid in paragraph_ids
    ]
    roles_type = tuple[tuple(slots)] if slots else Annotated[list[ParagraphRoleAssessment], Field(max_length=0)]
    commitment = create_model(
        "GroundedCommitment",
        __base__=ReviewCommitment,
        source_paragraph=(location_id, ...),
        evidence_ids=(evidence_list, ...),
    )
    weakness = create_model("GroundedWeakness", __base__=Weakness, paragraph_id=(location_id, ...))
    return create_model(
        "GroundedReview",
        __base__=Review,
        paragraph_roles=(roles_type, ...),
        commitments=(list[commitment], Field(max_length=6)),
        weaknesses=(list[weakness], Field(max_length=4)),
    )
