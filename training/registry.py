"""The round registry: every DPO round's manifest, in the trajectory store.

A round moves through stages (started -> collected -> pairs -> trained -> evaluated) and ends
in one terminal state: promoted, rejected, skipped (nothing to train on) or abandoned (it
crashed; the next round start says so). Each move appends an event row holding the whole
manifest so far; rows are never changed (the store's append-only triggers cover this table
too). Promotion is the insert of one `promoted` row, a single SQLite transaction: the current
writer is the adapter of the newest promoted round, so a crashed or losing round can never
become the writer.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from paracycle.schemas import Strict, utcnow
from paracycle.store import TrajectoryStore

Stage = Literal["started", "collected", "pairs", "trained", "evaluated", "promoted", "rejected", "skipped", "abandoned"]
TERMINAL = ("promoted", "rejected", "skipped", "abandoned")


class Policy(Strict):
    """A writer: the base model plus (maybe) a round's LoRA adapter, or a full checkpoint."""

    id: str = Field(description='"base" or the round id that produced it')
    base_model: str
    adapter: str | None = None
    model: str | None = Field(default=None, description="full fine-tuning: the round's checkpoint directory")


class RoundManifest(Strict):
    round_id: str
    status: Stage = "started"
    parent: Policy
    base_model: str
    seed: int
    config: dict[str, Any]
    adapter: str | None = None
    model: str | None = None
    reference: str = Field(default="", description="what DPO's reference policy was, in words")
    threads_collected: list[str] = Field(default_factory=list)
    threads_used: list[str] = Field(default_factory=list)
    dataset: str | None = None
    pair_counts: dict[str, int] = Field(default_factory=dict)
    train_metrics: dict[str, float] = Field(default_factory=dict)
    eval_metrics: dict[str, Any] = Field(default_factory=dict)
    decision: str | None = None
    reasons: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per stage")
    started_at: str = Field(default_factory=utcnow)
    finished_at: str | None = None
    report: str | None = None


class RoundRegistry:
    def __init__(self, store: TrajectoryStore):
        self.store = store

    def record(self, manifest: RoundManifest) -> None:
        if manifest.status in TERMINAL and manifest.finished_at is None:
            manifest.finished_at = utcnow()
        with self.store._lock, self.store.db:
            seq = self.store.db.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM round_events WHERE round_id=?", (manifest.round_id,)
            ).fetchone()[0]
            self.store.db.execute(
                "INSERT INTO round_events VALUES (?, ?, ?, ?, ?)",
                (manifest.round_id, seq, manifest.status, manifest.model_dump_json(), utcnow()),
            )

    def rounds(self) -> list[RoundManifest]:
        """The newest manifest of every round, oldest round first."""
        with self.store._lock:
            rows = self.store.db.execute(
                "SELECT e.manifest_json FROM round_events e JOIN ("
                "  SELECT round_id, MAX(seq) AS seq FROM round_events GROUP BY round_id"
                ") last ON e.round_id = last.round_id AND e.seq = last.seq ORDER BY e.round_id"
            ).fetchall()
        return [RoundManifest.model_validate_json(r[0]) for r in rows]

    def get(self, round_id: str) -> RoundManifest | None:
        return next((r for r in self.rounds() if r.round_id == round_id), None)

    def current(self, base_model: str) -> Policy:
        """The writer to use now: the newest promoted round for this base model, else the base."""
        promoted = [r for r in self.rounds() if r.status == "promoted" and r.base_model == base_model]
        if not promoted:
            return Policy(id="base", base_model=base_model)
        last = max(promoted, key=lambda r: r.finished_at or "")
        return Policy(id=last.round_id, base_model=base_model, adapter=last.adapter, model=last.model)

    def unfinished(self) -> list[RoundManifest]:
        return [r for r in self.rounds() if r.status not in TERMINAL]

    def consumed_threads(self) -> set[str]:
        """Trajectories that a finished round already trained on (abandoned rounds consume none)."""
        return {t for r in self.rounds() if r.status in ("promoted", "rejected") for t in r.threads_used}

    def next_round_id(self) -> str:
        return f"round-{len(self.rounds()) + 1:04d}"


def manifest_json(manifests: list[RoundManifest]) -> str:
    return json.dumps([m.model_dump(mode="json") for m in manifests], indent=2)
