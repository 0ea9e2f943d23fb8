"""A promoted writer is the directory that was promoted, from any working directory, or a
one-line error; a failing round is marked abandoned and the schedule goes on. The stages that
need a model are replaced: these tests are about the registry and the round's bookkeeping."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import EXAMPLES, run_cli

from paracycle.fsutil import tree_digest
from paracycle.registry import Policy, RoundManifest, RoundRegistry
from paracycle.rundir import RunDir
from paracycle.store import StoreError, TrajectoryStore
from paracycle.training import round as round_mod
from paracycle.training.dpo import TrainResult


def round_config(directory: Path) -> Path:
    for name in ("coral-thermal.yaml", "cache-scheduling.yaml"):
        shutil.copy(EXAMPLES / name, directory / name)
    path = directory / "round.yaml"
    path.write_text("kind: round\nstructures: [coral-thermal.yaml]\nholdout: [cache-scheduling.yaml]\n"
                    "collect: {samples: 0}\n")
    return path


@pytest.fixture
def modelless_round(monkeypatch, tmp_path):
    """A round whose pairs, training and evaluation are stand-ins: training writes a small
    adapter directory, evaluation promotes."""
    def pairs(self, m):
        m.dataset, m.status = str(tmp_path / "dataset"), "pairs"
        self.registry.record(m)
        return True

    def train(job, job_file, log=print):
        out = Path(job.out)
        out.mkdir(parents=True)
        (out / "adapter_model.safetensors").write_bytes(b"weights")
        (out / "adapter_config.json").write_text("{}")
        return TrainResult(out=job.out, reference="", metrics={"steps": 1.0})

    monkeypatch.setattr(round_mod._Round, "_pairs", pairs)
    monkeypatch.setattr(round_mod._Round, "_evaluate", lambda self, m: ("promoted", ["pass: stand-in"]))
    monkeypatch.setattr(round_mod, "resolve_model", lambda spec, log=print: (tmp_path / "base", "base"))
    monkeypatch.setattr(round_mod, "train_with_launcher", train)
    monkeypatch.setattr(round_mod, "write_round_report", lambda *a, **k: None)


def test_a_promoted_adapter_is_stored_absolute_with_its_digest(modelless_round, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    manifest = round_mod.run_round(round_config(tmp_path), RunDir(Path("runs")), log=lambda *a: None)  # a relative --runs-dir
    adapter = tmp_path / "runs" / "rounds" / "round-0001" / "round-0001-lora"
    assert manifest.status == "promoted" and manifest.adapter == str(adapter)
    assert manifest.weights_digest == tree_digest(adapter)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # `cycle` run from another directory gets the same adapter
    store = TrajectoryStore(tmp_path / "runs" / "trajectories.sqlite")
    policy = RoundRegistry(store).current("embedded")
    assert (policy.id, policy.adapter) == ("round-0001", str(adapter))


def test_changed_or_missing_promoted_weights_are_refused(modelless_round, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    round_mod.run_round(round_config(tmp_path), RunDir(tmp_path / "runs"), log=lambda *a: None)
    adapter = tmp_path / "runs" / "rounds" / "round-0001" / "round-0001-lora"
    registry = RoundRegistry(TrajectoryStore(tmp_path / "runs" / "trajectories.sqlite"))

    (adapter / "adapter_model.safetensors").write_bytes(b"other weights")
    with pytest.raises(StoreError, match="round-0001's promoted weights in .* changed after it was promoted"):
        registry.current("embedded")
    shutil.rmtree(adapter)
    with pytest.raises(StoreError, match=f"round-0001's promoted weights are missing: {adapter} does not exist"):
        registry.current("embedded")


def test_cycle_with_changed_promoted_weights_is_one_line_exit_2(modelless_round, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    round_mod.run_round(round_config(tmp_path), RunDir(tmp_path / "runs"), log=lambda *a: None)
    (tmp_path / "runs" / "rounds" / "round-0001" / "round-0001-lora" / "adapter_config.json").write_text('{"r": 64}')
    done = run_cli("cycle", str(EXAMPLES / "coral-thermal.yaml"), "--runs-dir", str(tmp_path / "runs"),
                   "--engine", "openai", "--base-url", "http://127.0.0.1:9/v1")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "changed after it was promoted" in done.stderr and "--adapter none" in done.stderr


def test_a_round_recorded_with_a_relative_path_is_found_under_its_run_directory(tmp_path):
    """Rounds promoted before paths were absolute: `runs/rounds/<id>/<name>` relative to a
    working directory nobody recorded."""
    runs = tmp_path / "runs"
    adapter = runs / "rounds" / "round-0001" / "round-0001-lora"
    adapter.mkdir(parents=True)
    registry = RoundRegistry(TrajectoryStore(runs / "trajectories.sqlite"))
    registry.record(RoundManifest(
        round_id="round-0001", status="promoted", parent=Policy(id="base", base_model="embedded"),
        base_model="embedded", seed=0, config={}, adapter="some/cwd/runs/rounds/round-0001/round-0001-lora",
    ))
    assert registry.current("embedded").adapter == str(adapter.resolve())


def test_the_registry_uses_the_stores_round_methods_not_its_connection():
    class OnlyRoundMethods:  # no `db`, no `_lock`: what the registry may rely on
        def __init__(self):
            self.events = []

        def append_round_event(self, round_id, status, manifest_json):
            self.events.append((round_id, status, manifest_json))
            return len(self.events)

        def latest_round_manifests(self):
            latest = {round_id: manifest for round_id, _, manifest in self.events}
            return [latest[r] for r in sorted(latest)]

    registry = RoundRegistry(OnlyRoundMethods())
    m = RoundManifest(round_id="round-0001", parent=Policy(id="base", base_model="b"), base_model="b", seed=0, config={})
    registry.record(m)
    m.status = "skipped"
    registry.record(m)
    [last] = registry.rounds()
    assert (last.round_id, last.status) == ("round-0001", "skipped") and last.finished_at is not None


# -- a failing round -------------------------------------------------------------------------


def test_a_failing_round_is_abandoned_and_the_schedule_goes_on(tmp_path, monkeypatch):
    def broken_pairs(self, m):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(round_mod._Round, "_pairs", broken_pairs)
    monkeypatch.setattr(round_mod, "count_new_pairs", lambda config, runs: 50)
    logs, sleeps = [], []
    finished = round_mod.schedule(
        round_config(tmp_path), RunDir(tmp_path / "runs"), every_s=60, min_new_pairs=1, max_checks=2,
        log=logs.append, sleep=sleeps.append,
    )
    assert finished == [] and sleeps == [60]  # both checks ran
    assert sum("round failed (RuntimeError: disk on fire)" in line for line in logs) == 2
    store = TrajectoryStore(tmp_path / "runs" / "trajectories.sqlite")
    rounds = RoundRegistry(store).rounds()
    assert [(r.round_id, r.status) for r in rounds] == [("round-0001", "abandoned"), ("round-0002", "abandoned")]
    assert "failed during pairs: RuntimeError: disk on fire" in rounds[0].reasons[-1]
    assert rounds[0].finished_at is not None


def test_a_store_the_user_must_fix_stops_the_schedule(tmp_path, monkeypatch):
    def promoted_weights_gone(self, m):
        raise StoreError("round-0001's promoted weights are missing")

    monkeypatch.setattr(round_mod._Round, "_pairs", promoted_weights_gone)
    monkeypatch.setattr(round_mod, "count_new_pairs", lambda config, runs: 50)
    with pytest.raises(StoreError, match="missing"):
        round_mod.schedule(round_config(tmp_path), RunDir(tmp_path / "runs"), every_s=60, min_new_pairs=1, max_checks=3,
                           log=lambda *a: None, sleep=lambda s: None)


def test_eval_names_a_round_by_id_and_gets_its_checked_weights(tmp_path):
    from paracycle.errors import InputError
    from paracycle.fsutil import tree_digest
    from paracycle.resolve import resolve_policy
    from paracycle.rundir import RunDir

    runs = RunDir(tmp_path / "runs")
    adapter = tmp_path / "runs" / "rounds" / "round-0001" / "round-0001-lora"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    store = runs.open_store()
    registry = RoundRegistry(store)
    for round_id, status, weights in (("round-0001", "inconclusive", str(adapter)), ("round-0002", "skipped", None)):
        registry.record(RoundManifest(
            round_id=round_id, status=status, parent=Policy(id="base", base_model="embedded"), base_model="embedded",
            seed=0, config={}, adapter=weights, weights_digest=tree_digest(adapter) if weights else None,
        ))
    store.close()
    # Any trained round can be evaluated, promoted or not.
    policy = resolve_policy("round-0001", "embedded", runs, "--writer")
    assert policy.id == "round-0001" and policy.adapter == str(adapter) and policy.model is None
    assert resolve_policy("base", "embedded", runs, "--against").is_base
    assert resolve_policy(str(adapter), "embedded", runs, "--writer").adapter == str(adapter.resolve())
    with pytest.raises(InputError, match="round-0002 has no trained weights"):
        resolve_policy("round-0002", "embedded", runs, "--writer")
    (adapter / "adapter_config.json").write_text('{"changed": true}')
    with pytest.raises(StoreError, match="changed after it was promoted"):
        resolve_policy("round-0001", "embedded", runs, "--writer")
