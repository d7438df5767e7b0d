"""The task suites: the multiple-choice quizzes without (task) and with (task_prompted) the
knowledge statement."""

from __future__ import annotations

from doctune.context import RunContext
from doctune.evaluate.answer import Asker
from doctune.evaluate.base import Suite
from doctune.evaluate.items import quiz_item, quiz_records, sample
from doctune.evaluate.quiz import QuizSuite, quiz_messages, task_template
from doctune.evaluate.suites.base import Items, SuiteEnv, SuiteKind
from doctune.foundation.evalrecords import EvalItem, Variant
from doctune.foundation.suites import SuiteInfo
from doctune.models.base import Message
from doctune.prompts import PromptTemplate


class QuizKind(SuiteKind):
    def __init__(self, info: SuiteInfo) -> None:
        self.info = info

    def items(self, ctx: RunContext) -> Items | str:
        cfg = ctx.config.evaluate
        # Both quiz suites draw the same sample (one key), so task and task_prompted pair up.
        chosen = sample(quiz_records(ctx), cfg.max_items, cfg.seed, "quiz")
        return {None: [quiz_item(self.info.name, r) for r in chosen]} if chosen else {}

    def runner(self, env: SuiteEnv) -> Suite:
        return QuizSuite(self.info.name, env.asker, reader=env.reader, on_item=env.on_item)

    def messages(self, asker: Asker, item: EvalItem, variant: Variant) -> list[Message] | None:
        return quiz_messages(asker, self.info.name, item, variant)

    def template(self) -> PromptTemplate | None:
        return task_template(self.info.name)
