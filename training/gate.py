"""Does the candidate writer beat the current one? Measured on held-out structures only.

Both writers draft every held-out structure `samples` times with the same seeds. The reviewer
model judges each candidate/current pair in both orders (see `paracycle.eval.judge`), and
the deterministic structural check scores every draft (closure, unsupported claims, role
order, length, and the structural reward). The gate promotes only when the win rate reaches
its threshold and no structural metric or the mean length drifts past its limit.
"""

from __future__ import annotations

from statistics import mean

from pydantic import Field

from paracycle.agents.writer import Writer
from paracycle.engines.base import Engine
from paracycle.eval.judge import judge_pairs, win_rate
from paracycle.eval.structural import check_structure_draft, word_count
from paracycle.metrics import GateMetrics, WriterMetrics
from paracycle.schemas import ArgumentStructure, Draft, SamplingParams, Strict
from paracycle.settings import CycleConfiguration, sample_seed
from paracycle.training.reward import RewardWeights, score_draft


class GateSettings(Strict):
    samples: int = Field(default=2, ge=1, description="drafts per held-out structure and writer")
    min_win_rate: float = Field(default=0.55, ge=0, le=1, description="wins + ties/2 over comparisons")
    max_length_drift: float = Field(default=0.25, ge=0, description="|candidate words / current words - 1|")
    max_closure_drop: float = Field(default=0.05, ge=0)
    max_reward_drop: float = Field(default=0.0, ge=0, description="mean structural reward")
    judge_max_new_tokens: int = Field(default=96, ge=16)


def draft_all(
    engine: Engine, structures: list[ArgumentStructure], cycle: CycleConfiguration, samples: int, seed: int
) -> list[tuple[ArgumentStructure, int, Draft]]:
    out = []
    for structure in structures:
        for k in range(samples):
            settings = cycle.with_seed(sample_seed(seed, structure.content_hash(), k)).writer
            draft, _ = Writer(engine, settings).draft(structure)
            out.append((structure, k, draft))
    return out


def writer_metrics(drafts, cycle: CycleConfiguration, weights: RewardWeights) -> WriterMetrics:
    rewards, closures, unsupported, role_order, words = [], [], [], [], []
    for structure, _, draft in drafts:
        check = check_structure_draft(structure, draft, cycle.lengths)
        rewards.append(score_draft(structure, draft, check, None, weights).structural)
        if check.closure_rate is not None:
            closures.append(check.closure_rate)
        unsupported.append(len(check.unsupported_claims))
        role_order.append(len(check.role_order_violations))
        words.append(word_count(draft.abstract) + sum(word_count(p.text) for p in draft.introduction))
    return WriterMetrics(
        reward=round(mean(rewards), 4),
        closure=round(mean(closures), 4) if closures else None,
        unsupported=round(mean(unsupported), 4),
        role_order=round(mean(role_order), 4),
        words=round(mean(words), 1),
        drafts=len(drafts),
    )


def evaluate(
    candidate_drafts, current_drafts, judge: Engine, cycle: CycleConfiguration, weights: RewardWeights,
    settings: GateSettings,
) -> GateMetrics:
    items = [(s, k, cand, cur) for (s, k, cand), (_, _, cur) in zip(candidate_drafts, current_drafts)]
    judgements = judge_pairs(judge, items, SamplingParams(temperature=0.0, max_new_tokens=settings.judge_max_new_tokens))
    candidate = writer_metrics(candidate_drafts, cycle, weights)
    current = writer_metrics(current_drafts, cycle, weights)
    return GateMetrics(
        win_rate=round(win_rate(judgements), 4),
        wins=sum(j.outcome == "candidate" for j in judgements),
        losses=sum(j.outcome == "current" for j in judgements),
        ties=sum(j.outcome == "tie" for j in judgements),
        length_drift=round(candidate.words / max(current.words, 1.0) - 1.0, 4),
        candidate=candidate,
        current=current,
        judgements=judgements,
    )


def promotion_decision(metrics: GateMetrics, settings: GateSettings) -> tuple[bool, list[str]]:
    """(promote?, the reasons, one per check, each saying pass or fail with the numbers)."""
    m, cand, cur = metrics, metrics.candidate, metrics.current
    checks = [
        (m.win_rate >= settings.min_win_rate,
         f"win rate {m.win_rate:.2f} (wins {m.wins}, losses {m.losses}, ties {m.ties}) "
         f"vs required {settings.min_win_rate:.2f}"),
        (abs(m.length_drift) <= settings.max_length_drift,
         f"length drift {m.length_drift:+.0%} vs allowed ±{settings.max_length_drift:.0%}"),
        (cand.reward >= cur.reward - settings.max_reward_drop,
         f"structural reward {cand.reward:.3f} vs current {cur.reward:.3f} (allowed drop {settings.max_reward_drop})"),
    ]
    if cand.closure is not None and cur.closure is not None:
        checks.append((
            cand.closure >= cur.closure - settings.max_closure_drop,
            f"closure {cand.closure:.2f} vs current {cur.closure:.2f} (allowed drop {settings.max_closure_drop})",
        ))
    reasons = [("pass: " if ok else "FAIL: ") + text for ok, text in checks]
    return all(ok for ok, _ in checks), reasons
