"""What a cell's number is made of, in words: how many items it counts, which were left out and
why, which replies count as wrong without naming an answer, and how quiz letters were read.

Two kinds of count, never mixed up: an *excluded* item was not measured (its prompt did not fit,
the model call failed, the judge could not say) and is left out of the mean; a *cut off* or *no
letter* reply was asked and counts as wrong, shown apart so a too-small token budget is not read
as a weak model.
"""

from __future__ import annotations

import math

from doctune.foundation.evalrecords import EXCLUSION_LABELS, SuiteScore
from doctune.foundation.suites import RATE_METRICS

OTHER_EXCLUSIONS = {"unscored": "not scored"}


def _count(value: float | None) -> int:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0
    return round(value)


def exclusion_label(kind: str) -> str:
    return EXCLUSION_LABELS.get(kind) or OTHER_EXCLUSIONS.get(kind, kind.replace("_", " "))


def exclusion_parts(s: SuiteScore) -> list[str]:
    """ "2 judge failed", "1 prompt exceeds context"; what the kinds do not explain, as "other"."""
    parts = []
    for kind, k in sorted(s.exclusions.items(), key=lambda kv: (-kv[1], kv[0])):
        if k:
            parts.append(f"{k} {exclusion_label(kind)}")
    unexplained = s.excluded - sum(s.exclusions.values())
    if unexplained > 0:
        parts.append(f"{unexplained} other" if parts else f"{unexplained} (reason not recorded)")
    return parts


def counted_line(s: SuiteScore) -> str:
    """ "n=25, 3 excluded: 2 judge failed, 1 prompt exceeds context", or "n=25, 0 excluded"."""
    if not s.excluded:
        return f"n={s.n}, 0 excluded"
    return f"n={s.n}, {s.excluded} excluded: " + ", ".join(exclusion_parts(s))


def wrong_line(s: SuiteScore) -> str:
    """Replies asked and counted as wrong (quizzes, MMLU), or judged as they stand (QA)."""
    cut_off = _count(s.extra.get("cut_off"))
    if s.metric not in RATE_METRICS:
        return f"{cut_off} cut off (judged as written)" if cut_off else ""
    no_letter = _count(s.extra.get("no_letter"))
    parts = [f"{cut_off} cut off"] if cut_off else []
    if no_letter:
        parts.append(f"{no_letter} no letter")
    return "counted wrong: " + ", ".join(parts) if parts else ""


def extraction_line(s: SuiteScore) -> str:
    """ "letters: 92 by rules, 8 by the judge model; agreement 19/20 on an audited sample".

    `extraction_agreement` is the share (0-1) of the audited replies the judge model read as
    the rules did; the line gives it as a count of `extraction_audited`."""
    by_rules, by_model = s.extra.get("by_rules"), s.extra.get("by_model")
    if by_rules is None and by_model is None:
        return ""
    audited, share = _count(s.extra.get("extraction_audited")), s.extra.get("extraction_agreement")
    line = f"letters: {_count(by_rules)} by rules"
    if _count(by_model) or audited:  # rules-only runs record 0 by the model: say nothing
        line += f", {_count(by_model)} by the judge model"
    if audited and share is not None:
        line += f"; agreement {_count(share * audited)}/{audited} on an audited sample"
    return line


def cell_lines(s: SuiteScore) -> list[str]:
    """The count lines of one cell, the empty ones left out."""
    return [line for line in (counted_line(s), wrong_line(s), extraction_line(s)) if line]


def csv_fields(scores: list[SuiteScore]) -> list[str]:
    """One `excluded_<kind>` column per kind any score has, for results.csv."""
    kinds = sorted({k for s in scores for k in s.exclusions})
    return [f"excluded_{k}" for k in kinds]
