"""The run directory: every path under it, named once.

    runs/
      trajectories.sqlite   the trajectory store (cycles, failures, the round registry)
      checkpoints.sqlite    LangGraph's checkpoints (a crashed cycle resumes from here)
      round.lock            one round at a time
      cycles/<thread>/      trajectory.json and final.md of `paracycle cycle`
      pairs/<version>/      DPO datasets
      rounds/<round-id>/    a round's training job, weights and report
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from paracycle.config import check_directory
from paracycle.errors import InputError
from paracycle.store import TrajectoryStore

ENV = "PARACYCLE_RUNS"


@dataclass(frozen=True)
class RunDir:
    root: Path

    @classmethod
    def at(cls, option: str | Path | None) -> RunDir:
        """`--runs-dir`, else $PARACYCLE_RUNS, else ./runs. Checked before anything runs: it must
        be a directory or not exist yet (it is created later), and the nearest part of it that
        exists must be a directory."""
        from_env = not option and ENV in os.environ
        root = Path(option or os.environ.get(ENV, "runs"))
        check_directory(root, ENV if from_env else "--runs-dir")
        return cls(root)

    @property
    def store_path(self) -> Path:
        return self.root / "trajectories.sqlite"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints.sqlite"

    @property
    def round_lock(self) -> Path:
        return self.root / "round.lock"

    @property
    def pairs(self) -> Path:
        return self.root / "pairs"

    def cycle(self, thread_id: str) -> Path:
        return self.root / "cycles" / thread_id

    def round(self, round_id: str) -> Path:
        return self.root / "rounds" / round_id

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
