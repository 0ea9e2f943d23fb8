"""The round registry: every DPO round's manifest, in the trajectory store.

A round moves through stages (started -> collected -> pairs -> trained -> evaluated) and ends
in one terminal state: promoted, rejected, inconclusive (the gate's evidence could not
decide), skipped (nothing to train on) or abandoned (it crashed; the next round start says so). Each move appends an event row holding the whole
manifest so far; rows are never changed (the store's append-only triggers cover this table
too). Promotion is the insert of one `promoted` row, a single SQLite transaction: the current
writer is the adapter of the newest promoted round, so a crashed or losing round can never
become the writer.

A round's weights are recorded by absolute path and by digest (`paracycle.fsutil.tree_digest`):
the writer handed out is the directory that was evaluated and promoted, from any working
directory, or a one-line error when it is gone or has changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from paracycle.config import RunConfig
from paracycle.fsutil import tree_digest
from paracycle.metrics import GateMetrics
from paracycle.rundir import RunDir
from paracycle.schemas import Strict, utcnow
from paracycle.store import StoreError, TrajectoryStore

Stage = Literal[
    "started", "collected", "pairs", "trained", "evaluated",
    "promoted", "rejected", "inconclusive", "skipped", "abandoned",
]
TERMINAL = ("promoted", "rejected", "inconclusive", "skipped", "abandoned")
TRAINED = ("promoted", "rejected", "inconclusive")  # finished rounds whose training data is spent


class Policy(Strict):
    """A writer: the base model plus (maybe) a round's LoRA adapter, or a full checkpoint."""

    id: str = Field(description='"base" or the round id that produced it')
    base_model: str
    adapter: str | None = None
    model: str | None = Field(default=None, description="full fine-tuning: the round's checkpoint directory")

    @property
    def is_base(self) -> bool:
        return self.adapter is None and self.model is None

    def writes(self, run: RunConfig) -> RunConfig:
        """`run` with this policy as its writer (the reviewer stays the base model)."""
        return run.with_writer(adapter=self.adapter, model=self.model)


class RoundManifest(Strict):
    round_id: str
    status: Stage = "started"
    parent: Policy
    base_model: str
    base_model_name: str | None = Field(default=None, description="the portable name trained adapters give their base")
    seed: int
    config: dict[str, Any]
    adapter: str | None = Field(default=None, description="absolute path of the LoRA adapter directory")
    model: str | None = Field(default=None, description="absolute path of the full checkpoint directory")
    weights_digest: str | None = Field(default=None, description="tree_digest of the adapter (or model) directory")
    reference: str = Field(default="", description="what DPO's reference policy was, in words")
    threads_collected: list[str] = Field(default_factory=list)
    threads_used: list[str] = Field(default_factory=list)
    dataset: str | None = None
    pair_counts: dict[str, int] = Field(default_factory=dict)
    train_metrics: dict[str, float] = Field(default_factory=dict)
    eval_metrics: GateMetrics | None = None
    decision: str | None = None
    reasons: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per stage")
    started_at: str = Field(default_factory=utcnow)
    finished_at: str | None = None
    report: str | None = None

    @field_validator("eval_metrics", mode="before")
    @classmethod
    def _none_when_empty(cls, value: Any) -> Any:
        return value or None  # manifests written before the metrics were typed hold {}


class RoundRegistry:
    def __init__(self, store: TrajectoryStore):
        self.store = store

    def record(self, manifest: RoundManifest) -> None:
        if manifest.status in TERMINAL and manifest.finished_at is None:
            manifest.finished_at = utcnow()
        self.store.append_round_event(manifest.round_id, manifest.status, manifest.model_dump_json())

    def rounds(self) -> list[RoundManifest]:
        """The newest manifest of every round, oldest round first."""
        return [RoundManifest.model_validate_json(m) for m in self.store.latest_round_manifests()]

    def current(self, base_model: str) -> Policy:
        """The writer to use now: the newest promoted round for this base model, else the base."""
        promoted = [r for r in self.rounds() if r.status == "promoted" and r.base_model == base_model]
        if not promoted:
            return Policy(id="base", base_model=base_model)
        last = max(promoted, key=lambda r: r.finished_at or "")
        weights = self.verified_weights(last)
        return Policy(
            id=last.round_id, base_model=base_model,
            adapter=str(weights) if last.adapter else None, model=str(weights) if last.model else None,
        )

    def verified_weights(self, m: RoundManifest) -> Path:
        """The round's adapter (or model) directory, checked against the digest taken when it
        was trained: StoreError, one line, when it is missing or holds other weights."""
        weights = self._locate(m)
        fix = "restore it, or run cycle/collect with --adapter none (the base model) or --adapter DIR"
        if not weights.is_dir():
            raise StoreError(f"{m.round_id}'s promoted weights are missing: {weights} does not exist; {fix}")
        if m.weights_digest is not None and tree_digest(weights) != m.weights_digest:
            raise StoreError(f"{m.round_id}'s promoted weights in {weights} changed after it was promoted; {fix}")
        return weights

    def _locate(self, m: RoundManifest) -> Path:
        """Rounds recorded before paths were absolute hold `<runs>/rounds/<id>/<name>` relative
        to a working directory nobody knows: find it under this store's run directory."""
        path = Path(m.adapter or m.model or "")
        if path.is_absolute():
            return path
        return RunDir(self.store.path.parent.resolve()).round(m.round_id) / path.name

    def unfinished(self) -> list[RoundManifest]:
        return [r for r in self.rounds() if r.status not in TERMINAL]

    def consumed_threads(self) -> set[str]:
        """Trajectories that a finished round already trained on (abandoned rounds consume none)."""
        return {t for r in self.rounds() if r.status in TRAINED for t in r.threads_used}

    def trained_rounds(self) -> int:
        return sum(1 for r in self.rounds() if r.status in TRAINED)

    def times_sampled(self, policy: Policy) -> int:
        """Finished rounds that collected with this writer: the next collection numbers its
        samples after theirs, so a writer sampled again gets new seeds."""
        return sum(1 for r in self.rounds() if r.status in TRAINED and r.parent.id == policy.id)

    def next_round_id(self) -> str:
        return f"round-{len(self.rounds()) + 1:04d}"


def manifest_json(manifests: list[RoundManifest]) -> str:
    return json.dumps([m.model_dump(mode="json") for m in manifests], indent=2)
