"""`paracycle eval`: two real writers (the tiny random model, with and without a LoRA adapter)
drafting the same structures with the same seeds, compared as the gate compares them."""

from __future__ import annotations

import json
import shutil

from conftest import EXAMPLES, run_cli

SHORT = ("cycle: {writer: {paragraph: {max_new_tokens: 8}, abstract: {max_new_tokens: 10}}}\n"
         "seed: 3\n")


def test_eval_compares_an_adapter_with_the_base_on_paired_seeds(tiny_model, tiny_adapter, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(SHORT)
    structures = tmp_path / "held"
    structures.mkdir()
    for name in ("coral-thermal.yaml", "cache-scheduling.yaml"):
        shutil.copy(EXAMPLES / name, structures / name)
    common = ["--structures", str(structures), "--samples", "2", "--engine", "transformers", "--model", str(tiny_model),
              "--config", str(config), "--runs-dir", str(tmp_path / "runs")]
    done = run_cli("eval", "--writer", str(tiny_adapter), "--against", "base", "--judge", *common, "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)  # stdout is one JSON document and nothing else
    m = result["metrics"]
    assert result["writer"]["adapter"] == str(tiny_adapter.resolve()) and result["against"]["id"] == "base"
    assert m["items"] == 4 and m["candidate"]["drafts"] == m["current"]["drafts"] == 4
    assert {c["metric"] for c in m["comparisons"]} >= {"reward", "unsupported", "words"}
    reward = next(c for c in m["comparisons"] if c["metric"] == "reward")
    assert reward["diff"]["n"] == 4 and reward["diff"]["low"] <= reward["diff"]["mean"] <= reward["diff"]["high"]
    assert len(m["judgements"]) == 4 and m["judge"]["low"] <= m["judge"]["rate"] <= m["judge"]["high"]
    # Four paired items are fewer than the gate's minimum: never a promotion.
    assert result["decision"] == m["decision"] == "inconclusive"
    assert "fewer than the 12 needed" in result["reasons"][-1]

    # The same writer against itself, same seeds: every paired difference is zero.
    same = run_cli("eval", "--writer", "base", "--against", "base", "--no-judge", *common, "--json")
    assert same.returncode == 0, same.stderr[-2000:]
    m = json.loads(same.stdout)["metrics"]
    assert all(c["diff"]["mean"] == 0 and c["diff"]["low"] == c["diff"]["high"] == 0 for c in m["comparisons"])
    assert m["judge"] is None and m["decision"] == "inconclusive"

    # The table for people: every metric with its interval, then the decision.
    text = run_cli("eval", "--writer", "base", "--against", "base", "--no-judge", *common)
    assert text.returncode == 0, text.stderr[-2000:]
    assert "95% interval" in text.stdout and "reward" in text.stdout and "decision: inconclusive" in text.stdout


def test_eval_names_a_writer_it_cannot_find_in_one_line(tmp_path):
    for writer, message in [
        ("round-0007", "no round round-0007"),
        (str(tmp_path), "neither a LoRA adapter"),
        ("yesterday", "is not 'base', a round id"),
    ]:
        done = run_cli("eval", "--writer", writer, "--against", "base", "--structures", str(EXAMPLES / "coral-thermal.yaml"),
                       "--runs-dir", str(tmp_path / "runs"), "--engine", "transformers")
        assert done.returncode == 2, (writer, done.stderr)
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
