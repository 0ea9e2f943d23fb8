"""DPO rounds end to end on a tiny random model (real collection, TRL, judge, registry),
killed mid-training, locked against overlap, and scheduled; plus the judge's logic."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import EXAMPLES, PARACYCLE, run_cli
from fakes import ScriptedEngine

from paracycle.loading import load_structure
from paracycle.rundir import RunDir
from paracycle.schemas import Draft, Paragraph

# Two paired items with every bound wide open: a gate that promotes whatever was trained.
PERMISSIVE_GATE = ("{samples: 2, min_items: 2, min_effect: -100, min_win_rate: 0.0, max_length_drift: 100, "
                   "max_closure_drop: 1, max_unsupported_rise: 100, judge_max_new_tokens: 24}")


def round_config(directory: Path, model: Path, max_steps: int = 2, gate: str = PERMISSIVE_GATE) -> Path:
    for name in ("sparse-retrieval.yaml", "coral-thermal.yaml", "cache-scheduling.yaml"):
        shutil.copy(EXAMPLES / name, directory / name)
    path = directory / "round.yaml"
    path.write_text(f"""kind: round
structures: [sparse-retrieval.yaml, coral-thermal.yaml]
holdout: [cache-scheduling.yaml]
run:
  writer: {{engine: transformers, model: {model}}}
  cycle:
    max_revisions: 1
    writer: {{paragraph: {{max_new_tokens: 12}}, abstract: {{max_new_tokens: 16}}}}
    reviewer: {{sampling: {{max_new_tokens: 48}}, max_attempts: 1}}
