"""One writer per thread: a second process on a running thread is refused with one line,
`collect` skips such threads and says so, and a killed holder never leaves a thread stuck."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading

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
from paracycle.store import ThreadBusy, TrajectoryStore

HOLD = """
import sys
from paracycle.store import TrajectoryStore
store = TrajectoryStore(sys.argv[1])
with store.claim(sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our stdin (or kills us)
"""


class Holder:
    """Another process holding the claim on one thread of the store at `path`."""

    def __init__(self, path, thread_id):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(HOLD), str(path), thread_id],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout.readline().strip() == "held"

    def release(self):
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)


def make_ctx(store, thread="t", engine=None):
    engine = engine or ScriptedEngine()
    cfg = CycleConfiguration(max_revisions=0)
    return CycleContext(thread, Writer(engine, cfg.writer), Reviewer(engine, cfg.reviewer), cfg, store)


@pytest.fixture
def structure():
    return load_structure(EXAMPLES / "coral-thermal.yaml")


def test_a_second_process_is_refused_with_one_clear_line(tmp_path):
    store = TrajectoryStore(tmp_path / "trajectories.sqlite")
    holder = Holder(store.path, "t")
    with pytest.raises(ThreadBusy) as refused:
        with store.claim("t"):
            pass
    message = str(refused.value)
    assert message == (
        f"thread t is being run by another process (pid {holder.proc.pid}); wait for it or use another --thread-id"
    )
    with store.claim("other"):  # other threads are free
        pass
    holder.release()
    with store.claim("t"):  # and this one once the holder is done
        pass


def test_a_killed_holder_leaves_the_thread_free(tmp_path):
    """The kernel drops the lock with the process: SIGKILL never leaves a thread stuck."""
    store = TrajectoryStore(tmp_path / "trajectories.sqlite")
    Holder(store.path, "t").kill()
    with store.claim("t"):
        pass


def test_run_cycle_refuses_a_thread_another_process_runs(tmp_path, structure):
    store = TrajectoryStore(tmp_path / "trajectories.sqlite")
    holder = Holder(store.path, "t")
    engine = ScriptedEngine()
    with pytest.raises(ThreadBusy):
        run_cycle(structure, make_ctx(store, engine=engine), tmp_path / "checkpoints.sqlite")
    assert engine.batches == [] and store.structure_hash("t") is None  # refused before anything ran
    holder.release()
    run_cycle(structure, make_ctx(store), tmp_path / "checkpoints.sqlite")
    assert store.is_finished("t")


def test_the_claim_is_reentrant_in_one_thread_only(tmp_path, structure):
    store = TrajectoryStore(tmp_path / "trajectories.sqlite")
    with store.claim("t"):
        with store.claim("t"):  # the CLI claims before loading a model, run_cycle again
            pass
        run_cycle(structure, make_ctx(store), tmp_path / "checkpoints.sqlite")
        refused = []

        def other_thread():
            try:
                with store.claim("t"):
                    pass
            except ThreadBusy as e:
                refused.append(e)

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert len(refused) == 1
    assert not store.lock_path("t").exists()  # released and removed


def test_collect_skips_threads_another_process_runs_and_reports_them(tmp_path, structure):
    runs = tmp_path / "runs"
    store = TrajectoryStore(runs / "trajectories.sqlite")
    jobs = plan_jobs([("coral", structure)], 3)
    holder = Holder(store.path, jobs[1].thread_id)
    engine = ScriptedEngine()
    result = Collector(RunConfig(), engine, engine, store, runs / "checkpoints.sqlite", concurrency=2).run(jobs)
    assert result.finished == 2 and result.failed == {}
    assert list(result.busy) == [jobs[1].thread_id] and f"pid {holder.proc.pid}" in result.busy[jobs[1].thread_id]
    assert store.failures() == [] and not store.is_finished(jobs[1].thread_id)
    holder.release()
    again = Collector(RunConfig(), engine, engine, store, runs / "checkpoints.sqlite", concurrency=2).run(jobs)
    assert (again.finished, again.skipped, again.busy) == (1, 2, {})


def test_cycle_cli_on_a_running_thread_is_one_line_exit_2(tmp_path):
    """Refused before any model is loaded (the server URL below does not exist)."""
    runs = tmp_path / "runs"
    store = TrajectoryStore(runs / "trajectories.sqlite")
    store.close()
    holder = Holder(runs / "trajectories.sqlite", "kept")
    done = run_cli("cycle", str(EXAMPLES / "coral-thermal.yaml"), "--thread-id", "kept", "--runs-dir", str(runs),
                   "--engine", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--adapter", "none")
    holder.release()
    assert done.returncode == 2, done.stderr
    [error] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert f"thread kept is being run by another process (pid {holder.proc.pid})" in error
    assert "Traceback" not in done.stderr
