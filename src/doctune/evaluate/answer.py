"""Asking the model under test: one place for the system prompt, the RAG context and the usage
booked on every item, so every suite asks the same way and only its user prompt differs."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from doctune.aio import gather_all
from doctune.evaluate.base import EvalItem, ItemResult, Variant
from doctune.evaluate.rag import Retriever, with_context
from doctune.models.base import ChatRequest, ChatResponse, GenerationParams, Message
from doctune.models.client import ModelClient, cost_of
from doctune.prompts import PromptTemplate
from doctune.train.experiments import ModelRef

T = TypeVar("T")


@dataclass
class Asker:
    """How the model under test is asked.

    `system_prompt` is the export's, so a fine-tuned model is asked the way it was trained;
    answers are greedy (temperature 0) so a rerun and another model get comparable answers.
    """

    system_prompt: str
    max_tokens: int
    retriever: Retriever | None = None
    k: int = 3

    def messages(
        self, template: PromptTemplate, variant: Variant, query: str, **variables: Any
    ) -> list[Message]:
        """The template's messages; for `rag`, the user message gains the retrieved context."""
        messages = template.render(system_prompt=self.system_prompt, **variables)
        if variant != "rag":
            return messages
        if self.retriever is None:
            raise ValueError("the rag variant needs a retriever over the chunks")
        context = self.retriever.search(query, self.k)
        last = messages[-1]
        return [
            *messages[:-1],
            last.model_copy(update={"content": with_context(last.content, context)}),
        ]

    def request(self, client_defaults: GenerationParams, messages: list[Message]) -> ChatRequest:
        """The exact request `ask` sends (for dry-run cache checks)."""
        params = client_defaults.model_copy(
            update={"temperature": 0.0, "max_tokens": self.max_tokens}
        )
        return ChatRequest(messages=tuple(messages), params=params)

    async def ask(self, client: ModelClient, messages: list[Message]) -> ChatResponse:
        return await client.chat(messages, temperature=0.0, max_tokens=self.max_tokens)


def usage_fields(client: ModelClient, response: ChatResponse) -> dict[str, Any]:
    """What an ItemResult records of the answering call (a cached call keeps its original
    usage and cost: the record says what producing it cost)."""
    return {
        "latency_s": response.latency_s,
        "prompt_tokens": response.usage.prompt_tokens,
        "completion_tokens": response.usage.completion_tokens,
        "cost_usd": cost_of(client.settings, response),
    }


def user_prompt(messages: list[Message]) -> str:
    """What the item shows as its prompt: the user message (the system prompt is the same for
    every item and recorded in the config)."""
    return messages[-1].content


def item_result(
    suite: str,
    item: EvalItem,
    model: ModelRef,
    variant: Variant,
    messages: list[Message],
    client: ModelClient,
    response: ChatResponse,
    **scored: Any,
) -> ItemResult:
    """An ItemResult with what every suite records the same way; `scored` adds the suite's own
    fields (reference, scores, judges, extracted letter, exclusion)."""
    return ItemResult(
        item_id=item.id,
        suite=suite,
        dataset=item.dataset,
        variant=variant,
        model=model.label,
        spec=model.spec,
        question=item.question,
        prompt=user_prompt(messages),
        answer=response.text,
        **usage_fields(client, response),
        **scored,
    )


class PerItemSuite(abc.ABC):
    """A suite that answers its items one by one, concurrently: subclasses give `_one`."""

    name: str
    on_item: Callable[[], None] | None

    async def evaluate(
        self, model: ModelRef, client: ModelClient, items: list[EvalItem], variant: Variant
    ) -> list[ItemResult]:
        return await gather_all(self._one(model, client, i, variant) for i in items)

    @abc.abstractmethod
    async def _one(
        self, model: ModelRef, client: ModelClient, item: EvalItem, variant: Variant
    ) -> ItemResult:
        """One item answered and scored."""

    def _ticked(self) -> None:
        if self.on_item is not None:
            self.on_item()
