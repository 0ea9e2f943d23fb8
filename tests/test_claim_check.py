"""The claim check rebuilt for issue 13: the floors on the labelled set, and one test per rule
(each with a sentence the rule must flag and one it must leave alone)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from paracycle.eval.structural import check_structure_draft
from paracycle.schemas import ArgumentStructure, Claim, Draft, Evidence, MethodComponent, Paragraph

ROOT = Path(__file__).resolve().parents[1]

# The floors, on the whole labelled set (tests/data/claims).
RECALL_FLOOR, PRECISION_FLOOR = 0.95, 0.90


def _bench():
    spec = importlib.util.spec_from_file_location("claim_check_bench", ROOT / "bench" / "claim_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_labelled_set_meets_the_floors():
    score = _bench().score()
    assert score.papers >= 12 and sum(score.planted.values()) >= 50 and sum(score.negatives.values()) >= 60
    assert all(score.planted[k] >= 4 for k in score.planted) and len(score.planted) == 10
    missed = [f"{label.paper}: {label.sentence}" for label, _ in score.mistakes if label.flag]
    alarms = [f"{label.paper}: {label.sentence} ({reason})" for label, reason in score.mistakes if not label.flag]
    assert score.recall >= RECALL_FLOOR, missed
    assert score.precision >= PRECISION_FLOOR, alarms


# --------------------------------------------------------------------------------------
# One structure, one rule at a time
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def structure() -> ArgumentStructure:
    return ArgumentStructure(
        title="TideCompact: Scheduling LSM Compaction Around Daily Load",
        problem="Compactions during traffic peaks inflate tail latency: 71% of p99 spikes overlapped one.",
        motivation="Services follow daily cycles: the peak request rate is 3.2 times the overnight low.",
        gap="RocksDB triggers compactions from level sizes alone; SILK only throttles their bandwidth.",
        insight="Compaction can be deferred during predictable peaks because troughs have spare bandwidth.",
        realization_type="enabling",
        method=[
            MethodComponent(
                name="Load forecasting",
                description="A seasonal forecaster predicts the request rate 10 minutes ahead.",
                rationale="Daily cycles repeat closely.",
            ),
            MethodComponent(
                name="Trough catch-up",
                description="Deferred compactions run with up to 4 threads in every trough.",
                rationale="Troughs have spare bandwidth, so catching up there does not slow requests.",
            ),
        ],
        evidence=[
            Evidence(id="E1", kind="experiment", location="Table 2",
                     finding="On the production replay, TideCompact lowers p99 latency from 38.5 ms to 14.2 ms "
                             "against stock RocksDB."),
            Evidence(id="E2", kind="experiment", location="Table 3",
                     finding="On YCSB workload A, TideCompact lowers p99 latency by 47% against RocksDB."),
            Evidence(id="E3", kind="ablation", location="Table 4",
                     finding="Without the seasonal forecaster, p99 latency on the replay is 30.1 ms."),
            Evidence(id="E4", kind="analysis", location="Figure 6",
                     finding="Across 12 clusters, the latency gain correlated with the peak-to-trough ratio (r = 0.77)."),
        ],
        claims=[
            Claim(id="C1", text="TideCompact more than halves tail latency on a production trace.", evidence=["E1"]),
            Claim(id="C2", text="The gains hold on YCSB.", evidence=["E2"]),
            Claim(id="C3", text="TideCompact protects latency during sudden traffic surges.", evidence=[]),
        ],
        contributions=["TideCompact, a compaction scheduler that defers compactions during forecast peaks."],
    )


def check(structure: ArgumentStructure, sentence: str):
    result = check_structure_draft(
        structure, Draft(abstract=sentence, introduction=[Paragraph(id="intro_p1", role="scene_setting", text="x.")])
    )
    return next((c for c in result.commitments if c.paragraph_id == "abstract"), None)  # None: no commitment


def failed(commitment) -> list[str]:
    return [s.kind for s in commitment.specifics if not s.backed]


def test_a_faithful_restatement_is_fulfilled_and_names_its_evidence(structure):
    c = check(structure, "On the production replay, TideCompact cuts p99 latency from about 39 ms to 14 ms.")
    assert c.status == "fulfilled", c.reason
    assert "E1" in c.evidence_ids
    assert {(s.text, s.source, s.matched) for s in c.specifics if s.kind == "number"} >= {("39 ms", "E1", "38.5 ms")}


def test_an_inflated_number_names_what_the_evidence_says(structure):
    c = check(structure, "On the production replay, TideCompact lowers p99 latency from 38.5 ms to 4.2 ms.")
    assert c.status == "unfulfilled"
    assert "4.2 ms" in c.reason and "E1 says" in c.reason


def test_a_true_number_given_to_the_wrong_benchmark_is_misattributed(structure):
    c = check(structure, "On YCSB workload A, TideCompact lowers p99 latency from 38.5 ms to 14.2 ms.")
    assert c.status == "unfulfilled"
    assert "does not concern YCSB" in c.reason
    ok = check(structure, "On YCSB workload A, TideCompact lowers p99 latency by 47%.")
    assert ok.status == "fulfilled", ok.reason


def test_compared_numbers_must_come_from_one_finding(structure):
    c = check(structure, "TideCompact reaches 14.2 ms, against 30.1 ms for stock RocksDB.")
    assert c.status == "unfulfilled"
    assert "no one finding states both" in c.reason


def test_multiplier_words_need_a_ratio_that_fits(structure):
    assert check(structure, "On the production replay, TideCompact more than halves p99 latency.").status == "fulfilled"
    c = check(structure, "On the production replay, TideCompact cuts p99 latency by an order of magnitude.")
    assert c.status == "unfulfilled" and failed(c) == ["quantity"]


def test_an_unknown_benchmark_and_baseline_are_named(structure):
    c = check(structure, "TideCompact also lowers p99 latency on TPC-C.")
    assert "name" in failed(c) and "TPC-C appears nowhere in the structure" in c.reason
    c = check(structure, "TideCompact outperforms SILK by a wide margin.")
    assert failed(c) == ["baseline"] and "only gap mentions it" in c.reason  # the gap names SILK, no finding compares


def test_scope_must_be_covered(structure):
    c = check(structure, "TideCompact therefore lowers tail latency for any LSM-based store under any workload.")
    assert "scope" in failed(c)
    # The method itself says "every trough": restating it is fine.
    assert check(structure, "TideCompact catches up on deferred compactions in every trough.").status != "unfulfilled"


def test_a_cause_needs_a_mechanism_and_never_comes_from_a_correlation(structure):
    c = check(structure, "The gain is driven by the peak-to-trough ratio (r = 0.77).")
    assert failed(c) == ["causal"] and "correlation" in c.reason
    ok = check(structure, "TideCompact defers compaction during peaks because troughs have spare bandwidth.")
    assert "causal" not in failed(ok)


def test_a_guarantee_needs_a_theorem(structure):
    c = check(structure, "We prove that TideCompact never lets latency exceed 20 ms.")
    assert "guarantee" in failed(c)
    theorem = structure.model_copy(update={"evidence": [*structure.evidence, Evidence(
        id="E5", kind="theorem", location="Section 4",
        finding="Theorem 1: with the level-0 cap, TideCompact never lets latency exceed 20 ms.")]})
    assert "guarantee" not in failed(check(theorem, "We prove that TideCompact never lets latency exceed 20 ms."))


def test_restating_an_open_claim_is_an_open_commitment(structure):
    c = check(structure, "TideCompact also protects latency during sudden traffic surges.")
    assert c.status == "unfulfilled" and c.matched_claim == "C3"
    assert "cites no evidence" in c.reason
    hedged = check(structure, "Whether TideCompact protects latency during sudden traffic surges is left open.")
    assert hedged is None or hedged.status != "unfulfilled"


def test_background_numbers_are_backed_by_the_problem(structure):
    c = check(structure, "Today, 71% of p99 spikes overlap a compaction.")
    assert c.status != "unfulfilled", c.reason
    assert [s.source for s in c.specifics if s.kind == "number"] == ["problem"]


def test_judged_failures_are_borderline_for_a_second_opinion(structure):
    certain = check(structure, "TideCompact lowers p99 latency by 77% on YCSB.")
    judged = check(structure, "TideCompact therefore lowers tail latency for any LSM-based store under any workload.")
    assert certain.confidence == 1.0
    assert judged.confidence < 0.75  # ReviewerSettings.second_opinion_below