collect: {{samples: 2, concurrency: 4}}
train: {{max_steps: {max_steps}, batch_size: 2, max_length: 192, learning_rate: 0.001}}
gate: {gate}
""")
    return path


def rounds(runs: Path) -> list[dict]:
    done = run_cli("rounds", "list", "--json", "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow  # minutes: whole rounds, on the tiny model
def test_round_promotes_and_the_promoted_adapter_is_used_next(tiny_model, tmp_path):
    config, runs = round_config(tmp_path, tiny_model), tmp_path / "runs"
    done = run_cli("round", "--config", str(config), "--runs-dir", str(runs), "--json")
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["status"] == "promoted" and manifest["decision"] == "promoted"
    assert sum(manifest["pair_counts"].values()) > 0 and manifest["train_metrics"]["steps"] == 2
    assert manifest["parent"]["id"] == "base" and "base model" in manifest["reference"]
    assert set(manifest["timings"]) == {"collect", "pairs", "train", "evaluate"}
    assert manifest["eval_metrics"]["candidate"]["drafts"] == 2 and len(manifest["eval_metrics"]["judgements"]) == 2
    assert manifest["eval_metrics"]["items"] == 2 and manifest["eval_metrics"]["decision"] == "promoted"
    held = load_structure(tmp_path / "cache-scheduling.yaml").content_hash()
    assert held not in {json.loads(l)["structure_hash"] for l in (Path(manifest["dataset"]) / "pairs.jsonl").open()}
    round_dir = runs / "rounds" / "round-0001"
    assert (round_dir / "report.md").is_file() and (round_dir / "rounds.png").is_file()
    assert "<svg" in (round_dir / "report.html").read_text()
    # TRL's log history is kept: one entry per step, with the loss and the reward margin
    history = json.loads((round_dir / "train_history.json").read_text())
    assert [h["step"] for h in history] == [1.0, 2.0] and all("loss" in h and "rewards/margins" in h for h in history)
    assert Path(manifest["adapter"]).name == "round-0001-lora"
    # the adapter names its base portably and carries a model card (part of its digest)
    adapter_config = json.loads((Path(manifest["adapter"]) / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == manifest["base_model_name"] == tiny_model.resolve().name
    assert "base_model: " + tiny_model.resolve().name in (Path(manifest["adapter"]) / "README.md").read_text()
    [listed] = rounds(runs)
    assert listed["round_id"] == "round-0001" and listed["status"] == "promoted"

    # `cycle` now writes with the promoted adapter; `--adapter none` goes back to the base.
    cfg = tmp_path / "short.yaml"
    cfg.write_text("cycle: {writer: {paragraph: {max_new_tokens: 6}, abstract: {max_new_tokens: 6}}, "
                   "reviewer: {sampling: {max_new_tokens: 32}, max_attempts: 1}}\n")
    common = ["--runs-dir", str(runs), "--engine", "transformers", "--model", str(tiny_model),
              "--max-revisions", "0", "--config", str(cfg), "--json"]
    used = run_cli("cycle", str(tmp_path / "coral-thermal.yaml"), *common)
    assert used.returncode == 0, used.stderr
    gens = [g for s in json.loads(used.stdout)["steps"] for g in s["generations"]]
    assert {g["adapter_id"].rsplit("-", 1)[0] for g in gens if g["agent"] == "writer"} == {"round-0001-lora"}
    assert {g["adapter_id"] for g in gens if g["agent"] == "reviewer"} == {None}
    base = run_cli("cycle", str(tmp_path / "coral-thermal.yaml"), *common, "--adapter", "none")
    assert base.returncode == 0, base.stderr
    assert {g["adapter_id"] for s in json.loads(base.stdout)["steps"] for g in s["generations"]} == {None}

    # A second round starts from the promoted one and collects new threads for it.
    again = run_cli("round", "--config", str(config), "--runs-dir", str(runs), "--json")
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["parent"]["id"] == "round-0001" and "parent adapter" in second["reference"]
    # tagged with the adapter's name: its directory and a digest of its weights
    assert all(re.search(r"-round-0001-lora-[0-9a-f]{12}-s\d+$", t) for t in second["threads_collected"])
    assert not set(second["threads_used"]) & set(manifest["threads_used"])  # consumed data is not reused


def _status(runs: Path) -> str | None:
    try:
        db = sqlite3.connect(runs / "trajectories.sqlite", timeout=5)
        row = db.execute("SELECT status FROM round_events ORDER BY rowid DESC LIMIT 1").fetchone()
        db.close()
        return row[0] if row else None
    except sqlite3.OperationalError:
        return None


@pytest.mark.slow  # minutes: whole rounds, on the tiny model
def test_a_round_killed_in_training_promotes_nothing_and_keeps_its_trajectories(tiny_model, tmp_path):
    config, runs = round_config(tmp_path, tiny_model, max_steps=5000), tmp_path / "runs"
    proc = subprocess.Popen([*PARACYCLE, "round", "--config", str(config), "--runs-dir", str(runs)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while _status(runs) != "pairs":  # recorded just before training starts
        assert proc.poll() is None and time.monotonic() < deadline, "the round never reached training"
        time.sleep(0.5)
    time.sleep(15)  # well into training
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    [killed] = rounds(runs)
    assert killed["status"] == "pairs" and killed["adapter"] is None
    assert not (runs / "rounds" / "round-0001" / "round-0001-lora").exists()
    db = sqlite3.connect(runs / "trajectories.sqlite")
    finished = db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0]
    db.close()
    assert finished == 4

    # The next round marks the killed one abandoned, reuses its trajectories, and can promote.
    config = round_config(tmp_path, tiny_model, max_steps=2)
    done = run_cli("round", "--config", str(config), "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    assert "4 cycles, 4 finished earlier" in done.stderr
    first, second = rounds(runs)
    assert first["status"] == "abandoned" and any("killed" in r for r in first["reasons"])
    assert second["status"] == "promoted" and second["parent"]["id"] == "base"
    assert set(second["threads_used"]) == set(first["threads_collected"])


def test_rounds_never_overlap(tiny_model, tmp_path):
    from paracycle.training.round import RoundBusy, round_lock, run_round

    config, runs = round_config(tmp_path, tiny_model), tmp_path / "runs"
    with round_lock(RunDir(runs)):
        with pytest.raises(RoundBusy, match=str(os.getpid())):
            run_round(config, RunDir(runs), log=lambda *a: None)
        done = run_cli("round", "--config", str(config), "--runs-dir", str(runs))
        assert done.returncode == 1 and "another round is running" in done.stderr
    assert rounds(runs) == []


@pytest.mark.slow  # minutes: whole rounds, on the tiny model
def test_schedule_runs_a_round_only_when_enough_pairs_are_waiting(tiny_model, tmp_path):
    config, runs = round_config(tmp_path, tiny_model), tmp_path / "runs"
    # Nothing collected yet: zero new pairs, no round.
    idle = run_cli("schedule", "--every", "1s", "--min-new-pairs", "1", "--max-checks", "1",
                   "--config", str(config), "--runs-dir", str(runs))
    assert idle.returncode == 0, idle.stderr
    assert "0 new pairs" in idle.stderr and "0 rounds" in idle.stdout
    collected = run_cli("collect", str(tmp_path / "coral-thermal.yaml"), "--samples", "2", "--engine", "transformers",
                        "--model", str(tiny_model), "--runs-dir", str(runs), "--max-revisions", "0",
                        "--config", str(_short_cycle(tmp_path)))
    assert collected.returncode == 0, collected.stderr
    busy = run_cli("schedule", "--every", "1s", "--min-new-pairs", "1", "--max-checks", "1",
                   "--config", str(config), "--runs-dir", str(runs))
    assert busy.returncode == 0, busy.stderr
    assert "1 rounds: round-0001" in busy.stdout
    bad = run_cli("schedule", "--every", "soon", "--config", str(config), "--runs-dir", str(runs))
    assert bad.returncode == 2 and "--every" in bad.stderr


def _short_cycle(directory: Path) -> Path:
    path = directory / "short.yaml"
    path.write_text("cycle: {writer: {paragraph: {max_new_tokens: 6}, abstract: {max_new_tokens: 6}}, "
                    "reviewer: {sampling: {max_new_tokens: 32}, max_attempts: 1}}\n")
    return path


def test_bad_round_configs_are_one_line_errors(tmp_path):
    (tmp_path / "a.yaml").write_text((EXAMPLES / "coral-thermal.yaml").read_text())
    cases = {
        "kind: round\nstructures: [a.yaml]\nholdout: [a.yaml]\n": "both a training and a held-out",
        "kind: round\nstructures: [nope.yaml]\nholdout: [a.yaml]\n": "nope.yaml",
        "kind: round\nstructures: [a.yaml]\nholdout: [a.yaml]\ntrain: {lora_r: 64}\n": "lora_r",
    }
    for text, message in cases.items():
        path = tmp_path / "round.yaml"
        path.write_text(text)
        done = run_cli("round", "--config", str(path), "--runs-dir", str(tmp_path / "runs"))
        assert done.returncode == 2 and message in done.stderr, (text, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1


# -- the gate and the judge ------------------------------------------------------------------


def test_judge_that_always_says_a_produces_ties_not_a_winner():
    from paracycle.eval.judge import judge_pairs, win_rate

    structure = load_structure(EXAMPLES / "coral-thermal.yaml")
    a = Draft(abstract="One.", introduction=[Paragraph(id="intro_p1", role="scene_setting", text="A.")])
    b = Draft(abstract="Two.", introduction=[Paragraph(id="intro_p1", role="scene_setting", text="B.")])
    always_a = ScriptedEngine(reviews=[json.dumps({"reason": "first", "better": "A"})] * 2)
    [j] = judge_pairs(always_a, [(structure, 0, a, b)])
    assert j.outcome == "tie" and win_rate([j]) == 0.5
    consistent = ScriptedEngine(reviews=[json.dumps({"reason": "r", "better": x}) for x in ("A", "B")])
    [j] = judge_pairs(consistent, [(structure, 0, a, b)])
    assert j.outcome == "candidate" and win_rate([j]) == 1.0
    broken = ScriptedEngine(reviews=["not json", json.dumps({"reason": "r", "better": "A"})])
    [j] = judge_pairs(broken, [(structure, 0, a, b)])
    assert j.candidate_first == "failed" and j.outcome == "tie"


def test_per_round_collection_walks_the_corpus_in_mixed_slices(tmp_path, monkeypatch):
    from paracycle.loading import structure_files
    from paracycle.registry import RoundRegistry
    from paracycle.training.round import RoundConfig, _Round

    structures = [(str(p), load_structure(p)) for p in structure_files([EXAMPLES / "corpus" / "train"])][:10]
    config = RoundConfig(structures=["train"], holdout=["heldout"], collect={"per_round": 4})
    store = RunDir(tmp_path).open_store()
    try:
        r = _Round(config, structures, [], RunDir(tmp_path), store, print, None)
        slices = []
        for trained in range(3):
            monkeypatch.setattr(RoundRegistry, "trained_rounds", lambda self, n=trained: n)
            slices.append([source for source, _ in r._collect_slice()])
    finally:
        store.close()
    assert [len(s) for s in slices] == [4, 4, 4]
    assert not set(slices[0]) & set(slices[1])  # the next slice, not the same one again
    assert set(slices[0]) | set(slices[1]) | set(slices[2]) == {s for s, _ in structures}  # wraps around
    assert slices[0] != sorted(source for source, _ in structures)[:4]  # shuffled, not file order
    config.collect.per_round = None
    assert len(_Round(config, structures, [], RunDir(tmp_path), None, print, None)._collect_slice()) == 10
