"""Statistics against known values: bootstrap coverage, Wilson, paired differences, Spearman and
kappa, and the talk's way of writing a change."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from doctune.foundation.evalrecords import SuiteScore
from doctune.foundation.stats import (
    agreement,
    bin_score,
    bootstrap_mean,
    chance_centred,
    cohen_kappa,
    format_judge_change,
    format_percent_change,
    format_rate_change,
    paired_difference,
    spearman,
    talk_form,
    wilson,
)


def test_bootstrap_interval_is_seeded_and_covers_the_mean() -> None:
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(100):
        data = rng.normal(5.0, 2.0, size=60)
        interval = bootstrap_mean(list(data), samples=500, seed=3)
        assert interval is not None and interval.low < interval.mean < interval.high
        assert interval.mean == pytest.approx(float(data.mean()))
        covered += interval.low <= 5.0 <= interval.high
    # A 95 % interval covers the true mean about 95 times in 100 (the percentile bootstrap runs
    # a little short at n = 60); far fewer would mean a broken interval.
    assert 85 <= covered <= 100
    data = list(rng.normal(0, 1, size=40))
    assert bootstrap_mean(data, 500, seed=7) == bootstrap_mean(data, 500, seed=7)
    # Width is about 2 x 1.96 x sd / sqrt(n).
    wide = bootstrap_mean(list(rng.normal(0, 1, size=400)), 2000, seed=1)
    assert wide is not None and wide.high - wide.low == pytest.approx(2 * 1.96 / 20, rel=0.15)


def test_bootstrap_edge_cases() -> None:
    assert bootstrap_mean([], 100) is None
    one = bootstrap_mean([7.0], 100)
    assert one is not None and (one.mean, one.low, one.high) == (7.0, 7.0, 7.0)
    same = bootstrap_mean([4.0] * 10, 100)
    assert same is not None and same.low == same.high == 4.0


def test_wilson_known_values() -> None:
    low, high = wilson(0, 10)  # type: ignore[misc]
    assert low == 0.0 and high == pytest.approx(1.959964**2 / (10 + 1.959964**2), abs=1e-6)
    low, high = wilson(50, 100)  # type: ignore[misc]
    assert (low, high) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))
    low, high = wilson(58, 87)  # type: ignore[misc]
    assert low < 58 / 87 < high and (low, high) == (
        pytest.approx(0.5621, abs=1e-3),
        pytest.approx(0.7571, abs=1e-3),
    )
    assert wilson(0, 0) is None


def test_paired_difference_uses_common_items_only() -> None:
    before = {"a": 4.0, "b": 5.0, "c": 6.0, "gone": 0.0}
    after = {"a": 6.0, "b": 7.0, "c": 8.0, "new": 10.0}
    paired = paired_difference(before, after, versus="base", samples=300, seed=0)
    assert paired is not None
    assert (paired.versus, paired.n) == ("base", 3)
    assert (paired.before, paired.after, paired.diff) == (5.0, 7.0, 2.0)
    assert paired.ci_low == paired.ci_high == 2.0  # every item moved by exactly 2
    noisy = paired_difference(
        {str(i): 5.0 for i in range(30)},
        {str(i): 5.0 + (1.0 if i % 3 else -1.0) for i in range(30)},
        versus="base",
        samples=1000,
        seed=0,
    )
    assert noisy is not None and noisy.diff == pytest.approx(1 / 3)
    assert noisy.ci_low < noisy.diff < noisy.ci_high
    assert paired_difference({"a": 1.0}, {"b": 2.0}, versus="x") is None


def test_spearman_matches_scipy_and_kappa_matches_hand_count() -> None:
    x = [1.0, 4.0, 2.0, 8.0, 5.0, 5.0]
    y = [2.0, 3.0, 1.0, 9.0, 7.0, 4.0]
    assert spearman(x, y) == pytest.approx(sps.spearmanr(x, y).statistic)
    assert spearman([1.0, 1.0], [2.0, 3.0]) is None
    # observed agreement 3/4; chance (2/4 * 1/4) + (2/4 * 3/4) = 1/2; kappa (3/4 - 1/2) / (1/2).
    assert cohen_kappa([0, 0, 1, 1], [0, 1, 1, 1]) == pytest.approx(0.5)
    assert cohen_kappa([0, 1, 2], [0, 1, 2]) == pytest.approx(1.0)
    assert cohen_kappa([0, 1, 0, 1], [1, 0, 1, 0]) == pytest.approx(-1.0)
    assert cohen_kappa([], []) is None
    with pytest.raises(ValueError):
        cohen_kappa([0], [0, 1])


def test_bins_and_agreement() -> None:
    assert [bin_score(s) for s in (0, 3.0, 3.34, 3.67, 6.33, 6.67, 10)] == [0, 0, 0, 1, 1, 2, 2]
    stats = agreement([9.0, 4.0, 2.0, 8.0], [8.0, 5.0, 1.0, 5.0])
    assert stats["agreement_n"] == 4.0
    assert stats["agreement_spearman"] == pytest.approx(
        sps.spearmanr([9, 4, 2, 8], [8, 5, 1, 5]).statistic
    )
    # bins: [2, 1, 0, 2] vs [2, 1, 0, 1]: po 3/4, pe (1/4*1/4)+(1/4*2/4)+(2/4*1/4) = 5/16.
    assert stats["agreement_kappa"] == pytest.approx((0.75 - 5 / 16) / (1 - 5 / 16))


def test_chance_centred() -> None:
    assert chance_centred(0.25, 0.25) == 0.0
    assert chance_centred(1.0, 0.25) == 1.0
    assert chance_centred(58 / 87, 0.25) == pytest.approx((58 / 87 - 0.25) / 0.75)
    assert math.isnan(chance_centred(1.0, 1.0))


def test_the_talks_format() -> None:
    assert format_judge_change(5.86, 7.29) == "5.86 > 7.29 +14.3 %"
    assert format_judge_change(4.40, 6.18) == "4.40 > 6.18 +17.8 %"
    assert format_judge_change(5.0, 5.0) == "5.00 > 5.00 0.0 %"
    assert format_rate_change(58, 87, 50, 87) == "58/87 > 50/87"
    assert format_percent_change(0.560, 0.518) == "56.0 > 51.8 -4.2 %"
    assert format_percent_change(0.203, 0.237) == "20.3 > 23.7 +3.4 %"


def _row(metric: str, mean: float, successes: int | None = None, n: int = 87) -> SuiteScore:
    return SuiteScore(
        model="m", spec="openai:m", kind="base", suite="x", metric=metric, n=n, mean=mean,
        successes=successes,
    )  # fmt: skip


def test_talk_form_dispatches_on_the_metric() -> None:
    assert talk_form(_row("judge", 5.86), _row("judge", 7.29)) == "5.86 > 7.29 +14.3 %"
    before, after = _row("success_rate", 58 / 87, 58), _row("success_rate", 50 / 87, 50)
    assert talk_form(before, after) == "58/87 > 50/87"
    assert talk_form(_row("accuracy", 0.56), _row("accuracy", 0.518)) == "56.0 > 51.8 -4.2 %"
    none = _row("judge", 1.0).model_copy(update={"mean": None})
    assert talk_form(none, _row("judge", 2.0)) == "n/a"
