"""Numbers as the report prints them, in one place so the table, the CSV and the plots agree
(the before/after strings themselves come from `doctune.foundation.stats`).

The talk's cells read "5.86 > 7.29 +14.3 %": judge means on the 0-10 scale, and the change in
percent of that scale (1.43 points of 10 is +14.3 %), not a relative change. Rates are written as
counts ("Success Rate: 58/87 > 50/87") and their changes in percentage points, so every "+x %" in
the report means the same thing: x percent of the full scale of its column.
"""

from __future__ import annotations

import math

from doctune.foundation.stats import format_points

JUDGE = "judge"


def scale_to_percent(metric: str) -> float:
    """What to multiply a value (or a difference) by to get percent of the metric's full scale."""
    return 10.0 if metric == JUDGE else 100.0


def value(metric: str, mean: float | None) -> str:
    """A mean as the talk prints it: 2 decimals on 0-10, one decimal in percent for rates."""
    if mean is None or math.isnan(mean):
        return "n/a"
    if metric == JUDGE:
        return f"{mean:.2f}"
    return f"{mean * 100:.1f}"


def change(metric: str, diff: float | None) -> str:
    """A difference in percent of the scale, signed: "+14.3 %", "-4.2 %"."""
    if diff is None or math.isnan(diff):
        return "n/a"
    return format_points(diff, 100.0 / scale_to_percent(metric))


def interval(metric: str, low: float | None, high: float | None) -> str:
    """A 95 % interval of a mean, in the units `value` prints."""
    if low is None or high is None:
        return ""
    unit = "" if metric == JUDGE else " %"
    return f"[{value(metric, low)}, {value(metric, high)}]{unit}"


def chance(metric: str, level: float | None) -> str:
    """The score of random guessing ("chance 25 %" for four options)."""
    if level is None:
        return ""
    if metric == JUDGE:
        return f"chance {level:.2f}"
    return f"chance {level * 100:.3g} %"


def change_interval(metric: str, low: float | None, high: float | None) -> str:
    """A 95 % interval of a difference, in the units `change` prints (signed, no % sign)."""
    if low is None or high is None:
        return ""
    factor = scale_to_percent(metric)
    return f"[{low * factor:+.1f}, {high * factor:+.1f}]"


def count(successes: int | None, n: int, mean: float | None = None) -> str:
    """k/n; k from the mean when the score carries no count (it is then exact up to rounding)."""
    if successes is None:
        if mean is None or n == 0:
            return f"?/{n}"
        successes = round(mean * n)
    return f"{successes}/{n}"


def money(usd: float | None) -> str:
    if usd is None:
        return ""
    if usd and abs(usd) < 0.01:
        return f"${usd:.4f}"
    return f"${usd:,.2f}"


def number(x: float | int | None, digits: int = 3) -> str:
    """A plain number for tables of hyperparameters and losses."""
    if x is None:
        return ""
    if isinstance(x, int):
        return f"{x:,}"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e6):
        return f"{x:.2e}"
    return f"{x:.{digits}g}" if abs(x) < 1 else f"{x:,.{digits}f}".rstrip("0").rstrip(".")


def seconds(s: float | None) -> str:
    if s is None:
        return ""
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"
