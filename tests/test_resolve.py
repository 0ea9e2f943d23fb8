"""Config resolution: file, flags and run directory become one run config, in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from paracycle.errors import InputError
from paracycle.fsutil import tree_digest
from paracycle.registry import Policy, RoundManifest, RoundRegistry
from paracycle.resolve import Overrides, resolve_run_config
from paracycle.rundir import RunDir
from paracycle.settings import CycleConfiguration, LengthTargets


def promote(run_dir: RunDir, adapter: Path) -> None:
    store = run_dir.open_store()
    try:
        m = RoundManifest(round_id="round-0001", parent=Policy(id="base", base_model="embedded"), base_model="embedded",
                          seed=0, config={}, adapter=str(adapter.resolve()), weights_digest=tree_digest(adapter))
        m.status = "promoted"
        RoundRegistry(store).record(m)
    finally:
        store.close()


def test_flags_override_the_file_and_the_seed_reaches_every_sampling_step(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("writer: {engine: transformers, max_batch_size: 3}\nseed: 1\ncycle: {max_revisions: 4}\n")
    run = resolve_run_config(config, Overrides(seed=7, max_revisions=0))
    assert (run.writer.engine, run.writer.max_batch_size, run.seed, run.cycle.max_revisions) == ("transformers", 3, 7, 0)
    c = run.cycle
    assert {c.writer.paragraph.seed, c.writer.abstract.seed, c.reviewer.sampling.seed} == {7}


def test_a_promoted_adapter_becomes_the_writer_and_the_reviewer_stays_the_base(tmp_path, tiny_adapter):
    run_dir = RunDir(tmp_path / "runs")
    promote(run_dir, tiny_adapter)
    logs = []
    run = resolve_run_config(None, Overrides(engine="transformers"), run_dir, log=logs.append)
    assert run.writer.adapter == str(tiny_adapter.resolve()) and run.reviewer.adapter is None
    assert run.reviewer.model == run.writer.model and "promoted round-0001" in logs[0]
    base = resolve_run_config(None, Overrides(engine="transformers", adapter="none"), run_dir)
    assert base.writer.adapter is None and base.reviewer is None
    assert resolve_run_config(None, Overrides(engine="transformers")).writer.adapter is None  # no run dir: no lookup


def test_an_adapter_that_is_not_one_is_refused_before_anything_loads(tmp_path):
    with pytest.raises(InputError, match="not a LoRA adapter directory"):
        resolve_run_config(None, Overrides(engine="transformers", adapter=str(tmp_path)))


def test_length_targets_are_one_object_and_old_flat_keys_still_read():
    old = CycleConfiguration.model_validate({"target_abstract_words": 150, "length_tolerance": 0.2})
    assert old.lengths == LengthTargets(abstract_words=150, introduction_words=600, tolerance=0.2)
    with pytest.raises(ValueError):
        CycleConfiguration.model_validate({"lengths": {"abstract_words": 0}})


def test_the_run_directory_names_every_path_once(tmp_path):
    run_dir = RunDir(tmp_path)
    assert run_dir.store_path.parent == run_dir.checkpoints.parent == run_dir.round_lock.parent == tmp_path
    assert run_dir.cycle("t1") == tmp_path / "cycles" / "t1" and run_dir.round("round-0001").parent.name == "rounds"
    with pytest.raises(InputError, match="no trajectory store here"):
        run_dir.existing_store("paracycle collect")
