"""Rewards and preference pairs, on trajectories collected through the real graph and store
with a scripted engine (the pair logic is what is tested; real models have their own tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import VariedEngine

from conftest import EXAMPLES
from paracycle.agents.writer import draft_messages
from paracycle.collect import Collector, plan_jobs
from paracycle.config import RunConfig
from paracycle.errors import InputError
from paracycle.eval.structural import check_structure_draft
from paracycle.loading import load_structure, structure_files
from paracycle.store import TrajectoryStore
from paracycle.training.dataset import load_manifest, load_rows, write_dataset
from paracycle.training.pairs import EDITS, PairSettings, build_pairs
from paracycle.eval.reward import RewardWeights, score_draft


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    runs = tmp_path_factory.mktemp("pairs-runs")
    structures = [(str(p), load_structure(p)) for p in structure_files([EXAMPLES])]
    config = RunConfig()
    config.cycle.max_revisions = 1
    store = TrajectoryStore(runs / "trajectories.sqlite")
    engine = VariedEngine()
    result = Collector(config, engine, engine, store, runs / "checkpoints.sqlite", concurrency=1).run(
        plan_jobs(structures, 3)
    )
    assert result.finished == 9 and not result.failed
    trajectories = [store.load(t) for t in store.thread_ids()]
    store.close()
    return runs, structures, trajectories


def test_reward_keeps_every_component_and_penalises_a_missing_role():
    s = load_structure(EXAMPLES / "sparse-retrieval.yaml")
    from paracycle.training.pairs import anchor_draft
    from paracycle.schemas import Draft, Paragraph

    like = Draft(abstract="x", introduction=[Paragraph(id=f"intro_p{i}", role=r, text="t")
                                             for i, r in enumerate(["scene_setting", "problem_statement"], 1)])
    draft = anchor_draft(s, like)
    check = check_structure_draft(s, draft)
    weights = RewardWeights()
    full = score_draft(s, draft, check, None, weights)
    assert set(full.components) == {"review", "closure", "unsupported", "dropped", "role_order", "missing_roles", "length"}
    assert full.components["review"] is None and full.total == full.structural
    fewer = draft.model_copy(update={"introduction": draft.introduction[:-1]})
    worse = score_draft(s, fewer, check_structure_draft(s, fewer), None, weights)
    assert worse.components["missing_roles"] > full.components["missing_roles"]
    assert worse.structural < full.structural


@pytest.mark.parametrize("principle", sorted(EDITS))
def test_each_principle_edit_lowers_the_structural_reward(principle):
    s = load_structure(EXAMPLES / "sparse-retrieval.yaml")
    from paracycle.agents.writer import abstract_facts, planned_roles, role_facts
    from paracycle.schemas import Draft, Paragraph

    # A good draft made of the structure's own facts (its findings state percentages).
    good = Draft(
        abstract=" ".join(f.split(": ", 1)[-1] for f in abstract_facts(s)),
        introduction=[
            Paragraph(id=f"intro_p{i}", role=r, text=" ".join(role_facts(s, r)))
            for i, r in enumerate(planned_roles(s), 1)
        ],
    )
    edited = EDITS[principle](s, good)
    assert edited is not None and edited != good
    weights = RewardWeights()
    before = score_draft(s, good, check_structure_draft(s, good), None, weights).structural
    after = score_draft(s, edited, check_structure_draft(s, edited), None, weights).structural
    assert after < before, principle


def test_pairs_from_all_sources_in_trl_format_without_held_out_structures(collected):
    _, structures, trajectories = collected
    held = {structures[0][1].content_hash()}
    built = build_pairs(trajectories, PairSettings(), exclude_structures=held)
    counts = built.counts()
    assert all(counts[s] > 0 for s in ("revision", "best_vs_worst", "principle_violation")), counts
    assert counts["human_anchor"] > 0  # sparse-retrieval has an anchor and is not held out
    held_title = structures[0][1].title
    for row in built.rows:
        assert row.structure_hash not in held
        assert held_title not in row.prompt[1]["content"]
        assert [m["role"] for m in row.prompt] == ["system", "user"]
        assert [m["role"] for m in row.chosen] == ["assistant"] == [m["role"] for m in row.rejected]
        assert row.chosen[0]["content"] != row.rejected[0]["content"]
    ids = [r.id for r in built.rows]
    assert len(ids) == len(set(ids))
    # Each row's prompt is the one the writer drafts that unit from.
    by_hash = {s.content_hash(): s for _, s in structures}
    row = built.rows[0]
    role = "abstract" if row.unit == "abstract" else row.unit.split(":")[1]
    assert row.prompt == draft_messages(by_hash[row.structure_hash], role)
    # Every draft pair explains itself: both rewards, component by component, and the margin.
    for pair in built.draft_pairs:
        assert pair.margin >= PairSettings().min_margin
        assert pair.chosen_reward.on(pair.basis) - pair.rejected_reward.on(pair.basis) == pytest.approx(pair.margin)
        assert pair.chosen_reward.components and pair.rejected_reward.weighted


def test_revision_pairs_only_when_the_reward_rose(collected):
    _, _, trajectories = collected
    built = build_pairs(trajectories, PairSettings(sources=["revision"]))
    for pair in built.draft_pairs:
        assert pair.chosen.revision == pair.rejected.revision + 1
        assert pair.chosen_reward.total > pair.rejected_reward.total


def test_a_margin_above_every_difference_drops_everything_as_ties(collected):
    _, _, trajectories = collected
    built = build_pairs(trajectories, PairSettings(min_margin=100.0))
    assert built.rows == [] and sum(built.dropped_ties.values()) > 0


def test_duplicate_trajectories_do_not_duplicate_rows(collected):
    _, _, trajectories = collected
    once = build_pairs(trajectories, PairSettings())
    twice = build_pairs(trajectories + trajectories, PairSettings())
    assert sorted(r.id for r in twice.rows) == sorted(r.id for r in once.rows)


def test_dataset_is_versioned_and_loads_with_datasets(collected, tmp_path):
    from datasets import load_from_disk

    _, structures, trajectories = collected
    held = {structures[0][1].content_hash()}
    built = build_pairs(trajectories, PairSettings(), exclude_structures=held)
    directory, manifest = write_dataset(built, tmp_path / "pairs", PairSettings(), held)
    assert directory.parent == tmp_path / "pairs" and directory.name == manifest.version
    assert [p.name for p in (tmp_path / "pairs").iterdir()] == [manifest.version]  # no temporary left
    assert load_manifest(directory).counts == built.counts() and manifest.rows == len(built.rows)
    assert manifest.holdout_structures == sorted(held)
    rows = load_rows(directory)
    hf = load_from_disk(str(directory / "hf"))
    assert len(hf) == len(rows) == len(built.rows)
    assert hf[0]["prompt"] == rows[0].prompt and hf[0]["chosen"] == rows[0].chosen
    explained = [json.loads(line) for line in (directory / "draft_pairs.jsonl").read_text().splitlines()]
    assert {p["id"] for p in explained} == {r.pair_id for r in rows}


def test_round_configs_in_a_directory_are_not_structures(tmp_path):
    (tmp_path / "a.yaml").write_text((EXAMPLES / "coral-thermal.yaml").read_text())
    (tmp_path / "round.yaml").write_text("kind: round\nstructures: [a.yaml]\nholdout: [a.yaml]\n")
    assert structure_files([tmp_path]) == [tmp_path / "a.yaml"]
    with pytest.raises(InputError, match="round config"):
        load_structure(tmp_path / "round.yaml")


def test_pairs_build_cli_writes_a_dataset_and_rejects_bad_holdout(collected, tmp_path):
    from conftest import run_cli

    runs, structures, _ = collected
    done = run_cli("pairs", "build", "--runs-dir", str(runs), "--holdout", structures[0][0], "--json")
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["rows"] > 0 and manifest["holdout_structures"] == [structures[0][1].content_hash()]
    assert Path(runs / "pairs" / manifest["version"] / "hf").is_dir()
    bad = run_cli("pairs", "build", "--runs-dir", str(runs), "--holdout", str(tmp_path / "missing.yaml"))
    assert bad.returncode == 2 and "missing.yaml" in bad.stderr


def test_collect_counts_each_generated_token_once(tmp_path):
    """tokens/s in `collect` (and the benchmark) is the stored completion tokens over time:
    concurrent cycles sharing a batch must not each be credited with the whole batch."""
    structures = [(str(p), load_structure(p)) for p in structure_files([EXAMPLES])]
    store = TrajectoryStore(tmp_path / "trajectories.sqlite")
    engine = VariedEngine()
    result = Collector(RunConfig(), engine, engine, store, tmp_path / "checkpoints.sqlite", concurrency=6).run(
        plan_jobs(structures, 2)
    )
    stored = sum(
        g.completion_tokens for t in store.thread_ids() for s in store.load(t).steps for g in s.generations
    )
    store.close()
    assert result.largest_batch > 8  # calls from several cycles did share batches
    assert result.tokens == stored
