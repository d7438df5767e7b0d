"""The one client layer every model call goes through.

Above any backend it adds: a persistent cache (a rerun pays nothing), bounded concurrency,
structured output with validation and bounded re-asks, and token/cost accounting per model and
stage. Backends stay small: they answer one request.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from doctune.config import ModelSettings
from doctune.models.base import ChatBackend, ChatRequest, ChatResponse, GenerationParams, Message
from doctune.models.cache import CallCache, request_key
from doctune.models.structured import Structured, parse_reply, reask_messages, schema_for

T = TypeVar("T", bound=BaseModel)


@dataclass
class UsageRow:
    """Calls and tokens of one model in one stage. `cost_usd` is what the records used cost when
    they were made (cached calls included); `new_cost_usd` is what this run paid."""

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    new_cost_usd: float = 0.0
    invalid_replies: int = 0
    failed_structured: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class UsageLedger:
    rows: dict[tuple[str, str], UsageRow] = field(default_factory=dict)

    def row(self, spec: str, stage: str) -> UsageRow:
        return self.rows.setdefault((spec, stage), UsageRow())

    def by_stage(self) -> dict[str, dict[str, dict[str, Any]]]:
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for (spec, stage), row in sorted(self.rows.items()):
            out.setdefault(stage, {})[spec] = row.as_dict()
        return out

    def totals(self, stage: str | None = None) -> UsageRow:
        total = UsageRow()
        for (_, row_stage), row in self.rows.items():
            if stage is None or row_stage == stage:
                for key, value in row.__dict__.items():
                    setattr(total, key, getattr(total, key) + value)
        return total


def cost_of(settings: ModelSettings, response: ChatResponse) -> float:
    return (
        response.usage.prompt_tokens * settings.price_input_per_mtok
        + response.usage.completion_tokens * settings.price_output_per_mtok
    ) / 1e6


class ModelClient:
    """A backend wrapped with cache, concurrency limit, structured output and accounting.

    `for_stage` returns a view that books usage under another stage name and shares everything
    else (the semaphore above all, so two stages never exceed the limit together).
    """

    def __init__(
        self,
        backend: ChatBackend,
        *,
        settings: ModelSettings | None = None,
        cache: CallCache | None = None,
        ledger: UsageLedger | None = None,
        concurrency: int = 16,
        structured_retries: int = 2,
        defaults: GenerationParams | None = None,
        stage: str = "",
    ) -> None:
        self.backend = backend
        self.spec = backend.spec
        self.settings = settings or ModelSettings()
        self.cache = cache
        self.ledger = ledger if ledger is not None else UsageLedger()
        limit = min(concurrency, backend.max_concurrency or concurrency)
        self._semaphore = asyncio.Semaphore(limit)
        self._inflight: dict[str, asyncio.Future[tuple[ChatResponse, float]]] = {}
        self.structured_retries = structured_retries
        self.defaults = defaults or GenerationParams(max_tokens=self.settings.max_new_tokens)
        self.stage = stage

    def for_stage(self, stage: str) -> ModelClient:
        view = object.__new__(ModelClient)
        view.__dict__.update(self.__dict__)
        view.stage = stage
        return view

    def params(self, **overrides: Any) -> GenerationParams:
        values = {k: v for k, v in overrides.items() if v is not None}
        return self.defaults.model_copy(update=values)

    # -- plain calls --------------------------------------------------------------------------
    async def complete(self, request: ChatRequest) -> ChatResponse:
        """One call: from the cache if it was ever answered, else from the backend.

        Identical requests in flight at the same time share one backend call (single flight):
        without it, two generators asking the same question concurrently both miss the cache and
        the run pays twice for one answer.
        """
        row = self.ledger.row(self.spec, self.stage)
        key = request_key(self.backend.identity, request)
        hit = self.cache.get(key) if self.cache is not None else None
        if hit is None and key in self._inflight:
            response, _ = await asyncio.shield(self._inflight[key])
            hit = (response, 0.0)  # paid once, by the call that is in flight
        if hit is not None:
            response, cost = hit
            row.calls += 1
            row.cache_hits += 1
            row.prompt_tokens += response.usage.prompt_tokens
            row.completion_tokens += response.usage.completion_tokens
            row.cost_usd += cost
            return response.model_copy(update={"cached": True})
        future: asyncio.Future[tuple[ChatResponse, float]] = (
            asyncio.get_running_loop().create_future()
        )
        self._inflight[key] = future
        try:
            response, cost = await self._call_backend(key, request)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unawaited future logs nothing
            raise
        finally:
            del self._inflight[key]
        future.set_result((response, cost))
        row.calls += 1
        row.prompt_tokens += response.usage.prompt_tokens
        row.completion_tokens += response.usage.completion_tokens
        row.cost_usd += cost
        row.new_cost_usd += cost
        return response

    async def _call_backend(self, key: str, request: ChatRequest) -> tuple[ChatResponse, float]:
        async with self._semaphore:
            started = time.perf_counter()
            response = await self.backend.complete(request)
        if not response.latency_s:
            response = response.model_copy(update={"latency_s": time.perf_counter() - started})
        cost = cost_of(self.settings, response)
        if self.cache is not None:
            self.cache.put(key, self.spec, request, response, cost)
        return response, cost

    async def chat(
        self, messages: list[Message] | tuple[Message, ...], **params: Any
    ) -> ChatResponse:
        request = ChatRequest(messages=tuple(messages), params=self.params(**params))
        return await self.complete(request)

    # -- structured calls ---------------------------------------------------------------------
    async def structured(
        self,
        messages: list[Message] | tuple[Message, ...],
        output_type: type[T],
        **params: Any,
    ) -> Structured[T]:
        """Ask for a reply that validates as `output_type`; re-ask with the error a bounded
        number of times. A final failure is booked and returned, never raised or hidden."""
        schema = schema_for(output_type)
        convo = tuple(messages)
        result: Structured[T] = Structured(value=None, attempts=0)
        row = self.ledger.row(self.spec, self.stage)
        for _attempt in range(self.structured_retries + 1):
            request = ChatRequest(
                messages=convo,
                params=self.params(**params),
                json_schema=schema,
                schema_name=output_type.__name__,
            )
            response = await self.complete(request)
            result.attempts += 1
            result.responses.append(response)
            value, error = parse_reply(response.text, output_type)
            if value is not None:
                result.value, result.error = value, None
                return result
            row.invalid_replies += 1
            result.error = error
            # The conversation grows with every failed reply, so no re-ask repeats an earlier
            # request (which the cache would answer with the same invalid reply).
            convo = reask_messages(convo, response.text, error or "invalid")
        row.failed_structured += 1
        return result

    async def aclose(self) -> None:
        await self.backend.aclose()
