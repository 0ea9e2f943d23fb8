"""The trajectory store: SQLite in WAL mode, append-only, schema-versioned.

A trajectory is written in pieces as a cycle runs: its header when the thread starts, each
step (draft or review) and its generations when the step is committed to the graph's
checkpoint, and an outcome row when the cycle ends. DPO rounds keep their manifests here
too (`round_events`, see `paracycle.training.registry`). Rows are never updated or deleted
(triggers refuse it), and every insert is keyed so that replaying a step after a crash
inserts nothing twice.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from paracycle.schemas import (
    SCHEMA_VERSION,
    ArgumentStructure,
    Draft,
    Generation,
    Step,
    Trajectory,
    utcnow,
)

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trajectories (
    thread_id TEXT PRIMARY KEY,
    structure_hash TEXT NOT NULL,
    structure_json TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
    thread_id TEXT NOT NULL REFERENCES trajectories(thread_id),
    step_index INTEGER NOT NULL,
    kind TEXT NOT NULL,
    revision INTEGER NOT NULL,
    step_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (thread_id, step_index)
);
CREATE TABLE IF NOT EXISTS generations (
    thread_id TEXT NOT NULL,
    step_index INTEGER NOT NULL,
    gen_index INTEGER NOT NULL,
    agent TEXT NOT NULL,
    purpose TEXT NOT NULL,
    model_id TEXT NOT NULL,
    adapter_id TEXT,
    sampling_json TEXT NOT NULL,
    prompt_json TEXT NOT NULL,
    output TEXT NOT NULL,
    parse_status TEXT NOT NULL,
    parse_error TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY (thread_id, step_index, gen_index),
    FOREIGN KEY (thread_id, step_index) REFERENCES steps(thread_id, step_index)
);
CREATE TABLE IF NOT EXISTS failures (
    thread_id TEXT NOT NULL,
    at TEXT NOT NULL,
    error TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS round_events (
    round_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    manifest_json TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (round_id, seq)
);
CREATE TABLE IF NOT EXISTS outcomes (
    thread_id TEXT PRIMARY KEY REFERENCES trajectories(thread_id),
    status TEXT NOT NULL,
    stop_reason TEXT,
    final_draft_json TEXT,
    finished_at TEXT NOT NULL
);
"""

_APPEND_ONLY = "".join(
    f"""
CREATE TRIGGER IF NOT EXISTS {table}_no_{op} BEFORE {op.upper()} ON {table}
BEGIN SELECT RAISE(ABORT, 'the trajectory store is append-only'); END;"""
    for table in ("trajectories", "steps", "generations", "failures", "outcomes", "round_events")
    for op in ("update", "delete")
)


class StoreError(RuntimeError):
    pass


