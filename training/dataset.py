"""A versioned preference dataset on disk.

    <root>/<version>/
        manifest.json     counts per source, held-out structures, settings, threads used
        pairs.jsonl       training rows (TRL conversational prompt/chosen/rejected + provenance)
        draft_pairs.jsonl every draft-level pair with both rewards, component by component
        hf/               the same rows as a `datasets` dataset (`load_from_disk`)

The version is the creation time plus a hash of the row ids, so two builds of the same data
share the hash. A dataset is written to a temporary directory and renamed into place: a
crash never leaves a half-written version behind.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import Field

from paracycle.fsutil import publish_dir, work_dir
from paracycle.schemas import Strict, utcnow
from paracycle.training.pairs import BuiltPairs, PairRow, PairSettings


class PairsManifest(Strict):
    version: str
    created_at: str = Field(default_factory=utcnow)
    rows: int
    draft_pairs: int
    counts: dict[str, int]
    ties_dropped: dict[str, int]
    structures: int
    threads: list[str]
    holdout_structures: list[str]
    settings: PairSettings


def write_dataset(built: BuiltPairs, root: Path, settings: PairSettings, holdout: set[str]) -> tuple[Path, PairsManifest]:
    from datasets import Dataset  # datasets: off the start-up path

    digest = hashlib.sha256("\n".join(sorted(r.id for r in built.rows)).encode()).hexdigest()[:8]
    version = f"{utcnow().replace(':', '').replace('-', '').split('+')[0]}-{digest}"
    manifest = PairsManifest(
        version=version,
        rows=len(built.rows),
        draft_pairs=len(built.draft_pairs),
        counts=built.counts(),
        ties_dropped=dict(built.dropped_ties),
        structures=len({p.structure_hash for p in built.draft_pairs}),
        threads=sorted(built.threads),
        holdout_structures=sorted(holdout),
        settings=settings,
    )
    final = root / version
    tmp = work_dir(final)
    (tmp / "pairs.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in built.rows))
    (tmp / "draft_pairs.jsonl").write_text("".join(p.model_dump_json() + "\n" for p in built.draft_pairs))
    columns = {name: [r.model_dump()[name] for r in built.rows] for name in PairRow.model_fields}
    Dataset.from_dict(columns).save_to_disk(str(tmp / "hf"))
    (tmp / "manifest.json").write_text(manifest.model_dump_json(indent=2))
    publish_dir(tmp, final)
    return final, manifest


def load_rows(dataset_dir: Path) -> list[PairRow]:
    return [PairRow.model_validate_json(line) for line in (dataset_dir / "pairs.jsonl").read_text().splitlines() if line]


def load_manifest(dataset_dir: Path) -> PairsManifest:
    return PairsManifest.model_validate(json.loads((dataset_dir / "manifest.json").read_text()))
