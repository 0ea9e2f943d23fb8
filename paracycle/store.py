"""The trajectory store: SQLite in WAL mode, append-only, schema-versioned.

A trajectory is written in pieces as a cycle runs: its header when the thread starts, each
step (draft or review) and its generations when the step is committed to the graph's
checkpoint, and an outcome row when the cycle ends. DPO rounds keep their manifests here
too (`round_events`, see `paracycle.registry`). Rows are never updated, deleted or
replaced (triggers refuse it), and every insert is keyed so that replaying a step after a
crash inserts nothing twice; a replay that differs from what is stored is refused.

One process writes a thread at a time: `claim(thread_id)` holds an OS lock on
`<store dir>/locks/<thread>.lock` (the kernel drops it when the process dies, even on
SIGKILL), and `run_cycle` takes it before a cycle runs.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from paracycle.errors import InputError
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

# Each table's key: an INSERT over an existing key is refused, so INSERT OR REPLACE (which
# deletes the old row first) can not rewrite history from any connection, ours or not.
_KEYS = {
    "meta": "key = NEW.key",
    "trajectories": "thread_id = NEW.thread_id",
    "steps": "thread_id = NEW.thread_id AND step_index = NEW.step_index",
    "generations": "thread_id = NEW.thread_id AND step_index = NEW.step_index AND gen_index = NEW.gen_index",
    "failures": "rowid = NEW.rowid",  # NEW.rowid is -1 unless the insert names a rowid
    "round_events": "round_id = NEW.round_id AND seq = NEW.seq",
    "outcomes": "thread_id = NEW.thread_id",
}
_REFUSE = "BEGIN SELECT RAISE(ABORT, 'the trajectory store is append-only'); END;"
_APPEND_ONLY = "".join(
    f"\nCREATE TRIGGER IF NOT EXISTS {table}_no_{op} BEFORE {op.upper()} ON {table} {_REFUSE}"
    for table in _KEYS
    for op in ("update", "delete")
) + "".join(
    f"\nCREATE TRIGGER IF NOT EXISTS {table}_no_replace BEFORE INSERT ON {table} "
    f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {key}) {_REFUSE}"
    for table, key in _KEYS.items()
)
# One transaction: a store is created whole (tables, triggers, version) or not at all.
_MIGRATE = (
    "BEGIN IMMEDIATE;"
    + _TABLES
    + _APPEND_ONLY
    + f"""
