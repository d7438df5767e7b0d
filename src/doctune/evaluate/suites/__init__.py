"""The evaluation suites, one module per kind, registered here one line each."""

from __future__ import annotations

from doctune.evaluate.suites.base import Items, SuiteEnv, SuiteKind
from doctune.evaluate.suites.mmlu import MMLUKind
from doctune.evaluate.suites.qa import QAKind
from doctune.evaluate.suites.quiz import QuizKind
from doctune.evaluate.suites.registry import register, suite_kind, unregister
from doctune.foundation.suites import suite_info

register(QAKind(suite_info("train_qa"), split="train"))
register(QAKind(suite_info("test_qa"), split="test"))
register(QAKind(suite_info("rephrased_qa"), split=None))
register(QuizKind(suite_info("task")))
register(QuizKind(suite_info("task_prompted")))
register(MMLUKind(suite_info("mmlu")))

__all__ = ["Items", "SuiteEnv", "SuiteKind", "register", "suite_kind", "unregister"]
