"""Bad input: one line on stderr naming the file (and field), exit code 2, no traceback,
and nothing already stored changes. These run the real CLI in a subprocess."""

from __future__ import annotations

import hashlib
import shutil

import pytest
import yaml
from conftest import EXAMPLES, run_cli


def _write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def _example(**changes) -> str:
    data = yaml.safe_load((EXAMPLES / "coral-thermal.yaml").read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return yaml.safe_dump(data, sort_keys=False)


def _dangling() -> str:
    data = yaml.safe_load((EXAMPLES / "coral-thermal.yaml").read_text())
    data["claims"][1]["evidence"] = ["E99"]
    return yaml.safe_dump(data, sort_keys=False)


CASES = {
    "missing file": (None, "file not found", None),
    "empty file": ("   \n", "file is empty", None),
    "invalid yaml": ("title: [unclosed\nproblem: x\n", "invalid YAML at line", None),
    "not a mapping": ("- a\n- b\n", "expected a mapping", None),
    "unknown field": (_example(colour="blue"), "unknown field", "colour"),
    "missing field": (_example(gap=None), "missing required field", "gap"),
    "dangling evidence id": (_dangling(), "'E99', which does not exist", None),
    "repeated key": ("title: a\ntitle: b\n", "repeated key 'title'", None),
    "non-utf8": (b"title: caf\xe9\n", "not valid UTF-8", None),
}


@pytest.fixture
def runs_with_a_stored_trajectory(tmp_path):
    """A run directory whose store already holds a trajectory (copied from a scripted run)."""
    from fakes import ScriptedEngine

    from paracycle.agents.reviewer import Reviewer
    from paracycle.agents.writer import Writer
    from paracycle.graphs.configuration import CycleConfiguration, CycleContext
    from paracycle.graphs.cycle import run_cycle
    from paracycle.loading import load_structure
    from paracycle.store import TrajectoryStore

    runs = tmp_path / "runs"
    store = TrajectoryStore(runs / "trajectories.sqlite")
    cfg = CycleConfiguration(max_revisions=0)
    engine = ScriptedEngine()
    ctx = CycleContext("kept", Writer(engine), Reviewer(engine), cfg, store)
    run_cycle(load_structure(EXAMPLES / "coral-thermal.yaml"), ctx, runs / "checkpoints.sqlite")
    store.close()
    return runs


def _digest(runs):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(runs.glob("*.sqlite*"))}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_structure_file(case, tmp_path, runs_with_a_stored_trajectory):
    content, words, field = CASES[case]
    path = tmp_path / "arg.yaml"
    if content is not None:
        _write(path, content)
    runs = runs_with_a_stored_trajectory
    before = _digest(runs)
    result = run_cli("cycle", str(path), "--runs-dir", str(runs), "--thread-id", "kept")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}"), lines[0]
    assert words in lines[0]
    if field:
        assert f": {field}:" in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert _digest(runs) == before


def test_fifty_megabyte_file(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as f:
        f.truncate(50 * 1024 * 1024)
    result = run_cli("cycle", str(path), "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {path}: file is 50.0 MB, larger than 5 MB (the limit)"
    assert not (tmp_path / "runs").exists()


def test_thread_id_cannot_escape_the_run_directory(tmp_path):
    result = run_cli("cycle", str(EXAMPLES / "coral-thermal.yaml"), "--thread-id", "../../etc", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2
    assert "not a valid thread id" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_resuming_a_thread_with_another_structure_is_refused(tmp_path, runs_with_a_stored_trajectory):
    runs = runs_with_a_stored_trajectory
    before = _digest(runs)
    other = shutil.copy(EXAMPLES / "cache-scheduling.yaml", tmp_path / "other.yaml")
    result = run_cli("cycle", str(other), "--runs-dir", str(runs), "--thread-id", "kept")
    assert result.returncode == 2
    assert "different argument structure" in result.stderr
    assert _digest(runs) == before


def test_bad_config_file_names_the_field(tmp_path):
    config = _write(tmp_path / "c.yaml", "cycle:\n  max_revisons: 3\n")
    result = run_cli("cycle", str(EXAMPLES / "coral-thermal.yaml"), "--config", str(config), "--runs-dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {config}: cycle.max_revisons: unknown field"


def test_bad_model_directory(tmp_path):
    result = run_cli("cycle", str(EXAMPLES / "coral-thermal.yaml"), "--model", str(tmp_path), "--engine", "transformers",
                     "--runs-dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "not a model directory" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_review_of_a_paper_without_introduction(tmp_path):
    paper = _write(tmp_path / "p.md", "# T\n\n## Abstract\n\nSome text.\n")
    result = run_cli("review", str(paper))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {paper}") and "Introduction" in result.stderr


def test_validate_reports_open_commitments():
    result = run_cli("validate", str(EXAMPLES / "coral-thermal.yaml"))
    assert result.returncode == 0
    assert "open commitments: C4" in result.stdout


def test_unknown_engine(tmp_path):
    result = run_cli("cycle", str(EXAMPLES / "coral-thermal.yaml"), "--engine", "tgi", "--runs-dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "Invalid value for '--engine'" in result.stderr  # click's usage error, with the choices
    assert "'tgi' is not one of 'auto', 'transformers', 'vllm', 'openai'" in " ".join(result.stderr.replace("│", " ").split())


def test_openai_engine_needs_a_server_url(tmp_path):
    result = run_cli("collect", str(EXAMPLES), "--engine", "openai", "--runs-dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "needs a server URL" in result.stderr and not (tmp_path / "r").exists()


def test_collect_validates_every_input_before_running(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: only a title\n")
    result = run_cli("collect", str(EXAMPLES / "coral-thermal.yaml"), str(bad), "--runs-dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {bad}: ") and not (tmp_path / "r").exists()


def test_adapter_must_be_an_adapter_directory(tmp_path):
    result = run_cli("cycle", str(EXAMPLES / "coral-thermal.yaml"), "--engine", "transformers", "--adapter", str(tmp_path),
                     "--runs-dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "not a LoRA adapter directory" in result.stderr
