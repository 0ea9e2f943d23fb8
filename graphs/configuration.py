"""The run-time context a cycle's nodes receive, beside the configuration they read.

`CycleConfiguration` (the `cycle:` part of a config file) lives in `paracycle.settings`, so a
config loads without importing the graph. `CycleContext` carries live objects (agents,
store, progress callbacks) into the nodes; it is not checkpointed, so a resumed run simply
passes a fresh one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from paracycle.agents.reviewer import Reviewer
from paracycle.agents.writer import Writer
from paracycle.engines.base import TokenCallback
from paracycle.settings import CycleConfiguration
from paracycle.store import TrajectoryStore

__all__ = ["CycleConfiguration", "CycleContext"]


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
