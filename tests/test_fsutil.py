"""Files and directories are complete or absent, whatever kills the process writing them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from paracycle.fsutil import atomic_file, publish_dir, tree_digest, work_dir, write_atomic


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_an_interrupted_write_leaves_neither_the_file_nor_its_partial(tmp_path):
    target = tmp_path / "out.json"
    write_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as f:
            f.write(b"half of the new")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_work_dir_removes_what_killed_processes_left_and_keeps_live_ones(tmp_path):
    final = tmp_path / "model"
    stale = tmp_path / f".model.partial-{dead_pid()}"
    (stale / "weights").mkdir(parents=True)
    live = tmp_path / ".model.partial-1"  # pid 1 is always alive
    live.mkdir()
    mine = work_dir(final)
    assert not stale.exists() and live.exists()
    assert mine.is_dir() and not any(mine.iterdir())


def test_publish_dir_replaces_a_directory_whole(tmp_path):
    final = tmp_path / "dataset"
    for content in ("first", "second"):
        tmp = work_dir(final)
        (tmp / "sub").mkdir()
        (tmp / "sub" / "rows.jsonl").write_text(content)
        publish_dir(tmp, final)
        assert (final / "sub" / "rows.jsonl").read_text() == content and not tmp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]


def test_tree_digest_names_content_not_location(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "adapter_model.safetensors").write_bytes(b"weights")
    assert tree_digest(a) == tree_digest(b)
    (b / "adapter_model.safetensors").write_bytes(b"other weights")
    assert tree_digest(a) != tree_digest(b)


def test_two_adapters_with_one_directory_name_get_different_names_and_threads(tmp_path):
    from paracycle.collect import plan_jobs
    from paracycle.engines.base import adapter_name
    from paracycle.loading import load_structure

    from conftest import EXAMPLES

    one, two = tmp_path / "one" / "round-0001-lora", tmp_path / "two" / "round-0001-lora"
    for d, weights in ((one, b"run A"), (two, b"run B")):
        d.mkdir(parents=True)
        (d / "adapter_model.safetensors").write_bytes(weights)
    assert adapter_name(one) != adapter_name(two)
    assert adapter_name(one).startswith("round-0001-lora-")
    structure = [("x", load_structure(EXAMPLES / "coral-thermal.yaml"))]
    threads = [plan_jobs(structure, 1, tag=adapter_name(d))[0].thread_id for d in (one, two)]
    assert threads[0] != threads[1]