INSERT INTO meta SELECT 'schema_version', '{SCHEMA_VERSION}'
WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = 'schema_version');
COMMIT;"""
)


@dataclass
class MergeResult:
    added: dict[str, int] = field(default_factory=dict)  # thread -> steps added (a new outcome counts 1)
    present: list[str] = field(default_factory=list)  # already here, identical
    conflicts: dict[str, str] = field(default_factory=dict)  # thread -> why it was left alone
    unfinished: list[str] = field(default_factory=list)
    rounds_left: int = 0


class StoreError(InputError):
    """A store that can not be used as asked. Its message is one line that names the store or
    the thread; being an InputError, it reaches the user as that line and exit code 2."""

    def __init__(self, message: str):
        Exception.__init__(self, message)
        self.source, self.field, self.message = "", None, message


class ThreadBusy(StoreError):
    """Another process (or another of this process's threads) is running this thread."""

    def __init__(self, thread_id: str, pid: str):
        self.thread_id, self.pid = thread_id, pid
        super().__init__(
            f"thread {thread_id} is being run by another process (pid {pid}); wait for it or use another --thread-id"
        )


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
        self._claims: dict[str, list[int]] = {}  # thread id -> [owning Python thread, depth]
        self.db = self._open()

    def close(self) -> None:
        self.db.close()

    def _open(self) -> sqlite3.Connection:
        """Connect and migrate; anything that is not a store we can read is one StoreError line."""
        db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # FULL, like the checkpoints: a committed step or outcome survives a power loss, so
            # the store never lags behind a checkpoint that says the step is done.
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA recursive_triggers=ON")  # REPLACE's implicit delete fires the delete triggers
            self._check_version(db)
            db.executescript(_MIGRATE)
        except sqlite3.DatabaseError as e:  # garbage, a locked or a read-only file
            db.close()
            raise StoreError(f"{self.path} can not be opened as a trajectory store: {e}") from None
        except BaseException:
            db.close()
            raise
        return db

    def _check_version(self, db: sqlite3.Connection) -> None:
        """Refuse, before changing anything, a database that is not a store or is a newer one."""
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() if "meta" in tables else None
        if row is None:
            if tables <= set(_KEYS):
                return  # a new store (or one whose creation was cut short): migrating completes it
            raise StoreError(f"{self.path} is a SQLite database but not a paracycle trajectory store")
        if not str(row[0]).isdigit():
            raise StoreError(f"{self.path} has an unreadable store schema version {row[0]!r}")
        if int(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer paracycle (store schema {row[0]}, "
                f"this version reads up to {SCHEMA_VERSION})"
            )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE: a check and the insert it guards see the same rows, even while
        another connection writes (a deferred transaction would read, then fail to write)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.rollback()
            raise
        self.db.commit()

    # -- one writer per thread ------------------------------------------------------------

    def lock_path(self, thread_id: str) -> Path:
        safe = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", thread_id) and ".." not in thread_id
        name = thread_id if safe else hashlib.sha256(thread_id.encode()).hexdigest()[:32]
        return self.path.parent / "locks" / f"{name}.lock"

    @contextmanager
    def claim(self, thread_id: str) -> Iterator[None]:
        """Be the only writer of `thread_id` while the block runs; ThreadBusy if another
        process holds it. Re-entrant within one Python thread (the CLI claims before it loads
        a model, `run_cycle` claims again)."""
        held = self._claims.get(thread_id)
        if held is not None and held[0] == threading.get_ident():
            held[1] += 1
            try:
                yield
            finally:
                held[1] -= 1
            return
        path = self.lock_path(thread_id)
        handle = _acquire(path, thread_id)
        self._claims[thread_id] = [threading.get_ident(), 1]
        try:
            yield
        finally:
            del self._claims[thread_id]
            path.unlink(missing_ok=True)  # before unlocking: a process that opened it meanwhile retries
            handle.close()  # drops the lock

    # -- writing --------------------------------------------------------------------------

    @_locked
    def start(self, thread_id: str, structure: ArgumentStructure) -> None:
        """Register a thread; a no-op if it is already registered with the same structure."""
        with self._transaction():
            known = self.structure_hash(thread_id)
            if known is not None:
                if known != structure.content_hash():
                    raise StoreError(f"thread {thread_id!r} belongs to a different argument structure ({known})")
                return
            self.db.execute(
                "INSERT INTO trajectories VALUES (?, ?, ?, ?, ?)",
                (thread_id, structure.content_hash(), structure.model_dump_json(), SCHEMA_VERSION, utcnow()),
            )

    @_locked
    def append_steps(self, thread_id: str, steps: Iterable[Step]) -> int:
        """Insert the steps not stored yet; returns how many were new. A step already stored
        may come again (a replay after a crash) only unchanged: a different one means two
        writers on one thread, and is refused."""
        new = 0
        with self._transaction():
            stored = {r[0] for r in self.db.execute("SELECT step_index FROM steps WHERE thread_id=?", (thread_id,))}
            for step in steps:
                if step.index in stored:
                    self._check_replay(thread_id, step)
                    continue
                self._insert_step(thread_id, step)
                stored.add(step.index)
                new += 1
        return new

    def _insert_step(self, thread_id: str, step: Step) -> None:
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

    def _check_replay(self, thread_id: str, step: Step) -> None:
        stored = self._load_step(thread_id, step.index)
        if stored.model_dump(mode="json") != step.model_dump(mode="json"):
            raise StoreError(
                f"step {step.index} of thread {thread_id!r} differs from the one stored in {self.path} "
                "(two processes writing one thread?); refused"
            )

    @_locked
    def finish(self, thread_id: str, status: str, stop_reason: str | None, final_draft: Draft | None) -> None:
        """Write the outcome once; a replay must name the same outcome (its time aside)."""
        final_json = final_draft.model_dump_json() if final_draft else None
        with self._transaction():
            row = self.db.execute(
                "SELECT status, stop_reason, final_draft_json FROM outcomes WHERE thread_id=?", (thread_id,)
            ).fetchone()
            if row is None:
                self.db.execute(
                    "INSERT INTO outcomes VALUES (?, ?, ?, ?, ?)", (thread_id, status, stop_reason, final_json, utcnow())
                )
                return
        final = final_draft.model_dump(mode="json") if final_draft else None
        stored_final = Draft.model_validate_json(row[2]).model_dump(mode="json") if row[2] else None
        if (row[0], row[1], stored_final) != (status, stop_reason, final):
            raise StoreError(
                f"thread {thread_id!r} already finished in {self.path} with another outcome "
                f"({row[0]}, {row[1]}); refused"
            )

    @_locked
    def record_failure(self, thread_id: str, error: str) -> None:
        """A cycle that stopped on an error it can resume from (a server that went down)."""
        with self._transaction():
            self.db.execute("INSERT INTO failures VALUES (?, ?, ?)", (thread_id, utcnow(), error))

    # -- merging shards ---------------------------------------------------------------------

    @_locked
    def merge_from(self, other: TrajectoryStore) -> MergeResult:
        """Copy into this store every finished thread of `other`, row for row (its times kept),
        one transaction per thread. A thread both hold must agree on every step and on its
        outcome, or it is a conflict: left as it is here and reported. Merging twice adds
        nothing the second time. Unfinished threads stay behind (their checkpoints live with
        the shard that runs them: finish them there first), and so do rounds (a registry is
        one run directory's history, not something to add up)."""
        result = MergeResult(rounds_left=len(other.latest_round_manifests()))
        for thread in other.thread_ids():
            if not other.is_finished(thread):
                result.unfinished.append(thread)
                continue
            theirs = other.load(thread)
            try:
                with self._transaction():
                    added = self._merge_thread(theirs, other.failures(thread))
            except StoreError as e:
                result.conflicts[thread] = e.message
                continue
            if added:
                result.added[thread] = added
            else:
                result.present.append(thread)
        return result

    def _merge_thread(self, t: Trajectory, failures: list[tuple[str, str, str]]) -> int:
        """Inside a transaction: the rows of `t` this store lacks; returns the steps added."""
        known = self.structure_hash(t.thread_id)
        if known is None:
            self.db.execute(
                "INSERT INTO trajectories VALUES (?, ?, ?, ?, ?)",
                (t.thread_id, t.structure_hash, t.structure.model_dump_json(), t.schema_version, t.created_at),
            )
        elif known != t.structure_hash:
            raise StoreError(f"thread {t.thread_id!r} belongs to another argument structure here ({known})")
        stored = {r[0] for r in self.db.execute("SELECT step_index FROM steps WHERE thread_id=?", (t.thread_id,))}
        added = 0
        for step in t.steps:
            if step.index in stored:
                self._check_replay(t.thread_id, step)
            else:
                self._insert_step(t.thread_id, step)
                added += 1
        row = self.db.execute("SELECT status, stop_reason, final_draft_json FROM outcomes WHERE thread_id=?",
                              (t.thread_id,)).fetchone()
        final = t.final_draft.model_dump_json() if t.final_draft else None
        if row is None:
            self.db.execute("INSERT INTO outcomes VALUES (?, ?, ?, ?, ?)",
                            (t.thread_id, t.status, t.stop_reason, final, t.finished_at or utcnow()))
            added = max(added, 1)  # an outcome alone is news too
        elif (row[0], row[1]) != (t.status, t.stop_reason):
            raise StoreError(f"thread {t.thread_id!r} finished here with another outcome ({row[0]}, {row[1]})")
        known_failures = set(self.db.execute("SELECT thread_id, at, error FROM failures WHERE thread_id=?",
                                             (t.thread_id,)).fetchall())
        for failure in failures:
            if tuple(failure) not in known_failures:
                self.db.execute("INSERT INTO failures VALUES (?, ?, ?)", failure)
        return added

    # -- DPO rounds (the registry's rows) ----------------------------------------------------

    @_locked
    def append_round_event(self, round_id: str, status: str, manifest_json: str) -> int:
        """Append the next event of a round; returns its sequence number."""
        with self._transaction():
            seq = self.db.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM round_events WHERE round_id=?", (round_id,)
            ).fetchone()[0]
            self.db.execute(
                "INSERT INTO round_events VALUES (?, ?, ?, ?, ?)", (round_id, seq, status, manifest_json, utcnow())
            )
        return seq

    @_locked
    def latest_round_manifests(self) -> list[str]:
        """The newest manifest (JSON) of every round, by round id."""
        rows = self.db.execute(
            "SELECT e.manifest_json FROM round_events e JOIN ("
            "  SELECT round_id, MAX(seq) AS seq FROM round_events GROUP BY round_id"
            ") last ON e.round_id = last.round_id AND e.seq = last.seq ORDER BY e.round_id"
        ).fetchall()
        return [r[0] for r in rows]

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
        indices = [r[0] for r in self.db.execute(
            "SELECT step_index FROM steps WHERE thread_id=? ORDER BY step_index", (thread_id,)
        )]
        steps = [self._load_step(thread_id, i) for i in indices]
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
    def _load_step(self, thread_id: str, index: int) -> Step:
        row = self.db.execute("SELECT step_json FROM steps WHERE thread_id=? AND step_index=?", (thread_id, index))
        step = Step.model_validate_json(row.fetchone()[0])
        step.generations = self._generations(thread_id, index)
        return step

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


def _acquire(path: Path, thread_id: str):
    """An open lock file holding LOCK_EX, with this pid written in it; ThreadBusy if held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise ThreadBusy(thread_id, holder) from None
        # The last holder removes the file as it lets go: a lock on a file that is no longer
        # at `path` guards nothing, so open the path again.
        try:
            current = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            current = False
        if current:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            return handle
        handle.close()
