"""Is writer A better than writer B? A paired comparison on held-out structures, with intervals.

The round's gate and `paracycle eval` both call `compare_policies` (one code path).

Both writers draft every structure `samples` times with the same per-(structure, sample)
seeds, so each (structure, seed) is one paired item and the structure's own difficulty
cancels out of every difference. For the structural reward, closure, unsupported claims per
draft and words, the comparison reports the mean paired difference (candidate - current) and
its 95% paired-bootstrap interval (seeded: the same drafts give the same interval); the model
judge, when on, gives a win rate with its Wilson interval.

The decision has three outcomes, and each rule has three:
- the reward must be better by at least `min_effect`: pass when the interval's lower bound
  clears it, fail when its upper bound does not reach it, unsure otherwise;
- each guarded metric (closure, unsupported claims, length, the judge) may not be worse
  than its allowed drop: fail when the whole interval is beyond it (the evidence shows a
  loss), unsure when the mean is beyond it but the interval is not, pass otherwise;
- any fail: `rejected`; every rule passes: `promoted`; otherwise `inconclusive`, with the
  number of paired items the reward comparison would need at the spread seen. Fewer items
  than `min_items` is always `inconclusive`: a bootstrap of a handful of items is too narrow.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from statistics import fmean

from pydantic import Field

from paracycle.agents.writer import draft_together
from paracycle.config import RunConfig
from paracycle.engines.base import Engine
from paracycle.eval.draft_cache import DraftCache
from paracycle.eval.judge import judge_pairs
from paracycle.eval.reward import RewardWeights, score_draft
from paracycle.eval.structural import check_structure_draft
from paracycle.metrics import GateCheck, GateMetrics, Interval, MetricComparison, WinRate, WriterMetrics
from paracycle.models import load_engine
from paracycle.registry import Policy
from paracycle.schemas import ArgumentStructure, Draft, SamplingParams, Strict
from paracycle.settings import CycleConfiguration, sample_seed
from paracycle.stats import bootstrap, items_needed, paired_mean_diff, wilson

Log = Callable[[str], None]


class GateSettings(Strict):
    samples: int = Field(default=4, ge=1, description="drafts per held-out structure and writer (paired by seed)")
    min_items: int = Field(default=12, ge=2, description="fewer paired items than this: inconclusive")
    min_effect: float = Field(default=0.0, description="the reward interval's lower bound must exceed this")
    max_closure_drop: float = Field(default=0.05, ge=0, description="closure rate, mean paired difference")
    max_unsupported_rise: float = Field(default=0.25, ge=0, description="unsupported claims per draft")
    max_length_drift: float = Field(default=0.25, ge=0, description="|candidate words / current words - 1|")
    judge: bool = Field(default=True, description="also ask the base model which draft is better (both orders)")
    min_win_rate: float = Field(default=0.5, ge=0, le=1, description="judge: wins + ties/2 over comparisons")
    judge_max_new_tokens: int = Field(default=96, ge=16)
    batch: int = Field(default=8, ge=1, description="drafts per engine call")


@dataclass
class Scored:
    """One draft and what the structural check made of it."""

    structure: ArgumentStructure
    sample: int
    draft: Draft
    reward: float
    closure: float | None
    unsupported: int
    role_order: int
    words: int


# -- drafting -------------------------------------------------------------------------------


def draft_all(
    engine: Engine, structures: list[ArgumentStructure], cycle: CycleConfiguration, samples: int, seed: int,
    batch: int = 8, on_draft: Callable[[], None] | None = None,
) -> list[tuple[ArgumentStructure, int, Draft]]:
    """Every structure x sample, in that order, `batch` drafts per engine call. No threads: the
    batches are the same for both writers, so a same-seed pair differs only by the writer."""
    items = [(s, k) for s in structures for k in range(samples)]
    out = []
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        settings = [cycle.with_seed(sample_seed(seed, s.content_hash(), k)).writer for s, k in chunk]
        for (structure, k), draft in zip(chunk, draft_together(engine, list(zip((s for s, _ in chunk), settings)))):
            out.append((structure, k, draft))
            if on_draft is not None:
                on_draft()
    return out


def score_all(drafts, cycle: CycleConfiguration, weights: RewardWeights) -> list[Scored]:
    out = []
    for structure, k, draft in drafts:
        check = check_structure_draft(structure, draft, cycle.lengths)
        out.append(Scored(
            structure=structure, sample=k, draft=draft,
            reward=score_draft(structure, draft, check, None, weights).structural,
            closure=check.closure_rate,
            unsupported=len(check.unsupported_claims),
            role_order=len(check.role_order_violations),
            words=check.length.abstract_words + check.length.introduction_words,  # counted by the check
        ))
    return out


def writer_metrics(scored: list[Scored]) -> WriterMetrics:
    closures = [s.closure for s in scored if s.closure is not None]
    return WriterMetrics(
        reward=round(fmean(s.reward for s in scored), 4),
        closure=round(fmean(closures), 4) if closures else None,
        unsupported=round(fmean(s.unsupported for s in scored), 4),
        role_order=round(fmean(s.role_order for s in scored), 4),
        words=round(fmean(s.words for s in scored), 1),
        drafts=len(scored),
    )


# -- the comparison ---------------------------------------------------------------------------


def _compare(metric: str, higher_is_better: bool, pairs: list[tuple[float, float]], seed: int,
             threshold: float) -> MetricComparison | None:
    if not pairs:
        return None
    diffs = [a - b for a, b in pairs]
    return MetricComparison(
        metric=metric, higher_is_better=higher_is_better,
        candidate=round(fmean(a for a, _ in pairs), 4), current=round(fmean(b for _, b in pairs), 4),
        diff=_rounded(paired_mean_diff(diffs, seed)),
        needed=items_needed(diffs, threshold),
    )


def _rounded(i: Interval) -> Interval:
    r = lambda v: None if v is None else round(v, 4)  # noqa: E731
    return Interval(mean=round(i.mean, 4), low=r(i.low), high=r(i.high), n=i.n)


def _length_drift(pairs: list[tuple[int, int]], seed: int) -> Interval:
    """candidate words / current words - 1, the ratio of the means, resampled by item."""
    def drift(items):
        return sum(a for a, _ in items) / max(sum(b for _, b in items), 1) - 1.0
    return _rounded(bootstrap(pairs, drift, seed))


def paired_comparison(
    candidate: list[Scored], current: list[Scored], settings: GateSettings, seed: int, judge: Engine | None = None,
) -> GateMetrics:
    """candidate[i] and current[i] must be the same (structure, sample)."""
    for a, b in zip(candidate, current, strict=True):
        if a.sample != b.sample or a.structure.content_hash() != b.structure.content_hash():
            raise ValueError("the two writers' drafts are not paired by structure and sample")
    pairs = list(zip(candidate, current))
    comparisons = [
        _compare("reward", True, [(a.reward, b.reward) for a, b in pairs], seed, settings.min_effect),
        _compare("closure", True, [(a.closure, b.closure) for a, b in pairs
                                   if a.closure is not None and b.closure is not None], seed + 1,
                 -settings.max_closure_drop),
        _compare("unsupported", False, [(a.unsupported, b.unsupported) for a, b in pairs], seed + 2,
                 settings.max_unsupported_rise),
        _compare("words", True, [(a.words, b.words) for a, b in pairs], seed + 3, 0.0),
    ]
    drift = _length_drift([(a.words, b.words) for a, b in pairs], seed + 4)
    metrics = GateMetrics(
        candidate=writer_metrics(candidate), current=writer_metrics(current), items=len(pairs),
        comparisons=[c for c in comparisons if c is not None],
        length_drift=drift.mean, length_drift_interval=drift,
    )
    if judge is not None:
        items = [(a.structure, a.sample, a.draft, b.draft) for a, b in pairs]
        sampling = SamplingParams(temperature=0.0, max_new_tokens=settings.judge_max_new_tokens)
        metrics.judgements = judge_pairs(judge, items, sampling)
        wins = sum(j.outcome == "candidate" for j in metrics.judgements)
        losses = sum(j.outcome == "current" for j in metrics.judgements)
        ties = len(metrics.judgements) - wins - losses
        rate, low, high = wilson(wins + ties / 2, len(metrics.judgements))
        metrics.judge = WinRate(rate=round(rate, 4), low=round(low, 4), high=round(high, 4),
                                wins=wins, losses=losses, ties=ties)
        metrics.win_rate, metrics.wins, metrics.losses, metrics.ties = metrics.judge.rate, wins, losses, ties
    metrics.checks = gate_checks(metrics, settings)
    metrics.decision, metrics.needed = decide(metrics, settings)
    return metrics


# -- the decision ------------------------------------------------------------------------------


def _interval_text(i: Interval) -> str:
    if i.low is None:
        return f"{i.mean:+.3f} (n={i.n}, no interval)"
    return f"{i.mean:+.3f} [{i.low:+.3f}, {i.high:+.3f}] (n={i.n})"


def _guard(name: str, mean: float, low: float | None, high: float | None, worst_allowed: float,
           higher_is_better: bool, text: str) -> GateCheck:
    """A metric that may not get worse than `worst_allowed` (a difference, or a drift bound)."""
    if higher_is_better:
        beyond_all = high is not None and high < worst_allowed
        beyond_mean = mean < worst_allowed
    else:
        beyond_all = low is not None and low > worst_allowed
        beyond_mean = mean > worst_allowed
    outcome = "fail" if beyond_all else "unsure" if beyond_mean else "pass"
    return GateCheck(name=name, outcome=outcome, text=text)


def gate_checks(m: GateMetrics, s: GateSettings) -> list[GateCheck]:
    checks = []
    reward = m.comparison("reward")
    if reward is not None:
        d = reward.diff
        outcome = ("pass" if d.low is not None and d.low > s.min_effect
                   else "fail" if d.high is not None and d.high < s.min_effect else "unsure")
        checks.append(GateCheck(name="reward", outcome=outcome, text=(
            f"structural reward {reward.candidate:.3f} vs {reward.current:.3f}: difference {_interval_text(d)}, "
            f"must exceed {s.min_effect:+.3f}")))
    closure = m.comparison("closure")
    if closure is not None:
        d = closure.diff
        checks.append(_guard("closure", d.mean, d.low, d.high, -s.max_closure_drop, True,
                             f"closure {closure.candidate:.2f} vs {closure.current:.2f}: difference "
                             f"{_interval_text(d)}, allowed drop {s.max_closure_drop:.2f}"))
    unsupported = m.comparison("unsupported")
    if unsupported is not None:
        d = unsupported.diff
        checks.append(_guard("unsupported", d.mean, d.low, d.high, s.max_unsupported_rise, False,
                             f"unsupported claims per draft {unsupported.candidate:.2f} vs {unsupported.current:.2f}: "
                             f"difference {_interval_text(d)}, allowed rise {s.max_unsupported_rise:.2f}"))
    drift = m.length_drift_interval
    if drift is not None:
        text = f"length drift {_interval_text(drift)}, allowed ±{s.max_length_drift:.0%}"
        longer = _guard("length", drift.mean, drift.low, drift.high, s.max_length_drift, False, text)
        shorter = _guard("length", drift.mean, drift.low, drift.high, -s.max_length_drift, True, text)
        checks.append(longer if longer.outcome != "pass" else shorter)
    if m.judge is not None:
        j = m.judge
        checks.append(_guard("judge", j.rate, j.low, j.high, s.min_win_rate, True,
                             f"judge win rate {j.rate:.2f} [{j.low:.2f}, {j.high:.2f}] (wins {j.wins}, losses "
                             f"{j.losses}, ties {j.ties}), must reach {s.min_win_rate:.2f}"))
    return checks


def decide(m: GateMetrics, s: GateSettings) -> tuple[str, int | None]:
    """(decision, paired items the reward comparison would need when inconclusive)."""
    reward = m.comparison("reward")
    needed = reward.needed if reward is not None else None
    if m.items < s.min_items:
        return "inconclusive", max(needed or 0, s.min_items)
    outcomes = {c.outcome for c in m.checks}
    if "fail" in outcomes:
        return "rejected", None
    if outcomes == {"pass"} and reward is not None:
        return "promoted", None
    return "inconclusive", needed


def reasons(m: GateMetrics, s: GateSettings) -> list[str]:
    """One line per rule, then the decision in words."""
    lines = [f"{c.outcome.upper() if c.outcome != 'pass' else 'pass'}: {c.text}" for c in m.checks]
    if m.decision == "inconclusive":
        why = (f"{m.items} paired items, fewer than the {s.min_items} needed to decide"
               if m.items < s.min_items else f"{m.items} paired items do not settle it")
        more = f"; about {m.needed} would be needed at the spread seen" if m.needed else ""
        lines.append(f"inconclusive: {why}{more}")
    return lines


# -- two writers, end to end ------------------------------------------------------------------


@contextmanager
def _engine(run: RunConfig, policy: Policy | None, log: Log):
    """An engine for a writer policy (None: the base model, as the judge)."""
    spec = policy.writes(run).writer if policy else run.reviewer_spec()
    engine = load_engine(spec, log=log)
    try:
        yield engine
    finally:
        engine.close()


def compare_policies(
    run: RunConfig, candidate: Policy, current: Policy, structures: list[ArgumentStructure],
    settings: GateSettings, seed: int, weights: RewardWeights, log: Log = print,
    on_draft: Callable[[], None] | None = None, drafted: dict | None = None, cache: DraftCache | None = None,
) -> GateMetrics:
    """Load each writer in turn (one engine in memory at a time), draft, score, compare.
    `drafted`: a cache the caller keeps across comparisons on the same structures and seed
    (a learning curve compares every round with the same base drafts); `cache`: the same on
    disk, across processes (a round's current writer was drafted by the round that made it)."""
    cycle = run.cycle
    scored = {}
    for name, policy in (("candidate", candidate), ("current", current)):
        key = (policy.id, policy.adapter, policy.model, seed, settings.samples, tuple(s.content_hash() for s in structures))
        if drafted is not None and key in drafted:
            scored[name] = drafted[key]
            continue
        disk_key = cache.key(run, policy, seed, settings.samples, settings.batch, structures) if cache else None
        drafts = cache.get(disk_key, structures) if cache else None
        if drafts is not None:
            log(f"eval: {name} {policy.id}: its {len(drafts)} held-out drafts were made before, reused")
        else:
            log(f"eval: {name} {policy.id} drafts {len(structures)} structures x {settings.samples}")
            with _engine(run, policy, log) as engine:
                drafts = draft_all(engine, structures, cycle, settings.samples, seed, settings.batch, on_draft)
            if cache:
                cache.put(disk_key, drafts)
        scored[name] = score_all(drafts, cycle, weights)
        if drafted is not None:
            drafted[key] = scored[name]
    if not settings.judge:
        return paired_comparison(scored["candidate"], scored["current"], settings, seed)
    with _engine(run, None, log) as judge:
        return paired_comparison(scored["candidate"], scored["current"], settings, seed, judge)
