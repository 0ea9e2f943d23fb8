"""The trajectory store: append-only, idempotent, schema-versioned, lossless round trip."""

from __future__ import annotations

import sqlite3

import pytest

from paracycle.loading import load_structure
from paracycle.schemas import Draft, Generation, Paragraph, SamplingParams, Step
from paracycle.store import StoreError, TrajectoryStore

from conftest import EXAMPLES


def a_step(index: int) -> Step:
    draft = Draft(abstract="A.", introduction=[Paragraph(id="intro_p1", role="scene_setting", text="P.")])
    gen = Generation(
        agent="writer", purpose="draft:abstract", model_id="m", adapter_id="round-1", sampling=SamplingParams(seed=3),
        prompt=[{"role": "user", "content": "hi"}], output="A.", parse_status="not_applicable",
        prompt_tokens=4, completion_tokens=2,
    )
    return Step(index=index, kind="draft", revision=0, draft=draft, generations=[gen])


@pytest.fixture
def store(tmp_path):
    s = TrajectoryStore(tmp_path / "t.sqlite")
    s.start("t", load_structure(EXAMPLES / "coral-thermal.yaml"))
    return s


def test_round_trip_keeps_every_generation_field(store):
    step = a_step(0)
    store.append_steps("t", [step])
    loaded = store.load("t").steps[0]
    assert loaded == step
    assert loaded.generations[0].adapter_id == "round-1" and loaded.generations[0].sampling.seed == 3


def test_appending_the_same_steps_again_inserts_nothing(store):
    assert store.append_steps("t", [a_step(0)]) == 1
    assert store.append_steps("t", [a_step(0), a_step(1)]) == 1
    assert store.db.execute("SELECT COUNT(*) FROM generations").fetchone()[0] == 2


@pytest.mark.parametrize("sql", ["UPDATE steps SET kind='review'", "DELETE FROM steps", "DELETE FROM trajectories"])
def test_rows_can_not_be_changed_or_deleted(store, sql):
    store.append_steps("t", [a_step(0)])
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        with store.db:
            store.db.execute(sql)


def test_a_thread_keeps_its_structure(store):
    other = load_structure(EXAMPLES / "cache-scheduling.yaml")
    with pytest.raises(StoreError, match="different argument structure"):
        store.start("t", other)


def test_store_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "t.sqlite"
    TrajectoryStore(path).close()
    db = sqlite3.connect(path)
    with db:  # what a newer paracycle's migration would do: it may lift its own protection
        db.execute("DROP TRIGGER meta_no_update")
        db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer paracycle") as refused:
        TrajectoryStore(path)
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)
    assert path.read_bytes() == before  # refused before anything was added to it


