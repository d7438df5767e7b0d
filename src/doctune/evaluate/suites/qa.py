"""The judged QA suites: train_qa and test_qa ask a split of each QA dataset (did it learn, did
it generalise), rephrased_qa the reworded questions judged against the original's answer."""

from __future__ import annotations

from doctune.context import RunContext
from doctune.evaluate.answer import Asker
from doctune.evaluate.base import Suite
from doctune.evaluate.items import (
    qa_datasets,
    qa_item,
    rephrased_item,
    rephrased_records,
    sample,
    split_records,
)
from doctune.evaluate.qa import QASuite, answer_template, qa_messages
from doctune.evaluate.suites.base import Items, SuiteEnv, SuiteKind
from doctune.foundation.evalrecords import EvalItem, Variant
from doctune.foundation.suites import SuiteInfo
from doctune.models.base import Message
from doctune.prompts import PromptTemplate


class QAKind(SuiteKind):
    """A judged QA suite over one split of every QA dataset (`split`), or, with `split=None`,
    over the rephrased questions."""

    def __init__(self, info: SuiteInfo, split: str | None) -> None:
        self.info = info
        self.split = split

    def items(self, ctx: RunContext) -> Items | str:
        cfg = ctx.config.evaluate
        name = self.info.name
        out: Items = {}
        for recipe in qa_datasets(ctx):
            if self.split is None:
                found = sample(
                    rephrased_records(ctx, recipe), cfg.max_items, cfg.seed, name, recipe
                )
                chosen = [rephrased_item(r) for r in found]
            else:
                records = split_records(ctx, recipe, self.split)
                found_qa = sample(records, cfg.max_items, cfg.seed, name, recipe)
                chosen = [qa_item(name, r) for r in found_qa]
            if chosen:
                out[recipe] = chosen
        return out

    def runner(self, env: SuiteEnv) -> Suite:
        return QASuite(self.info.name, env.asker, env.judges, on_item=env.on_item)

    def messages(self, asker: Asker, item: EvalItem, variant: Variant) -> list[Message] | None:
        return qa_messages(asker, item, variant)

    def template(self) -> PromptTemplate | None:
        return answer_template()
