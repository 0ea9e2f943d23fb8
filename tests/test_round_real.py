"""`examples/round-tiny.yaml`, at half its budget, on the embedded SmolLM2: a real DPO round
(collect scored by the claim ledger, pairs, train, judge, gate). Training must measurably
move the policy, and the gate must not promote on two paired items."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import yaml
from test_dpo import chosen_logprob

from conftest import EXAMPLES, run_cli
from paracycle.training.dataset import load_rows

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def smaller(config: Path) -> Path:
    """round-tiny with half its budget (one training structure, 6 pairs, 6 steps): every stage
    still runs on the real model, in a third of the time the example takes."""
    data = yaml.safe_load(config.read_text())
    data["structures"] = data["structures"][:1]
    data["train"].update(max_pairs=6, max_steps=6)
    path = config.with_name("round-ci.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


def test_round_tiny_moves_the_embedded_writer(embedded_checkpoint, tmp_path):
    examples = tmp_path / "examples"
    shutil.copytree(EXAMPLES, examples)
    runs = tmp_path / "runs"
    started = time.monotonic()
    config = smaller(examples / "round-tiny.yaml")
    done = run_cli("round", "--config", str(config), "--runs-dir", str(runs), "--json", timeout=1500)
    print(f"round-tiny took {time.monotonic() - started:.0f}s")  # recorded in the README, not asserted
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads(done.stdout)
    # Two paired items cannot support a promotion: the gate must say so.
    assert manifest["status"] == manifest["decision"] == "inconclusive", manifest["reasons"]
    assert manifest["eval_metrics"]["items"] == 2 and len(manifest["eval_metrics"]["judgements"]) == 2
    assert "fewer than the 12 needed" in manifest["reasons"][-1]
    metrics = manifest["train_metrics"]
    assert metrics["steps"] == 6 and metrics["pairs"] == 6
    assert metrics["rewards/margins"] > 0, metrics  # DPO's implicit reward margin on the training pairs
    assert manifest["pair_counts"]["principle_violation"] > 0
    row = load_rows(Path(manifest["dataset"]))[0]
    base = chosen_logprob(embedded_checkpoint, None, row)
    tuned = chosen_logprob(embedded_checkpoint, Path(manifest["adapter"]), row)
    assert abs(tuned - base) > 1e-3  # the saved adapter changes log-probabilities
    listed = json.loads(run_cli("rounds", "list", "--json", "--runs-dir", str(runs)).stdout)
    assert [r["decision"] for r in listed] == [manifest["decision"]]
    assert (runs / "rounds" / "round-0001" / "rounds.png").is_file()
