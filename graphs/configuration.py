"""What a cycle can be configured with, and the run-time context its nodes receive.

`CycleConfiguration` is the `cycle:` part of a config file (unknown keys are an error).
`CycleContext` carries live objects (agents, store, progress callbacks) into the nodes; it is
not checkpointed, so a resumed run simply passes a fresh one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import Field

from paracycle.agents.reviewer import Reviewer, ReviewerSettings
from paracycle.agents.writer import Writer, WriterSettings
from paracycle.engines.base import TokenCallback
from paracycle.schemas import Strict
from paracycle.store import TrajectoryStore


class CycleConfiguration(Strict):
    max_revisions: int = Field(default=2, ge=0, description="revisions after the first draft")
    min_overall: int = Field(default=7, ge=1, le=10, description="reviewer overall score to pass")
    min_closure: float = Field(default=0.8, ge=0.0, le=1.0, description="structural closure rate to pass")
    target_abstract_words: int = Field(default=200, ge=1)
    target_introduction_words: int = Field(default=600, ge=1)
    length_tolerance: float = Field(default=0.5, ge=0.0)
    writer: WriterSettings = Field(default_factory=WriterSettings)
    reviewer: ReviewerSettings = Field(default_factory=ReviewerSettings)


@dataclass
class CycleContext:
    thread_id: str
    writer: Writer
    reviewer: Reviewer
    config: CycleConfiguration
    store: TrajectoryStore | None = None
    on_stage: Callable[[str], None] | None = None  # "drafting", "reviewing revision 1", ...
    on_tokens: TokenCallback | None = None

    def stage(self, text: str) -> None:
        if self.on_stage is not None:
            self.on_stage(text)
