"""Intervals for paired comparisons: a seeded paired bootstrap and the Wilson score interval.

Written here rather than taken from scipy: scipy's `bootstrap` would add a 40 MB dependency
for ten lines, and its BCa default is not what the gate documents. The percentile bootstrap
over paired items is the plain, well-known choice; it is seeded so a gate decision can be
reproduced exactly from the manifest.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from statistics import NormalDist, fmean, stdev

from paracycle.metrics import Interval

LEVEL = 0.95
RESAMPLES = 4000
# Power used when saying how many items a decision would need: 80% is the textbook default.
POWER = 0.8


def _z(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2)


def bootstrap(
    items: Sequence, statistic: Callable[[Sequence], float], seed: int,
    level: float = LEVEL, resamples: int = RESAMPLES,
) -> Interval:
    """Percentile bootstrap of `statistic` over `items`, resampled whole (pairs stay paired)."""
    n = len(items)
    if n == 0:
        raise ValueError("no items to bootstrap")
    point = statistic(items)
    if n == 1:  # one item says nothing about spread: no interval
        return Interval(mean=point, low=None, high=None, n=1)
    rng = random.Random(seed)
    stats = sorted(statistic([items[rng.randrange(n)] for _ in range(n)]) for _ in range(resamples))
    tail = (1 - level) / 2
    low = stats[int(math.floor(tail * (resamples - 1)))]
    high = stats[int(math.ceil((1 - tail) * (resamples - 1)))]
    return Interval(mean=point, low=low, high=high, n=n)


def paired_mean_diff(diffs: Sequence[float], seed: int, level: float = LEVEL) -> Interval:
    """Mean of candidate - current over paired items, with its bootstrap interval."""
    return bootstrap(list(diffs), fmean, seed, level)


def wilson(successes: float, n: int, level: float = LEVEL) -> tuple[float, float, float]:
    """(rate, low, high). `successes` may be fractional (a tie counts one half)."""
    if n == 0:
        return 0.5, 0.0, 1.0
    z = _z(level)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def items_needed(diffs: Sequence[float], threshold: float, level: float = LEVEL, power: float = POWER) -> int | None:
    """Paired items for a test at `level` to tell the observed mean difference from
    `threshold` with `power`, if the spread stays what it is now (normal approximation).
    None when there is no spread to go on or the mean sits on the threshold."""
    if len(diffs) < 2:
        return None
    sd, gap = stdev(diffs), abs(fmean(diffs) - threshold)
    if sd == 0 or gap == 0:
        return None
    return math.ceil(((_z(level) + NormalDist().inv_cdf(power)) * sd / gap) ** 2)
