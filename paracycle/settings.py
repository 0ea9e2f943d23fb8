"""What the agents and the cycle are configured with: the `cycle:` part of a run config.

These are plain data, so a config file loads without importing the agents, the graph or
the store (`paracycle.config` imports only this). The agents read their own part
(`WriterSettings`, `ReviewerSettings`); the graph reads `CycleConfiguration`.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import Field, model_validator

from paracycle.schemas import SamplingParams, Strict


class WriterSettings(Strict):
    paragraph: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=0.7, top_p=0.9, max_new_tokens=96)
    )
    abstract: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=0.7, top_p=0.9, max_new_tokens=140)
    )
    # Open each paragraph with the structure's own words (see writer_prompts.OPENINGS).
    guided_openings: bool = True
    max_paragraph_sentences: int = Field(default=5, ge=1)
    max_abstract_sentences: int = Field(default=7, ge=1)


class ReviewerSettings(Strict):
    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(
            temperature=0.3, top_p=0.9, max_new_tokens=768, repetition_penalty=1.15
        )
    )
    max_attempts: int = Field(default=2, ge=1)
    # Show the deterministic checker's findings to the model. A small reviewer then grounds
    # its commitments in what the checker found instead of guessing.
    show_checker_notes: bool = True

    # A second opinion on borderline commitments: the reviewer model is asked, one sentence at
    # a time, whether the evidence the sentence names entails it (yes / partial / no). Its
    # verdict is recorded beside the deterministic one (`CommitmentCheck.second_opinion`) and
    # never replaces it: status and closure rate stay the structural check's. Meant for a
    # served, strong reviewer; off by default because the 135M embedded model on CPU answers
    # this no better than noise, at the cost of a generation per question.
    second_opinion: bool = False
    # Borderline: every "partial" commitment, and any commitment (fulfilled or unfulfilled)
    # whose match confidence is below this. A commitment with no evidence to show the model
    # (it names none, and the claim it matched names none) is never asked: nothing can entail it.
    second_opinion_below: float = Field(default=0.75, ge=0.0, le=1.0)
    # At most this many questions per draft, the least confident first: a draft full of weak
    # matches must not turn one review into dozens of generations.
    second_opinion_max: int = Field(default=8, ge=0)
    # A verdict and one short reason (`Entailment.reason` is at most 300 characters): far
    # fewer tokens than a review. Low temperature: a judgement, not a sample; still above 0
    # so that a retry (with the next seed) can give a different answer.
    second_opinion_sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=0.2, top_p=0.9, max_new_tokens=160, repetition_penalty=1.0)
    )


class LengthTargets(Strict):
    """How long a draft should be: within target when both parts are inside target ± tolerance."""

    abstract_words: int = Field(default=200, ge=1)
    introduction_words: int = Field(default=600, ge=1)
    tolerance: float = Field(default=0.5, ge=0.0, description="0.5: within ±50% of each target")


# Config files written before `lengths:` existed spelled the targets as flat `cycle:` keys.
_FLAT_LENGTH_KEYS = {
    "target_abstract_words": "abstract_words",
    "target_introduction_words": "introduction_words",
    "length_tolerance": "tolerance",
}


class CycleConfiguration(Strict):
    max_revisions: int = Field(default=2, ge=0, description="revisions after the first draft")
    min_overall: int = Field(default=7, ge=1, le=10, description="reviewer overall score to pass")
    min_closure: float = Field(default=0.8, ge=0.0, le=1.0, description="structural closure rate to pass")
    review: Literal["model", "structural"] = Field(
        default="model",
        description="structural: no model review; the claim ledger alone scores drafts and decides revisions "
                    "(for machines where the reviewer model costs most of the time and says little)",
    )
    lengths: LengthTargets = Field(default_factory=LengthTargets)
    writer: WriterSettings = Field(default_factory=WriterSettings)
    reviewer: ReviewerSettings = Field(default_factory=ReviewerSettings)

    @model_validator(mode="before")
    @classmethod
    def _flat_length_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(k in data for k in _FLAT_LENGTH_KEYS):
            data = dict(data)
            lengths = dict(data.get("lengths") or {})
            for old, new in _FLAT_LENGTH_KEYS.items():
                if old in data:
                    lengths[new] = data.pop(old)
            data["lengths"] = lengths
        return data

    def with_seed(self, seed: int | None) -> CycleConfiguration:
        """A copy whose every sampling step (drafts, revisions, reviews, second opinions) uses `seed`."""
        cfg = self.model_copy(deep=True)
        if seed is not None:
            writer, reviewer = cfg.writer, cfg.reviewer
            for sampling in (writer.paragraph, writer.abstract, reviewer.sampling, reviewer.second_opinion_sampling):
                sampling.seed = seed
        return cfg


def sample_seed(base: int | None, structure_hash: str, sample: int) -> int:
    """Distinct, reproducible seeds for the K samples of one structure (collection and the
    gate draw theirs here, so the same run seed gives the same samples in both)."""
    digest = hashlib.sha256(f"{base}:{structure_hash}:{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31
