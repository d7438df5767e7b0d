"""What every evaluation suite is, as data: its results-table column, its metric, which rows and
variants it has. The evaluate stage runs suites and the report prints them, and stages do not
import each other, so the description both read lives here; the config checks suite names
against it too.

The built-in suites are described below. A new suite registers its description through the
evaluate stage's suite registry (`doctune.evaluate.suites.register`), which calls `describe`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from doctune.foundation.errors import ConfigError

Metric = Literal["judge", "success_rate", "accuracy"]
# Metrics that are k/n with a Wilson interval and a chance level; "judge" is a 0-10 mean.
RATE_METRICS: frozenset[str] = frozenset({"success_rate", "accuracy"})


@dataclass(frozen=True)
class SuiteInfo:
    """One suite as the plan, the scoring and the report see it.

    - judged: an LLM judge scores the answers (the stage makes judges only if a judged suite runs);
    - per_dataset: items come per QA dataset, so the table has a row per dataset and a fine-tuned
      model answers only the dataset it was trained on; otherwise one score fills every row;
    - choice: multiple choice, a letter read from each reply ("no letter" counted as wrong);
    - plain_only: no retrieval variant (MMLU measures general knowledge; domain passages blur it);
    - sample_rank: the report shows before/after sample answers from the lowest-ranked suite a
      fine-tuned model has; None: never sampled (its answer files are not even read);
    - source: what is missing when the suite has nothing to ask ("no <source> to ask");
    - absent_note: the report's note when no model was scored on it.
    """

    name: str
    column: str
    metric: Metric
    judged: bool = False
    per_dataset: bool = False
    choice: bool = False
    plain_only: bool = False
    sample_rank: int | None = None
    source: str = "records"
    absent_note: str | None = None


# The talk's columns, in its order (the report's column order is this registry's order).
BUILTIN: tuple[SuiteInfo, ...] = (
    SuiteInfo("train_qa", "train set QA", "judge", judged=True, per_dataset=True, sample_rank=2),
    SuiteInfo("test_qa", "test set QA", "judge", judged=True, per_dataset=True, sample_rank=0),
    SuiteInfo(
        "rephrased_qa",
        "test with rephrased QA",
        "judge",
        judged=True,
        per_dataset=True,
        sample_rank=1,
    ),
    SuiteInfo("task", "Task", "success_rate", choice=True, source="quizzes"),
    SuiteInfo("task_prompted", "Task + prompting", "success_rate", choice=True, source="quizzes"),
    SuiteInfo(
        "mmlu",
        "Task (MMLU)",
        "accuracy",
        choice=True,
        plain_only=True,
        source="MMLU",
        absent_note="MMLU was not evaluated (no MMLU folder: set MMLU_DIR or evaluate.mmlu.dir), "
        "so forgetting is not measured.",
    ),
)
DEFAULT_SUITES: tuple[str, ...] = tuple(s.name for s in BUILTIN)

_SUITES: dict[str, SuiteInfo] = {s.name: s for s in BUILTIN}


def describe(info: SuiteInfo) -> None:
    """Make a suite known by name (to the config, the plan and the report)."""
    _SUITES[info.name] = info


def forget(name: str) -> None:
    """Remove a described suite (a test's toy suite, after the test)."""
    _SUITES.pop(name, None)


def known_suites() -> list[str]:
    return list(_SUITES)


def all_suites() -> list[SuiteInfo]:
    """Every described suite, in column order."""
    return list(_SUITES.values())


def unknown_suite_message(name: str) -> str:
    """ "unknown suite 'tsk' (known: ...); did you mean 'task'?" """
    close = difflib.get_close_matches(name, known_suites(), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown suite '{name}' (known: {', '.join(known_suites())}){hint}"


def suite_info(name: str) -> SuiteInfo:
    """The description of a suite; a ConfigError with one line naming the known ones."""
    info = _SUITES.get(name)
    if info is None:
        raise ConfigError(unknown_suite_message(name))
    return info


def find_suite(name: str) -> SuiteInfo | None:
    """The description of a suite, or None for a name no longer described (an old scores file)."""
    return _SUITES.get(name)
