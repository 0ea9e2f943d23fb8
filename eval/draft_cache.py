"""Held-out drafts kept on disk, so a writer is drafted once per held-out set.

A round's gate drafts the candidate and the current writer on the same held-out structures
and seeds. When the candidate is promoted it is the next round's current writer, and its
drafts would be made again, identically, by a new process: on 2 CPU cores that is half of a
round's evaluation. The drafts are kept in the run directory under a key that names
everything that decides them: the writer's engine spec and weights (the adapter's or
checkpoint's digest), the writer settings, the seed, the samples, the batch size and the
structures. Scores are not kept: they are recomputed from the drafts, so a changed check
never reads a stale score.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from paracycle.config import RunConfig
from paracycle.fsutil import tree_digest, write_atomic
from paracycle.registry import Policy
from paracycle.schemas import ArgumentStructure, Draft


class DraftCache:
    def __init__(self, root: Path):
        self.root = Path(root)

    def key(self, run: RunConfig, policy: Policy, seed: int, samples: int, batch: int,
            structures: list[ArgumentStructure]) -> str:
        writer = policy.writes(run).writer
        weights = policy.adapter or policy.model
        described = {
            "writer": writer.model_dump(mode="json", exclude={"adapter"}),
            "weights": tree_digest(weights) if weights else None,
            "settings": run.cycle.writer.model_dump(mode="json"),
            "seed": seed, "samples": samples, "batch": batch,
            "structures": [s.content_hash() for s in structures],
        }
        return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:32]

    def get(self, key: str, structures: list[ArgumentStructure]) -> list[tuple[ArgumentStructure, int, Draft]] | None:
        path = self.root / f"{key}.json"
        if not path.is_file():
            return None
        by_hash = {s.content_hash(): s for s in structures}
        try:
            rows = json.loads(path.read_text())
            return [(by_hash[r["structure"]], r["sample"], Draft.model_validate(r["draft"])) for r in rows]
        except (ValueError, KeyError, TypeError):
            return None  # unreadable or from another set: draft again (and overwrite it)

    def put(self, key: str, drafts: list[tuple[ArgumentStructure, int, Draft]]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        rows = [{"structure": s.content_hash(), "sample": k, "draft": d.model_dump(mode="json")} for s, k, d in drafts]
        write_atomic(self.root / f"{key}.json", json.dumps(rows))
