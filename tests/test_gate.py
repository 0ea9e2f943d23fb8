"""The gate's statistics and decision (shared with `paracycle eval`): known samples give known
intervals, too little evidence is `inconclusive`, and each rule can reject on its own."""

from __future__ import annotations

import math
import random

import pytest

from conftest import EXAMPLES
from paracycle.eval.compare import GateSettings, Scored, paired_comparison, reasons
from paracycle.loading import load_structure
from paracycle.schemas import Draft
from paracycle.stats import bootstrap, items_needed, paired_mean_diff, wilson

# -- the interval maths ---------------------------------------------------------------------


def test_wilson_matches_the_textbook_values():
    # 8 of 10: the Wilson score 95% interval is [0.4902, 0.9433] (e.g. statsmodels'
    # proportion_confint(8, 10, method='wilson')).
    rate, low, high = wilson(8, 10)
    assert rate == 0.8 and round(low, 4) == 0.4902 and round(high, 4) == 0.9433
    # 0 of 10 and 10 of 10 stay inside [0, 1]; no data is the whole interval.
    assert wilson(0, 10)[1] == pytest.approx(0.0) and round(wilson(0, 10)[2], 4) == 0.2775
    assert wilson(10, 10)[2] == 1.0
    assert wilson(0, 0) == (0.5, 0.0, 1.0)
    # A tie counts one half: 5 wins and 10 ties of 20 is a rate of exactly one half.
    assert wilson(5 + 10 / 2, 20)[0] == 0.5


def test_paired_bootstrap_of_a_known_sample():
    # Five differences of 0 and five of 1: the bootstrap mean is Binomial(10, 1/2) / 10,
    # whose 2.5% and 97.5% quantiles are exactly 0.2 and 0.8.
    interval = paired_mean_diff([0.0] * 5 + [1.0] * 5, seed=0)
    assert (interval.mean, interval.low, interval.high, interval.n) == (0.5, 0.2, 0.8, 10)
    # No spread, no width; one item, no interval at all.
    constant = paired_mean_diff([0.3] * 8, seed=0)
    assert constant.low == constant.high == pytest.approx(0.3)
    single = paired_mean_diff([0.3], seed=0)
    assert single.low is None and single.high is None and single.n == 1
    # Seeded: the same items give the same interval; resampling keeps pairs whole.
    diffs = [random.Random(1).gauss(0.1, 0.5) for _ in range(30)]
    assert paired_mean_diff(diffs, seed=7) == paired_mean_diff(diffs, seed=7)
    ratio = bootstrap([(2, 1)] * 6, lambda items: sum(a for a, _ in items) / sum(b for _, b in items), seed=0)
    assert ratio.low == ratio.high == 2.0


def test_bootstrap_interval_covers_like_a_95_percent_interval():
    # 200 samples of 40 normal differences with mean 0.2: about 95% of intervals hold 0.2.
    rng = random.Random(3)
    covered = 0
    for seed in range(200):
        interval = paired_mean_diff([rng.gauss(0.2, 1.0) for _ in range(40)], seed=seed)
        covered += interval.low <= 0.2 <= interval.high
    assert 0.88 <= covered / 200 <= 0.99


def test_items_needed_is_the_normal_approximation():
    diffs = [0.1, 0.5, -0.3, 0.3, 0.2, -0.2]  # mean 0.1, sd 0.3033
    sd = 0.30331501776206204
    expected = math.ceil(((1.959964 + 0.841621) * sd / 0.1) ** 2)
    assert items_needed(diffs, 0.0) == expected == 73
    assert items_needed([0.2] * 5, 0.0) is None  # no spread: nothing to size
    assert items_needed([0.2], 0.0) is None


# -- the decision ----------------------------------------------------------------------------


STRUCTURE = load_structure(EXAMPLES / "coral-thermal.yaml")
EMPTY = Draft(abstract="", introduction=[])


def scored(rewards, closure=0.8, unsupported=0, words=500) -> list[Scored]:
    listify = lambda v: v if isinstance(v, list) else [v] * len(rewards)  # noqa: E731
    return [
        Scored(structure=STRUCTURE, sample=i, draft=EMPTY, reward=r, closure=c, unsupported=u, role_order=0, words=w)
        for i, (r, c, u, w) in enumerate(zip(rewards, listify(closure), listify(unsupported), listify(words)))
    ]


def noise(n, sd, seed=0):
    rng = random.Random(seed)
    return [rng.gauss(0.0, sd) for _ in range(n)]


def compare(candidate, current, **settings):
    s = GateSettings(**settings)
    return paired_comparison(candidate, current, s, seed=0), s


