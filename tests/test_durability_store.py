"""What a crash, a lost commit, a full disk or a broken store file does to a run: the outcome
is repaired on resume, a failure that can not be recorded does not take down a batch, and a
store that can not be opened is one line and exit code 2 from every command."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from fakes import ScriptedEngine

from conftest import EXAMPLES, run_cli
from paracycle.agents.reviewer import Reviewer
from paracycle.agents.writer import Writer
from paracycle.collect import Collector, plan_jobs
from paracycle.config import RunConfig
from paracycle.graphs.configuration import CycleConfiguration, CycleContext
from paracycle.graphs.cycle import run_cycle
from paracycle.loading import load_structure
from paracycle.store import TrajectoryStore


@pytest.fixture
def structure():
    return load_structure(EXAMPLES / "coral-thermal.yaml")


def make_ctx(store, thread="t", engine=None):
    engine = engine or ScriptedEngine()
    cfg = CycleConfiguration(max_revisions=0)
    return CycleContext(thread, Writer(engine, cfg.writer), Reviewer(engine, cfg.reviewer), cfg, store)


# -- the outcome row lost with the last commit -----------------------------------------------


def test_resume_writes_the_outcome_a_finished_checkpoint_has_but_the_store_lost(tmp_path, structure, monkeypatch):
    store = TrajectoryStore(tmp_path / "trajectories.sqlite")
    with monkeypatch.context() as m:  # the outcome's commit is lost; the checkpoint's is not
        m.setattr(store, "finish", lambda *a, **k: None)
        first = run_cycle(structure, make_ctx(store), tmp_path / "checkpoints.sqlite")
    assert first["status"] == "completed" and not store.is_finished("t")

    engine = ScriptedEngine()
    again = run_cycle(structure, make_ctx(store, engine=engine), tmp_path / "checkpoints.sqlite")
    assert again == first and engine.batches == []  # nothing generated again
    t = store.load("t")
    assert t.status == "completed" and t.stop_reason == first["stop_reason"]
    assert t.final_draft is not None and [s.kind for s in t.steps] == ["draft", "review"]


def test_collect_repairs_such_a_thread_and_counts_it_finished(tmp_path, structure, monkeypatch):
    runs = tmp_path / "runs"
    store = TrajectoryStore(runs / "trajectories.sqlite")
    [job] = plan_jobs([("coral", structure)], 1)
    with monkeypatch.context() as m:
        m.setattr(store, "finish", lambda *a, **k: None)
        Collector(RunConfig(), ScriptedEngine(), ScriptedEngine(), store, runs / "checkpoints.sqlite").run([job])
    assert not store.is_finished(job.thread_id)
    result = Collector(RunConfig(), ScriptedEngine(), ScriptedEngine(), store, runs / "checkpoints.sqlite").run([job])
    assert result.finished == 1 and store.is_finished(job.thread_id)


# -- a full disk -----------------------------------------------------------------------------


def test_a_failure_that_can_not_be_recorded_does_not_take_down_the_batch(tmp_path, structure, monkeypatch, capfd):
    runs = tmp_path / "runs"
    store = TrajectoryStore(runs / "trajectories.sqlite")

    def disk_full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "record_failure", disk_full)
    jobs = plan_jobs([("coral", structure)], 2)
    engine = ScriptedEngine(fail_on_call=1)  # the first generation crashes one cycle
    result = Collector(RunConfig(), engine, engine, store, runs / "checkpoints.sqlite", concurrency=1).run(jobs)
    assert len(result.failed) == 1 and "simulated crash" in next(iter(result.failed.values()))
    assert result.finished == 1  # the batch went on
    err = capfd.readouterr().err
    assert "could not record the failure" in err and "database or disk is full" in err


# -- a store file that is not one ------------------------------------------------------------


def _round_config(directory):
    for name in ("coral-thermal.yaml", "cache-scheduling.yaml"):
        shutil.copy(EXAMPLES / name, directory / name)
    path = directory / "round.yaml"
    path.write_text("kind: round\nstructures: [coral-thermal.yaml]\nholdout: [cache-scheduling.yaml]\n")
    return path


SERVER = ["--engine", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]


@pytest.mark.parametrize("kind", ["garbage", "newer"])
def test_every_command_that_opens_a_broken_store_says_so_in_one_line(tmp_path, kind):
    runs = tmp_path / "runs"
    runs.mkdir()
    store_file = runs / "trajectories.sqlite"
    if kind == "garbage":
        store_file.write_bytes(b"not a database at all " * 100)
        words = "can not be opened as a trajectory store"
    else:
        TrajectoryStore(store_file).close()
        db = sqlite3.connect(store_file)
        with db:
            db.execute("DROP TRIGGER meta_no_update")
            db.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
        db.close()
        words = "newer paracycle"
    config = _round_config(tmp_path)
    structure = str(EXAMPLES / "coral-thermal.yaml")
    commands = [
        ["show", "x"],
        ["rounds", "list"],
        ["pairs", "build"],
        ["cycle", structure, *SERVER],  # opens it to look for a promoted writer
        ["cycle", structure, *SERVER, "--adapter", "none"],
        ["collect", structure, *SERVER],
        ["round", "--config", str(config)],
        ["schedule", "--config", str(config), "--max-checks", "1", "--every", "1s"],
    ]
    for command in commands:
        done = run_cli(*command, "--runs-dir", str(runs))
        assert done.returncode == 2, (command, done.stderr)
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and words in errors[0] and str(store_file) in errors[0], (command, done.stderr)
        assert "Traceback" not in done.stderr, (command, done.stderr)
