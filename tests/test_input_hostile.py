"""Hostile or broken input files: one line on stderr naming the file, exit code 2, no
traceback, and quickly - never a RecursionError, a MemoryError or a minute of parsing.
These run the real CLI in a subprocess (`validate` loads no model)."""

from __future__ import annotations

import time

import pytest
import yaml

from conftest import EXAMPLES, run_cli


def _example_yaml() -> str:
    return (EXAMPLES / "coral-thermal.yaml").read_text()


def _with(**changes) -> str:
    data = yaml.safe_load(_example_yaml())
    data.update(changes)
    return yaml.safe_dump(data, sort_keys=False, width=10**9)


def _billion_laughs() -> str:
    """A valid structure whose contributions are 100,000 aliases of a 500 KB string: a
    1.2 MB file, 50 GB once expanded (the old code validated it, then `collect` ran out of
    memory hashing it)."""
    data = yaml.safe_load(_example_yaml())
    del data["contributions"]
    head = yaml.safe_dump(data, sort_keys=False, width=10**9)
    return head + "contributions:\n- &big " + "x" * 500_000 + "\n" + "- *big\n" * 100_000


def _nested_laughs() -> str:
    """The classic form: nine levels of nine aliases each."""
    lines = [_example_yaml().rstrip(), 'x0: &x0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


DEEP = 100_000
CASES = {
    # name: (file name, content, words the error line contains)
    "billion laughs": ("laughs.yaml", _billion_laughs(), "anchors and aliases (&name, *name) are not allowed"),
    "nested billion laughs": ("nested.yaml", _nested_laughs(), "anchors and aliases"),
    "one small alias": (
        "alias.yaml", _example_yaml() + "limitations:\n- &one a limitation\n- *one\n", "anchors and aliases"
    ),
    "deep yaml": ("deep.yaml", "title: " + "[" * DEEP + "]" * DEEP + "\n", "nested more than 50 levels deep"),
    "deep yaml mappings": ("deepmap.yaml", "title: " + "{a: " * DEEP + "1" + "}" * DEEP + "\n", "nested more than"),
    "deep json": ("deep.json", '{"title": ' + "[" * DEEP + "]" * DEEP + "}", "nested more than 50 levels deep"),
    "list key": ("listkey.yaml", "? [a, b]\n: 1\n", "a key must be a name, not a list or mapping"),
    "flow list key": ("flowkey.yaml", "{[1]: 2}\n", "a key must be a name, not a list or mapping"),
    "long integer yaml": ("int.yaml", "title: " + "1" * 10_000 + "\n", "a number with 10000 digits is too long"),
    "long integer json": ("int.json", '{"title": ' + "7" * 10_000 + "}", "a number with 10000 digits is too long"),
    "oversize text field": (
        "long.yaml", _with(problem="x" * 20_001), "problem: String should have at most 20000 characters"
    ),
    "oversize list": ("many.yaml", _with(limitations=["a limit"] * 501), "limitations: List should have at most 500 items"),
    "oversize id": (
        "id.yaml",
        _with(claims=[{"id": "c" * 201, "text": "A claim.", "evidence": []}]),
        "claims[0].id: String should have at most 200 characters",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_file_is_one_line_and_exit_2(case, tmp_path):
    name, content, words = CASES[case]
    path = tmp_path / name
    path.write_text(content)
    start = time.perf_counter()
    result = run_cli("validate", str(path), timeout=120)
    seconds = time.perf_counter() - start
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith(f"error: {path}: ") and words in lines[0], lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert seconds < 30  # interpreter start included; the parse itself takes well under a second


def test_yaml_errors_say_where(tmp_path):
    path = tmp_path / "alias.yaml"
    path.write_text("title: &t x\nproblem: *t\n")
    result = run_cli("validate", str(path))
    assert result.stderr.strip() == (
        f"error: {path}: invalid YAML at line 1, column 8: anchors and aliases (&name, *name) are not allowed; "
        "write the value out"
    )


def test_real_structures_and_configs_still_load():
    files = [p for p in EXAMPLES.iterdir() if p.suffix == ".yaml" and "round" not in p.name]
    result = run_cli("validate", *map(str, files))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok (") == len(files)


@pytest.mark.parametrize(
    "args",
    [
        ["show", "x"],
        ["pairs", "build"],
        ["rounds", "list"],
        # openai with an unreachable server: even a regression could not load a model here
        ["cycle", str(EXAMPLES / "coral-thermal.yaml"), "--engine", "openai", "--base-url", "http://127.0.0.1:9/v1"],
    ],
    ids=["show", "pairs build", "rounds list", "cycle"],
)
def test_runs_dir_that_is_a_file_is_refused(args, tmp_path):
    not_a_dir = tmp_path / "runs"
    not_a_dir.write_text("I am a file\n")
    result = run_cli(*args, "--runs-dir", str(not_a_dir), timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip() == f"error: --runs-dir: {not_a_dir} is a file, not a directory"
    assert "Traceback" not in result.stderr
    assert not_a_dir.read_text() == "I am a file\n"


def test_runs_dir_below_a_file_is_refused(tmp_path):
    a_file = tmp_path / "f"
    a_file.write_text("")
    result = run_cli("show", "x", "--runs-dir", str(a_file / "runs"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: --runs-dir: {a_file / 'runs'} cannot be created: {a_file} is a file, not a directory"


def test_runs_dir_from_the_environment_is_named_as_such(tmp_path):
    a_file = tmp_path / "f"
    a_file.write_text("")
    result = run_cli("show", "x", env={"PARACYCLE_RUNS": str(a_file)})
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: PARACYCLE_RUNS: {a_file} is a file, not a directory"
