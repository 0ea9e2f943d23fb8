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
    with db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.close()
    with pytest.raises(StoreError, match="newer paracycle"):
        TrajectoryStore(path)


def test_wal_mode(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_finish_is_written_once(store):
    store.append_steps("t", [a_step(0)])
    store.finish("t", "completed", "passed", a_step(0).draft)
    store.finish("t", "completed", "max_revisions", None)  # a replayed finish changes nothing
    t = store.load("t")
    assert (t.status, t.stop_reason, t.final_draft) == ("completed", "passed", a_step(0).draft)
