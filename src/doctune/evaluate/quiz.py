"""The task suites: multiple-choice quizzes, without (`task`) and with (`task_prompted`) the
knowledge statement, in the talk's words.

The model answers in free text with its reasoning, as in the talk; the chosen letter is read by
doctune.evaluate.extraction (rules, and the judge model for what they cannot settle under
`evaluate.extraction: rules+model`). Correct is 1, anything else 0. A reply with no letter, or
naming two, is wrong and flagged (`extracted` is None), so a model that stops committing to an
answer shows up as such rather than as a model that got harder questions; a reply cut off at
the token limit is flagged `cut_off` apart from those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from doctune.evaluate.answer import Asker, PerItemSuite, item_result
from doctune.evaluate.extraction.model import ChoiceReader
from doctune.foundation.evalrecords import EvalItem, ItemResult, Variant
from doctune.models.base import Message
from doctune.models.client import ModelClient
from doctune.models.experiments import ModelRef
from doctune.prompts import PromptTemplate, load_prompt

PROMPTS = {"task": "quiz_task", "task_prompted": "quiz_task_prompted"}


def task_template(suite: str) -> PromptTemplate:
    return load_prompt(PROMPTS[suite])


def chance(item: EvalItem) -> float:
    """Score of a uniform guess on this item: 1 / number of options."""
    return 1.0 / len(item.options) if item.options else 0.0


def quiz_variables(item: EvalItem) -> dict[str, Any]:
    return {
        "question": item.question,
        "options": sorted((item.options or {}).items()),
        "knowledge": item.knowledge or "",
    }


def quiz_messages(asker: Asker, suite: str, item: EvalItem, variant: Variant) -> list[Message]:
    # Retrieval is by the question alone: the options hold three wrong answers by design.
    return asker.messages(task_template(suite), variant, item.question, **quiz_variables(item))


class QuizSuite(PerItemSuite):
    """A quiz suite; `reader` reads the chosen letter (rules only unless it has a judge)."""

    def __init__(
        self,
        name: str,
        asker: Asker,
        *,
        reader: ChoiceReader | None = None,
        on_item: Callable[[], None] | None = None,
    ) -> None:
        if name not in PROMPTS:
            raise ValueError(f"'{name}' is not a quiz suite ({', '.join(PROMPTS)})")
        self.name = name
        self.asker = asker
        self.reader = reader or ChoiceReader(None, "rules")
        self.on_item = on_item

    async def evaluate(
        self, model: ModelRef, client: ModelClient, items: list[EvalItem], variant: Variant
    ) -> list[ItemResult]:
        results = await super().evaluate(model, client, items, variant)
        return await self.reader.audited(results, {i.id: i for i in items})

    def messages(self, item: EvalItem, variant: Variant) -> list[Message]:
        return quiz_messages(self.asker, self.name, item, variant)

    async def _one(
        self, model: ModelRef, client: ModelClient, item: EvalItem, variant: Variant
    ) -> ItemResult:
        variables = quiz_variables(item)
        asked = self.asker.fit(
            client, task_template(self.name), variant, item.question, **variables
        )
        response = await self.asker.ask(client, asked)
        options = item.options or {}
        reading = await self.reader.read(item, response.text, response.finish_reason)
        letter = reading.letter
        self._ticked()
        return item_result(
            self.name,
            item,
            model,
            variant,
            asked,
            client,
            response,
            reference=f"{item.answer}. {options.get(item.answer or '', '')}".strip(),
            scores={"correct": float(letter is not None and letter == item.answer)},
            extracted=letter,
            extraction=reading.extraction,
            cut_off=response.finish_reason == "length",
        )
