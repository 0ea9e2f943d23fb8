"""The run directory: every path under it, named once, here.

`--runs-dir`, else $PARACYCLE_RUNS, else ./runs. It holds the trajectory store (cycles,
failures, the round registry), LangGraph's checkpoints (a crashed cycle resumes from
them), the round lock, and one folder per cycle output, DPO dataset and round.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from paracycle.errors import InputError
from paracycle.store import TrajectoryStore

DEFAULT = Path("runs")
ENV = "PARACYCLE_RUNS"  # the run directory when --runs-dir is not given
STORE = "trajectories.sqlite"
CHECKPOINTS = "checkpoints.sqlite"
ROUND_LOCK = "round.lock"
TRAIN_HISTORY = "train_history.json"  # TRL's per-step log, in a round's directory


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def store_path(self) -> Path:
        return self.root / STORE

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS

    @property
    def eval_drafts(self) -> Path:
        """Held-out drafts of each writer, kept for the next round's gate (eval/draft_cache.py)."""
        return self.root / "eval-drafts"

    @property
    def round_lock(self) -> Path:
        return self.root / ROUND_LOCK

    @property
    def pairs(self) -> Path:
        return self.root / "pairs"  # <version>/ per DPO dataset

    def cycle(self, thread_id: str) -> Path:
        return self.root / "cycles" / thread_id  # trajectory.json and final.md of `paracycle cycle`

    def round(self, round_id: str) -> Path:
        return self.root / "rounds" / round_id  # a round's training job, weights and report

    def resolved(self) -> RunDir:
        """Absolute: paths recorded in manifests must mean the same from any directory."""
        return RunDir(self.root.resolve())

    def has_store(self) -> bool:
        return self.store_path.exists()

    def open_store(self) -> TrajectoryStore:
        """The store, created on first use."""
        return TrajectoryStore(self.store_path)

    def existing_store(self, first: str) -> TrajectoryStore:
        """The store of a directory that must already hold one; `first` says what makes one."""
        if not self.has_store():
            raise InputError(str(self.store_path), f"no trajectory store here (run `{first}` first)")
        return TrajectoryStore(self.store_path)
