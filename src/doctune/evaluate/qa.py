"""The QA suites (train_qa, test_qa, rephrased_qa): the model answers, the judge scores.

Per item: the answer, the judge's verdict(s) on the talk's rubric, and token F1 / ROUGE-L against
the reference. `scores["judge"]` is the first judge's mean of the three criteria (0-10), or its
overall rating when it gave only that, or None when its reply was unusable or its call failed;
then the item is `excluded` from the judge mean ("judge_failed"), with the reason. An answering
call that failed is excluded as "answer_failed" and not judged (PerItemSuite).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from doctune.evaluate.answer import Asker, PerItemSuite, item_result
from doctune.evaluate.judge import Judge
from doctune.evaluate.metrics import reference_scores
from doctune.foundation.evalrecords import EvalItem, ItemResult, Variant
from doctune.models.base import Message
from doctune.models.client import ModelClient
from doctune.models.experiments import ModelRef
from doctune.prompts import PromptTemplate, load_prompt

PROMPT = "answer_qa"


def answer_template() -> PromptTemplate:
    return load_prompt(PROMPT)


def qa_messages(asker: Asker, item: EvalItem, variant: Variant) -> list[Message]:
    return asker.messages(answer_template(), variant, item.question, question=item.question)


class QASuite(PerItemSuite):
    """A judged QA suite. `judges[0]` decides the score; a second judge only measures agreement."""

    def __init__(
        self,
        name: str,
        asker: Asker,
        judges: list[Judge],
        *,
        on_item: Callable[[], None] | None = None,
    ) -> None:
        if not judges:
            raise ValueError("a QA suite needs a judge")
        self.name = name
        self.asker = asker
        self.judges = judges
        self.on_item = on_item

    def messages(self, item: EvalItem, variant: Variant) -> list[Message]:
        return qa_messages(self.asker, item, variant)

    def _clients(self, client: ModelClient) -> list[ModelClient]:
        return [client, *(j.client for j in self.judges)]

    async def _one(
        self, model: ModelRef, client: ModelClient, item: EvalItem, variant: Variant
    ) -> ItemResult:
        asked = self.asker.fit(
            client, answer_template(), variant, item.question, question=item.question
        )
        response = await self.asker.ask(client, asked)
        reference = item.reference or ""
        verdicts = await asyncio.gather(
            *(j.verdict(item.question, reference, response.text) for j in self.judges)
        )
        first = verdicts[0]
        scores: dict[str, float | None] = {"judge": first.score}
        if len(verdicts) > 1:
            scores["judge_2"] = verdicts[1].score
        scores.update(reference_scores(response.text, reference))
        self._ticked()
        return item_result(
            self.name,
            item,
            model,
            variant,
            asked,
            client,
            response,
            reference=item.reference,
            scores=scores,
            judges=list(verdicts),
            excluded=f"judge: {first.error}" if first.error else None,
            exclusion="judge_failed" if first.error else None,
            cut_off=response.finish_reason == "length",
        )
