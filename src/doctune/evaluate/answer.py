"""Asking the model under test: one place for the system prompt, the RAG context, fitting the
prompt to the model's context and the usage booked on every item, so every suite asks the same
way and only its user prompt differs.

A prompt too long for the model is shortened before it is sent (doctune.models.fitting): the
lowest-ranked RAG passages go first, then the start of the prompt up to the question; each step
is recorded on the item. One that still does not fit is never sent: its item is excluded as
"prompt exceeds context" and counted in the table, and the other items go on.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from doctune.evaluate.rag import Retriever, with_context
from doctune.foundation.aio import gather_all
from doctune.foundation.evalrecords import EvalItem, ItemResult, Variant
from doctune.foundation.records import Chunk
from doctune.models.base import ChatRequest, ChatResponse, GenerationParams, Message
from doctune.models.client import CallFailed, ModelClient
from doctune.models.experiments import ModelRef
from doctune.models.fitting import EXCEEDS, Layout, Room, fit, left_cut
from doctune.models.usage import cost_of
from doctune.prompts import PromptTemplate

T = TypeVar("T")


@dataclass(frozen=True)
class Asked:
    """A prompt fitted to one model: the messages sent, the reply limit, how it was shortened;
    `excluded` says why it was not sent (then `messages` is the prompt as it would have been)."""

    messages: list[Message]
    max_tokens: int | None
    fitting: list[str]
    excluded: str | None = None


class PromptExceedsContext(Exception):
    """Raised by `Asker.ask` for a prompt that cannot fit; PerItemSuite records the item as
    excluded and goes on."""

    def __init__(self, asked: Asked) -> None:
        super().__init__(asked.excluded)
        self.asked = asked


class AnswerFailed(Exception):
    """Raised by `Asker.ask` when the answering call failed after the backend's retries with a
    transient error; PerItemSuite records the item as excluded ("answer_failed") and goes on."""

    def __init__(self, asked: Asked, reason: str) -> None:
        super().__init__(reason)
        self.asked = asked
        self.reason = reason


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
        layout = self.layout(template, variant, query, **variables)
        return layout.build(tuple(n for _, n in layout.groups), 0)

    def layout(
        self, template: PromptTemplate, variant: Variant, query: str, **variables: Any
    ) -> Layout:
        """How the prompt may shrink: passages from the last (lowest-ranked), then the user
        message from its start up to the question (`query`), never into it."""
        messages = template.render(system_prompt=self.system_prompt, **variables)
        passages = self._passages(variant, query)
        last = messages[-1]
        # The question and whatever follows it (options, an answer cue) always stay.
        keep_from = max(last.content.rfind(query), 0) if query else 0

        def build(keep: tuple[int, ...], cut: int) -> list[Message]:
            content = with_context(left_cut(last.content, cut), passages[: keep[0]])
            return [*messages[:-1], last.model_copy(update={"content": content})]

        return Layout(
            build=build,
            groups=(("passages", len(passages)),),
            cuttable=lambda keep: keep_from,
        )

    def _passages(self, variant: Variant, query: str) -> list[Chunk]:
        if variant != "rag":
            return []
        if self.retriever is None:
            raise ValueError("the rag variant needs a retriever over the chunks")
        return self.retriever.search(query, self.k)

    def fit(
        self,
        client: ModelClient,
        template: PromptTemplate,
        variant: Variant,
        query: str,
        **variables: Any,
    ) -> Asked:
        """The prompt fitted to the client's model (unchanged where it fits or the model's
        context is unknown, so such a request, and its cache key, is what it always was)."""
        layout = self.layout(template, variant, query, **variables)
        return fit_to(client, layout, self.max_tokens)

    def request(self, client_defaults: GenerationParams, messages: list[Message]) -> ChatRequest:
        """The exact request `ask` sends (for dry-run cache checks)."""
        params = client_defaults.model_copy(
            update={"temperature": 0.0, "max_tokens": self.max_tokens}
        )
        return ChatRequest(messages=tuple(messages), params=params)

    async def ask(self, client: ModelClient, asked: Asked | list[Message]) -> ChatResponse:
        """The model's answer to a fitted prompt; PromptExceedsContext for one not to send,
        AnswerFailed for a call that failed (see ModelClient.isolated)."""
        if isinstance(asked, list):  # a prompt built without fitting
            asked = Asked(asked, self.max_tokens, [])
        if asked.excluded is not None:
            raise PromptExceedsContext(asked)
        outcome = await client.isolated(
            client.chat(asked.messages, temperature=0.0, max_tokens=asked.max_tokens)
        )
        if isinstance(outcome, CallFailed):
            raise AnswerFailed(asked, outcome.reason)
        return outcome


def fit_to(client: ModelClient, layout: Layout, max_tokens: int) -> Asked:
    """A greedy prompt of `layout` with room for `max_tokens` (or down to the floor) in the
    client's model; see doctune.models.fitting."""
    params = client.defaults.model_copy(update={"temperature": 0.0, "max_tokens": max_tokens})
    request = ChatRequest(messages=(), params=params)
    fitted = fit(request, layout, Room.of(client.backend))
    if fitted.request is None:
        full = layout.build(tuple(n for _, n in layout.groups), 0)
        return Asked(full, max_tokens, list(fitted.steps), fitted.excluded)
    return Asked(fitted.messages, fitted.request.params.max_tokens, list(fitted.steps))


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