def _locked(method):
    """One connection serves all of a process's threads (collect runs many): one at a time."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class TrajectoryStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        with self.db:
            self.db.executescript(_TABLES + _APPEND_ONLY)
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer paracycle (store schema {row[0]}, "
                    f"this version reads up to {SCHEMA_VERSION})"
                )

    # -- writing --------------------------------------------------------------------------

    @_locked
    def start(self, thread_id: str, structure: ArgumentStructure) -> None:
        """Register a thread; a no-op if it is already registered with the same structure."""
        known = self.structure_hash(thread_id)
        if known is not None:
            if known != structure.content_hash():
                raise StoreError(f"thread {thread_id!r} belongs to a different argument structure ({known})")
            return
        with self.db:
            self.db.execute(
                "INSERT INTO trajectories VALUES (?, ?, ?, ?, ?)",
                (thread_id, structure.content_hash(), structure.model_dump_json(), SCHEMA_VERSION, utcnow()),
            )

    @_locked
    def append_steps(self, thread_id: str, steps: Iterable[Step]) -> int:
        """Insert the steps not stored yet (by index); returns how many were new."""
        stored = {r[0] for r in self.db.execute("SELECT step_index FROM steps WHERE thread_id=?", (thread_id,))}
        new = [s for s in steps if s.index not in stored]
        with self.db:
            for step in new:
                body = step.model_dump(mode="json", exclude={"generations"})
                self.db.execute(
                    "INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?)",
                    (thread_id, step.index, step.kind, step.revision, json.dumps(body), step.created_at),
                )
                for i, g in enumerate(step.generations):
                    self.db.execute(
                        "INSERT INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            thread_id, step.index, i, g.agent, g.purpose, g.model_id, g.adapter_id,
                            g.sampling.model_dump_json(), json.dumps(g.prompt), g.output, g.parse_status,
                            g.parse_error, g.prompt_tokens, g.completion_tokens, g.attempt, g.seconds,
                        ),
                    )
        return len(new)

    @_locked
    def finish(self, thread_id: str, status: str, stop_reason: str | None, final_draft: Draft | None) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR IGNORE INTO outcomes VALUES (?, ?, ?, ?, ?)",
                (thread_id, status, stop_reason, final_draft.model_dump_json() if final_draft else None, utcnow()),
            )

    @_locked
    def record_failure(self, thread_id: str, error: str) -> None:
        """A cycle that stopped on an error it can resume from (a server that went down)."""
        with self.db:
            self.db.execute("INSERT INTO failures VALUES (?, ?, ?)", (thread_id, utcnow(), error))

    @_locked
    def failures(self, thread_id: str | None = None) -> list[tuple[str, str, str]]:
        query = "SELECT thread_id, at, error FROM failures"
        args: tuple = ()
        if thread_id is not None:
            query, args = query + " WHERE thread_id=?", (thread_id,)
        return self.db.execute(query + " ORDER BY rowid", args).fetchall()

    # -- reading --------------------------------------------------------------------------

    @_locked
    def structure_hash(self, thread_id: str) -> str | None:
        row = self.db.execute("SELECT structure_hash FROM trajectories WHERE thread_id=?", (thread_id,)).fetchone()
        return row[0] if row else None

    @_locked
    def thread_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT thread_id FROM trajectories ORDER BY created_at, thread_id")]

    @_locked
    def is_finished(self, thread_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM outcomes WHERE thread_id=?", (thread_id,)).fetchone() is not None

    @_locked
    def load(self, thread_id: str) -> Trajectory:
        head = self.db.execute(
            "SELECT structure_hash, structure_json, schema_version, created_at FROM trajectories WHERE thread_id=?",
            (thread_id,),
        ).fetchone()
        if head is None:
            raise StoreError(f"no trajectory for thread {thread_id!r} in {self.path}")
        steps = []
        for index, step_json in self.db.execute(
            "SELECT step_index, step_json FROM steps WHERE thread_id=? ORDER BY step_index", (thread_id,)
        ):
            step = Step.model_validate_json(step_json)
            step.generations = self._generations(thread_id, index)
            steps.append(step)
        outcome = self.db.execute(
            "SELECT status, stop_reason, final_draft_json, finished_at FROM outcomes WHERE thread_id=?", (thread_id,)
        ).fetchone()
        trajectory = Trajectory(
            schema_version=head[2],
            thread_id=thread_id,
            structure_hash=head[0],
            structure=ArgumentStructure.model_validate_json(head[1]),
            steps=steps,
            created_at=head[3],
        )
        if outcome:
            trajectory.status, trajectory.stop_reason, final_json, trajectory.finished_at = outcome
            trajectory.final_draft = Draft.model_validate_json(final_json) if final_json else None
        return trajectory

    @_locked
    def _generations(self, thread_id: str, step_index: int) -> list[Generation]:
        rows = self.db.execute(
            "SELECT agent, purpose, model_id, adapter_id, sampling_json, prompt_json, output, parse_status, "
            "parse_error, prompt_tokens, completion_tokens, attempt, seconds FROM generations "
            "WHERE thread_id=? AND step_index=? ORDER BY gen_index",
            (thread_id, step_index),
        )
        return [
            Generation(
                agent=r[0], purpose=r[1], model_id=r[2], adapter_id=r[3], sampling=json.loads(r[4]),
                prompt=json.loads(r[5]), output=r[6], parse_status=r[7], parse_error=r[8],
                prompt_tokens=r[9], completion_tokens=r[10], attempt=r[11], seconds=r[12],
            )
            for r in rows
        ]
