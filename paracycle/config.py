"""Run configuration: which model serves the agents and how a cycle behaves.

A config file is YAML or JSON with the keys of `RunConfig`; unknown keys are an error.
Command-line flags override the file; the file overrides the defaults.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import Field

from paracycle.errors import InputError
from paracycle.graphs.configuration import CycleConfiguration
from paracycle.schemas import Strict

_THREAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class RunConfig(Strict):
    model: str = Field(default="embedded", description='"embedded" or a HF checkpoint directory')
    seed: int | None = None
    cycle: CycleConfiguration = Field(default_factory=CycleConfiguration)


def load_config(path: str | Path | None) -> RunConfig:
    if path is None:
        return RunConfig()
    from paracycle.loading import load_model

    return load_model(path, RunConfig)


def runs_dir(option: str | Path | None) -> Path:
    """Where stores, checkpoints and per-thread outputs live (PARACYCLE_RUNS, default ./runs)."""
    return Path(option or os.environ.get("PARACYCLE_RUNS", "runs"))


def check_thread_id(thread_id: str) -> str:
    """Thread ids name directories under the run directory: no separators, no '..'."""
    if not _THREAD_ID.match(thread_id) or ".." in thread_id:
        raise InputError(
            "--thread-id", f"{thread_id!r} is not a valid thread id (letters, digits, '.', '_', '-'; at most 128)"
        )
    return thread_id