def test_a_clear_paired_gain_is_promoted():
    base = noise(24, 0.6)  # a large spread between items, which pairing cancels
    m, s = compare(scored([b + 0.3 + e for b, e in zip(base, noise(24, 0.05, 1))]), scored(base))
    reward = m.comparison("reward")
    assert reward.diff.low > 0 and m.items == 24
    assert m.decision == "promoted" and all(c.outcome == "pass" for c in m.checks), reasons(m, s)


def test_too_few_items_is_inconclusive_and_says_how_many_are_needed():
    base = noise(4, 0.6)
    m, s = compare(scored([b + 0.3 for b in base]), scored(base))  # a perfect gain, but four items
    assert m.decision == "inconclusive" and m.needed >= s.min_items
    assert any("fewer than the 12 needed" in line for line in reasons(m, s))


def test_a_small_effect_in_noise_is_inconclusive_never_promoted():
    base = noise(24, 0.6)
    m, s = compare(scored([b + 0.02 + e for b, e in zip(base, noise(24, 0.4, 2))]), scored(base))
    reward = m.comparison("reward")
    assert reward.diff.low < 0 < reward.diff.high
    assert m.decision == "inconclusive" and m.needed > m.items
    assert f"about {m.needed} would be needed" in reasons(m, s)[-1]


def test_identical_writers_are_inconclusive():
    base = noise(16, 0.6)
    m, _ = compare(scored(base), scored(base))
    assert m.decision == "inconclusive"


@pytest.mark.parametrize("candidate_changes, failing", [
    ({"rewards": -0.3}, "reward"),
    ({"closure": 0.5}, "closure"),
    ({"unsupported": 2}, "unsupported"),
    ({"words": 800}, "length"),
    ({"words": 300}, "length"),
])
def test_each_rule_rejects_on_its_own(candidate_changes, failing):
    base = noise(20, 0.5)
    gain = candidate_changes.pop("rewards", 0.3)
    cand = scored([b + gain + e for b, e in zip(base, noise(20, 0.05, 4))], **candidate_changes)
    m, s = compare(cand, scored(base))
    failed = [c.name for c in m.checks if c.outcome == "fail"]
    assert m.decision == "rejected" and failed == [failing], reasons(m, s)


def test_a_minimum_effect_the_interval_does_not_clear_is_not_a_promotion():
    base = noise(24, 0.5)
    cand = scored([b + 0.1 + e for b, e in zip(base, noise(24, 0.05, 5))])
    assert compare(cand, scored(base))[0].decision == "promoted"
    assert compare(cand, scored(base), min_effect=0.5)[0].decision == "rejected"


def test_unpaired_drafts_are_refused():
    with pytest.raises(ValueError):
        compare(scored([0.1, 0.2]), scored([0.1, 0.2, 0.3]))


def test_held_out_drafts_are_kept_on_disk_and_redrafted_only_when_something_that_decides_them_changes(
    tmp_path, monkeypatch
):
    """A writer's held-out drafts are made once per (engine spec, weights, writer settings,
    seed, samples, structures); a new process reuses them, and the comparison is the same."""
    from contextlib import contextmanager

    from fakes import ScriptedEngine

    from conftest import EXAMPLES
    from paracycle.config import RunConfig
    from paracycle.eval import compare as compare_mod
    from paracycle.eval.compare import compare_policies
    from paracycle.eval.draft_cache import DraftCache
    from paracycle.eval.reward import RewardWeights
    from paracycle.loading import load_structure, structure_files
    from paracycle.registry import Policy

    loads = []

    @contextmanager
    def engine(run, policy, log):
        loads.append(policy.id)
        yield ScriptedEngine(continuation=f" Written by {policy.id}.")

    monkeypatch.setattr(compare_mod, "_engine", engine)
    structures = [load_structure(p) for p in structure_files([EXAMPLES])]
    adapter = tmp_path / "round-0001-lora"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights one")
    run, base = RunConfig(), Policy(id="base", base_model="embedded")
    candidate = Policy(id="round-0001", base_model="embedded", adapter=str(adapter))
    settings = GateSettings(samples=2, judge=False)

    def compare_once(seed=0, cache_dir=tmp_path / "eval-drafts"):
        return compare_policies(run, candidate, base, structures, settings, seed, RewardWeights(),
                                log=lambda _: None, cache=DraftCache(cache_dir))

    first = compare_once()
    assert loads == ["round-0001", "base"] and len(list((tmp_path / "eval-drafts").glob("*.json"))) == 2
    again = compare_once()  # as a new process would: nothing in memory
    assert loads == ["round-0001", "base"] and again == first
    compare_once(seed=1)  # another seed: other drafts
    assert loads[2:] == ["round-0001", "base"]
    (adapter / "adapter_model.safetensors").write_bytes(b"weights two")  # other weights, same path
    compare_once()
    assert loads[4:] == ["round-0001"]
