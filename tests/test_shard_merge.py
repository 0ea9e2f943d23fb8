"""Sharded collection and `store merge`: shards plus a merge give the trajectories one
unsharded collection gives, merging is idempotent, and a disagreement is a conflict that
changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import ScriptedEngine

from conftest import EXAMPLES, run_cli
from paracycle.collect import Collector, in_shard, plan_jobs
from paracycle.config import RunConfig, parse_shard
from paracycle.errors import InputError
from paracycle.loading import load_structure, structure_files
from paracycle.store import TrajectoryStore

STRUCTURES = [(str(p), load_structure(p)) for p in structure_files([EXAMPLES])]


def collect_into(runs: Path, shard: tuple[int, int] | None = None) -> TrajectoryStore:
    runs.mkdir(parents=True, exist_ok=True)
    store = TrajectoryStore(runs / "trajectories.sqlite")
    jobs = plan_jobs(STRUCTURES, 3)
    if shard is not None:
        jobs = [j for j in jobs if in_shard(j.thread_id, shard)]
    engine = ScriptedEngine()  # the same request always gets the same answer: runs are comparable
    config = RunConfig()
    config.cycle.max_revisions = 1
    Collector(config, engine, engine, store, runs / "checkpoints.sqlite", concurrency=2).run(jobs)
    return store


def content(store: TrajectoryStore) -> dict[str, dict]:
    """Every thread as stored, without the times at which things happened."""
    out = {}
    for thread in store.thread_ids():
        t = store.load(thread).model_dump(mode="json", exclude={"created_at", "finished_at"})
        for step in t["steps"]:
            step.pop("created_at")
            for g in step["generations"]:
                g.pop("seconds")
        out[thread] = t
    return out


def test_shards_split_every_thread_exactly_once():
    jobs = plan_jobs(STRUCTURES, 4)
    for n in (1, 2, 3):
        owners = [[i for i in range(n) if in_shard(j.thread_id, (i, n))] for j in jobs]
        assert all(len(o) == 1 for o in owners)
    assert 0 < sum(in_shard(j.thread_id, (0, 2)) for j in jobs) < len(jobs)


@pytest.mark.parametrize("text", ["2/2", "1", "a/b", "-1/2", "0/0", "1/2/3"])
def test_a_bad_shard_is_one_line(text):
    with pytest.raises(InputError, match="--shard"):
        parse_shard(text)


def test_two_shards_merged_equal_one_collection_and_merging_again_adds_nothing(tmp_path):
    whole = collect_into(tmp_path / "whole")
    shards = [collect_into(tmp_path / f"shard{i}", (i, 2)) for i in range(2)]
    merged = TrajectoryStore(tmp_path / "merged" / "trajectories.sqlite")
    results = [merged.merge_from(s) for s in shards]
    assert sum(len(r.added) for r in results) == 9 and not any(r.conflicts or r.present for r in results)
    assert content(merged) == content(whole)

    again = [merged.merge_from(s) for s in shards]
    assert [len(r.present) for r in again] == [len(r.added) for r in results]
    assert not any(r.added or r.conflicts for r in again)
    assert content(merged) == content(whole)
    # a shard merged into a store that already holds some of it (here: all) adds nothing
    assert not merged.merge_from(whole).added


def test_a_thread_that_disagrees_is_a_conflict_and_changes_nothing(tmp_path):
    first = collect_into(tmp_path / "a")
    thread = first.thread_ids()[0]
    other = TrajectoryStore(tmp_path / "b" / "trajectories.sqlite")
    t = first.load(thread)
    other.start(thread, t.structure)
    other.append_steps(thread, t.steps[:1])
    other.finish(thread, "failed", "gave up", None)
    before = content(first)

    result = first.merge_from(other)
    assert list(result.conflicts) == [thread] and "another outcome" in result.conflicts[thread]
    assert content(first) == before


def test_unfinished_threads_stay_with_their_shard(tmp_path):
    shard = TrajectoryStore(tmp_path / "s" / "trajectories.sqlite")
    _, structure = STRUCTURES[0]
    shard.start("half-done", structure)
    merged = TrajectoryStore(tmp_path / "m" / "trajectories.sqlite")
    result = merged.merge_from(shard)
    assert result.unfinished == ["half-done"] and merged.thread_ids() == []


@pytest.mark.slow  # three collections on the tiny model
def test_collect_shards_and_store_merge_on_the_command_line(tiny_model, tmp_path):
    structures = tmp_path / "structures"
    structures.mkdir()
    for name in ("sparse-retrieval.yaml", "coral-thermal.yaml"):
        (structures / name).write_text((EXAMPLES / name).read_text())
    cfg = tmp_path / "short.yaml"
    cfg.write_text("cycle: {review: structural, writer: {paragraph: {max_new_tokens: 8}, abstract: {max_new_tokens: 8}}}\n")
    # one cycle at a time: each cycle's batches are then the same in every run, so are its samples
    common = [str(structures), "--samples", "2", "--concurrency", "1", "--max-revisions", "0", "--seed", "0",
              "--engine", "transformers", "--model", str(tiny_model), "--config", str(cfg)]
    for name, extra in (("whole", []), ("shard0", ["--shard", "0/2"]), ("shard1", ["--shard", "1/2"])):
        done = run_cli("collect", *common, "--runs-dir", str(tmp_path / name), *extra)
        assert done.returncode == 0, done.stderr[-2000:]
    merged = tmp_path / "merged"
    for _ in range(2):  # idempotent
        done = run_cli("store", "merge", str(tmp_path / "shard0"), str(tmp_path / "shard1"),
                       "--runs-dir", str(merged), "--json")
        assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert sum(len(r["present"]) for r in report.values()) == 4 and not any(r["added"] for r in report.values())
    whole = TrajectoryStore(tmp_path / "whole" / "trajectories.sqlite")
    assert content(TrajectoryStore(merged / "trajectories.sqlite")) == content(whole)

    bad = run_cli("collect", *common, "--runs-dir", str(tmp_path / "x"), "--shard", "2/2")
    assert bad.returncode == 2 and "--shard" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    missing = run_cli("store", "merge", str(tmp_path / "nowhere"), "--runs-dir", str(merged))
    assert missing.returncode == 2 and "no trajectory store" in missing.stderr
