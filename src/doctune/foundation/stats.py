"""Uncertainty for every number the table shows, and the talk's way of writing a change.

- A mean gets a percentile bootstrap 95 % interval (seeded: the same data give the same interval).
- A rate k/n gets a Wilson interval, which stays inside [0, 1] and behaves at k = 0 or k = n.
- Before/after is the PAIRED difference on the items both models answered: the item-to-item
  spread (some questions are just hard) cancels, so the interval is about the model, not the
  sample of questions.
- Judge agreement: Spearman on the scores, Cohen's kappa on binned scores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from doctune.foundation.evalrecords import Paired, SuiteScore

Z95 = 1.959963984540054
# Resampled means are drawn in blocks so a 14,000-question MMLU run needs little memory.
_BLOCK = 256


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float


def bootstrap_mean(
    values: Sequence[float], samples: int = 2000, seed: int = 0, level: float = 0.95
) -> Interval | None:
    """Mean with a percentile bootstrap interval; None for no values."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return None
    mean = float(data.mean())
    if data.size == 1 or np.all(data == data[0]):
        return Interval(mean, mean, mean)
    rng = np.random.default_rng(seed)
    means = np.empty(samples, dtype=np.float64)
    for start in range(0, samples, _BLOCK):
        stop = min(start + _BLOCK, samples)
        idx = rng.integers(0, data.size, size=(stop - start, data.size))
        means[start:stop] = data[idx].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(mean, float(low), float(high))


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion; None for n = 0."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_difference(
    before: Mapping[str, float],
    after: Mapping[str, float],
    versus: str,
    samples: int = 2000,
    seed: int = 0,
) -> Paired | None:
    """after - before on the items (ids) both have, with a bootstrap interval of the mean
    difference; None when they share no item. Items are taken in id order so the resampling
    does not depend on the order results arrived in."""
    common = sorted(set(before) & set(after))
    if not common:
        return None
    b = np.array([before[i] for i in common], dtype=np.float64)
    a = np.array([after[i] for i in common], dtype=np.float64)
    interval = bootstrap_mean(a - b, samples, seed)
    assert interval is not None
    return Paired(
        versus=versus,
        n=len(common),
        before=float(b.mean()),
        after=float(a.mean()),
        diff=interval.mean,
        ci_low=interval.low,
        ci_high=interval.high,
    )


def chance_centred(rate: float, chance: float) -> float:
    """0 at random guessing, 1 at perfect: a 4-option quiz answered at 25 % has learned nothing."""
    if chance >= 1:
        return float("nan")
    return (rate - chance) / (1 - chance)


# -- judge agreement ------------------------------------------------------------------------------
# Judge scores are means of three 0-10 integers; binning at 3.5 and 6.5 puts a rounded score in
# the bins 0-3, 4-6 and 7-10 (poor, partly right, good).
BIN_EDGES = (3.5, 6.5)


def bin_score(score: float, edges: Sequence[float] = BIN_EDGES) -> int:
    return int(np.searchsorted(np.asarray(edges), score, side="right"))


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation; None when undefined (fewer than 2 pairs, a constant side)."""
    if len(x) < 2 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    return float(sps.spearmanr(x, y).statistic)


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Cohen's kappa of two raters' categories; None for no items, 1.0 when chance agreement is
    total and they agree (both gave everything the same one category)."""
    if len(a) != len(b):
        raise ValueError("both raters must rate the same items")
    if not a:
        return None
    categories = sorted(set(a) | set(b))
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(categories), len(categories)), dtype=np.float64)
    for x, y in zip(a, b, strict=True):
        table[index[x], index[y]] += 1
    n = table.sum()
    observed = np.trace(table) / n
    expected = float((table.sum(axis=1) * table.sum(axis=0)).sum() / (n * n))
    if expected >= 1:
        return 1.0 if observed >= 1 else 0.0
    return float((observed - expected) / (1 - expected))


def agreement(first: Sequence[float], second: Sequence[float]) -> dict[str, float | None]:
    """Spearman, kappa on binned scores and the number of items both judges scored."""
    return {
        "agreement_n": float(len(first)),
        "agreement_spearman": spearman(first, second),
        "agreement_kappa": cohen_kappa(
            [bin_score(s) for s in first], [bin_score(s) for s in second]
        ),
    }


# -- the talk's form ------------------------------------------------------------------------------
def format_points(diff: float, scale: float) -> str:
    """A difference in percent of the metric's full scale: 1.43 on 0-10 is "+14.3 %"."""
    pct = diff / scale * 100
    if round(pct, 1) == 0:  # "-0.0 %" reads like a loss
        return "0.0 %"
    return f"{pct:+.1f} %"


def format_judge_change(before: float, after: float) -> str:
    """ "5.86 > 7.29 +14.3 %": judge means on 0-10, the change in points x 10."""
    return f"{before:.2f} > {after:.2f} {format_points(after - before, 10.0)}"


def format_rate_change(k_before: int, n_before: int, k_after: int, n_after: int) -> str:
    """ "58/87 > 50/87": success counts, as the talk writes quiz results."""
    return f"{k_before}/{n_before} > {k_after}/{n_after}"


def format_percent_change(before: float, after: float) -> str:
    """ "56.0 > 51.8 -4.2 %": rates (0-1) in percent, the change in percentage points (MMLU)."""
    return f"{before * 100:.1f} > {after * 100:.1f} {format_points(after - before, 1.0)}"


def talk_form(
    before: SuiteScore | None,
    after: SuiteScore,
    means: tuple[float | None, float | None] | None = None,
) -> str:
    """One cell of the talk's table: "5.86 > 7.29 +14.3 %", "58/87 > 50/87", "56.0 > 51.8 -4.2 %".

    `means` (before, after) replaces the rows' own means, as paired means over the items both
    rows answered do; success counts missing from a row are then the rounded share of its n."""
    b_mean, a_mean = means or (before.mean if before else None, after.mean)
    if b_mean is None or a_mean is None:
        return "n/a"
    if after.metric == "judge":
        return format_judge_change(b_mean, a_mean)
    if after.metric == "success_rate" and before is not None:
        return format_rate_change(
            before.successes if before.successes is not None else round(b_mean * before.n),
            before.n,
            after.successes if after.successes is not None else round(a_mean * after.n),
            after.n,
        )
    return format_percent_change(b_mean, a_mean)