def _common(
    suite: str, item: EvalItem, model: ModelRef, variant: Variant, asked: Asked | list[Message]
) -> dict[str, Any]:
    """What every result of an item records alike, answered or not."""
    messages = asked if isinstance(asked, list) else asked.messages
    return {
        "item_id": item.id,
        "suite": suite,
        "dataset": item.dataset,
        "variant": variant,
        "model": model.label,
        "spec": model.spec,
        "question": item.question,
        "prompt": user_prompt(messages),
        "fitting": [] if isinstance(asked, list) else asked.fitting,
    }


def item_result(
    suite: str,
    item: EvalItem,
    model: ModelRef,
    variant: Variant,
    asked: Asked | list[Message],
    client: ModelClient,
    response: ChatResponse,
    **scored: Any,
) -> ItemResult:
    """An ItemResult with what every suite records the same way; `scored` adds the suite's own
    fields (reference, scores, judges, extracted letter, exclusion)."""
    return ItemResult(
        **_common(suite, item, model, variant, asked),
        answer=response.text,
        **usage_fields(client, response),
        **scored,
    )


def not_sent(
    suite: str, item: EvalItem, model: ModelRef, variant: Variant, asked: Asked
) -> ItemResult:
    """The result of an item whose prompt could not fit: asked nothing, excluded, counted."""
    return ItemResult(
        **_common(suite, item, model, variant, asked),
        reference=item.reference,
        answer="",
        excluded=asked.excluded,
        exclusion=EXCEEDS,
    )


def answer_failed(
    suite: str, item: EvalItem, model: ModelRef, variant: Variant, error: AnswerFailed
) -> ItemResult:
    """The result of an item whose answering call failed: excluded with the reason, counted,
    and asked again by a later run (a failed call is never cached)."""
    return not_sent(suite, item, model, variant, error.asked).model_copy(
        update={"excluded": f"answer: {error.reason}", "exclusion": "answer_failed"}
    )


class PerItemSuite(abc.ABC):
    """A suite that answers its items one by one, concurrently: subclasses give `_one`."""

    name: str
    on_item: Callable[[], None] | None

    async def evaluate(
        self, model: ModelRef, client: ModelClient, items: list[EvalItem], variant: Variant
    ) -> list[ItemResult]:
        results = await gather_all(self._isolated(model, client, i, variant) for i in items)
        # Items whose calls failed are excluded one by one, but a model (or judge) that answered
        # nothing at all is down: that is the stage's error, not a table of exclusions.
        for used in self._clients(client):
            used.raise_if_down()
        return results

    def _clients(self, client: ModelClient) -> list[ModelClient]:
        """Every model the suite calls per item (the judged suites add their judges)."""
        return [client]

    async def _isolated(
        self, model: ModelRef, client: ModelClient, item: EvalItem, variant: Variant
    ) -> ItemResult:
        try:
            return await self._one(model, client, item, variant)
        except PromptExceedsContext as exc:
            self._ticked()
            return not_sent(self.name, item, model, variant, exc.asked)
        except AnswerFailed as exc:
            self._ticked()
            return answer_failed(self.name, item, model, variant, exc)

    @abc.abstractmethod
    async def _one(
        self, model: ModelRef, client: ModelClient, item: EvalItem, variant: Variant
    ) -> ItemResult:
        """One item answered and scored."""

    def _ticked(self) -> None:
        if self.on_item is not None:
            self.on_item()