def test_wal_mode(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_finish_is_written_once(store):
    store.append_steps("t", [a_step(0)])
    store.finish("t", "completed", "passed", a_step(0).draft)
    store.finish("t", "completed", "passed", a_step(0).draft)  # a replayed finish changes nothing
    t = store.load("t")
    assert (t.status, t.stop_reason, t.final_draft) == ("completed", "passed", a_step(0).draft)


def test_finish_with_another_outcome_is_refused(store):
    store.append_steps("t", [a_step(0)])
    store.finish("t", "completed", "passed", a_step(0).draft)
    with pytest.raises(StoreError, match="another outcome"):
        store.finish("t", "completed", "max_revisions", None)
    other = a_step(0).draft.model_copy(update={"abstract": "Another abstract."})
    with pytest.raises(StoreError, match="another outcome"):
        store.finish("t", "completed", "passed", other)
    t = store.load("t")
    assert (t.stop_reason, t.final_draft) == ("passed", a_step(0).draft)


# -- two writers on one thread ---------------------------------------------------------------


def test_a_replayed_step_that_differs_is_refused_across_connections(store, tmp_path):
    """Two processes on one thread: each drafts step 0; the second's must not be dropped
    silently (a review of its draft would then be stored against the other's)."""
    other = TrajectoryStore(tmp_path / "t.sqlite")  # a second process's connection
    mine = a_step(0)
    theirs = mine.model_copy(update={"draft": mine.draft.model_copy(update={"abstract": "Their abstract."})})
    assert store.append_steps("t", [mine]) == 1
    with pytest.raises(StoreError, match="step 0 of thread 't' differs"):
        other.append_steps("t", [theirs, a_step(1)])
    assert other.append_steps("t", [mine]) == 0  # the same step again: a harmless replay
    assert [s.draft.abstract for s in store.load("t").steps] == ["A."]  # and nothing of theirs stored
    other.close()


def test_a_replay_with_other_generations_is_refused(store):
    step = a_step(0)
    store.append_steps("t", [step])
    changed = step.model_copy(deep=True)
    changed.generations[0].output = "something else"
    with pytest.raises(StoreError, match="differs"):
        store.append_steps("t", [changed])


# -- append-only, whatever the statement -----------------------------------------------------


@pytest.mark.parametrize("sql", [
    "INSERT OR REPLACE INTO steps SELECT thread_id, step_index, 'review', revision, step_json, created_at FROM steps",
    "REPLACE INTO outcomes VALUES ('t', 'completed', 'rewritten', NULL, 'now')",
    "INSERT OR REPLACE INTO trajectories SELECT thread_id, 'x', structure_json, schema_version, created_at FROM trajectories",
    "INSERT OR REPLACE INTO failures(rowid, thread_id, at, error) VALUES (1, 't', 'now', 'rewritten')",
    "UPDATE meta SET value='1' WHERE key='schema_version'",
    "DELETE FROM meta",
    "INSERT OR REPLACE INTO meta VALUES ('schema_version', '1')",
])
def test_replace_and_meta_changes_are_refused(store, sql):
    store.append_steps("t", [a_step(0)])
    store.finish("t", "completed", "passed", None)
    store.record_failure("t", "boom")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        with store.db:
            store.db.execute(sql)
    t = store.load("t")
    assert t.steps[0].kind == "draft" and t.stop_reason == "passed" and store.failures("t")[0][2] == "boom"


def test_replace_is_refused_from_any_connection(store, tmp_path):
    """Not only ours: a plain sqlite3 connection (no recursive_triggers) is refused too."""
    store.append_steps("t", [a_step(0)])
    db = sqlite3.connect(tmp_path / "t.sqlite")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        with db:
            db.execute("INSERT OR REPLACE INTO steps SELECT thread_id, step_index, 'review', revision, step_json, "
                       "created_at FROM steps")
    db.close()


# -- opening ---------------------------------------------------------------------------------


def test_store_is_as_durable_as_the_checkpoints(store):
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


@pytest.mark.parametrize("content, words", [
    (b"this is not a database, " * 200, "can not be opened as a trajectory store"),
    (b"\x00garbage", "can not be opened as a trajectory store"),
])
def test_a_garbage_file_is_one_line_store_error(tmp_path, content, words):
    path = tmp_path / "t.sqlite"
    path.write_bytes(content)
    with pytest.raises(StoreError, match=words) as refused:
        TrajectoryStore(path)
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)
    assert path.read_bytes() == content


def test_another_programs_database_is_refused(tmp_path):
    path = tmp_path / "t.sqlite"
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE checkpoints (id TEXT)")
    db.close()
    with pytest.raises(StoreError, match="not a paracycle trajectory store"):
        TrajectoryStore(path)


def test_store_errors_are_input_errors():
    """The CLI turns every InputError into one line and exit 2; a StoreError is one."""
    from paracycle.errors import InputError

    assert issubclass(StoreError, InputError) and str(StoreError("x: y")) == "x: y"


def test_round_events_through_the_store(store):
    assert store.append_round_event("round-0001", "started", '{"n": 1}') == 1
    assert store.append_round_event("round-0001", "trained", '{"n": 2}') == 2
    assert store.append_round_event("round-0002", "started", '{"n": 3}') == 1
    assert store.latest_round_manifests() == ['{"n": 2}', '{"n": 3}']
