"""The one client layer every model call goes through.

Above any backend it adds: a persistent cache (a rerun pays nothing), concurrency bounded and
paced by the provider's rate limits (`pacing.py`), structured output with validation and bounded
re-asks, and token/cost accounting per model and stage. Backends stay small: they answer one request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from doctune.foundation.config import ModelSettings
from doctune.foundation.errors import ModelError
from doctune.models.base import (
    ChatBackend,
    ChatRequest,
    ChatResponse,
    GenerationParams,
    Loglik,
    Message,
)
from doctune.models.cache import CallCache, Stored, request_key
from doctune.models.fitting import Fitted, Layout, Room, fit
from doctune.models.loglik import LoglikCache, loglik_key
from doctune.models.pacing import AdaptiveLimiter
from doctune.models.structured import Structured, parse_reply, reask_messages, schema_for
from doctune.models.usage import UsageLedger, UsageRow, cost_of

T = TypeVar("T", bound=BaseModel)
V = TypeVar("V", bound=BaseModel)
R = TypeVar("R")
# What decides whether a structured reply is an answer: (value, None) or (None, one-line reason).
Parser = Callable[[ChatResponse], tuple[V | None, str | None]]
# A model that has failed this many calls in a stage without answering one is taken to be down.
DOWN_AFTER = 10
# The fewest calls in flight a throttled endpoint is backed off to.
PACING_FLOOR = 2


@dataclass
class Reply:
    """A reply with what it takes to store it once it is known to be an answer. `fresh`: not
    from the cache table; `shared`: the reply of an identical call in flight (its owner stores
    it)."""

    key: str
    request: ChatRequest
    response: ChatResponse
    cost: float
    fresh: bool = True
    shared: bool = False


@dataclass(frozen=True)
class CallFailed:
    """A call that failed after the backend's retries, for the item that needed it."""

    reason: str


def _json_parser(output_type: type[V]) -> Parser[V]:
    def check(response: ChatResponse) -> tuple[V | None, str | None]:
        return parse_reply(response.text, output_type)

    return check


class ModelClient:
    """A backend wrapped with cache, concurrency limit, structured output and accounting.

    `for_stage` returns a view that books usage under another stage name and shares everything
    else (the limiter above all, so two stages never exceed the limit together).
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
        # Paced by the server's rate-limit headers and 429s; shared by every stage view.
        self.limiter = AdaptiveLimiter(limit, floor=min(PACING_FLOOR, limit))
        self._inflight: dict[str, asyncio.Future[tuple[ChatResponse, float]]] = {}
        # Stage -> the last error after retries; shared by every stage view of this client.
        self._errors: dict[str, ModelError] = {}
        self._stores: dict[str, LoglikCache] = {}
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

        A plain reply is an answer as it stands, so it is stored at once; structured calls store
        theirs only once validation accepted them (`structured`).
        """
        reply = await self._fetch(request)
        if reply.fresh and not reply.shared:
            self._store([reply])
        return reply.response

    async def _fetch(self, request: ChatRequest) -> Reply:
        """The reply to one request, stored nowhere yet.

        Identical requests in flight at the same time share one backend call (single flight):
        without it, two generators asking the same question concurrently both miss the cache and
        the run pays twice for one answer. A call that fails after the backend's retries is
        recorded as a failure (never as an answer) and raised.
        """
        row = self.ledger.row(self.spec, self.stage)
        key = request_key(self.backend.identity, request)
        hit = self.cache.get(key) if self.cache is not None else None
        if hit is not None:
            return self._booked(row, Reply(key, request, *hit, fresh=False), hit=True)
        if key in self._inflight:
            response, _ = await asyncio.shield(self._inflight[key])
            # Paid once, by the call that is in flight; stored (or not) by it too.
            return self._booked(row, Reply(key, request, response, 0.0, shared=True), hit=True)
        future: asyncio.Future[tuple[ChatResponse, float]] = (
            asyncio.get_running_loop().create_future()
        )
        self._inflight[key] = future
        try:
            response, cost = await self._call_backend(request)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unawaited future logs nothing
            if isinstance(exc, ModelError):
                self._failed(row, key, exc)
            raise
        finally:
            del self._inflight[key]
        future.set_result((response, cost))
        row.new_cost_usd += cost
        return self._booked(row, Reply(key, request, response, cost))

    @staticmethod
    def _booked(row: UsageRow, reply: Reply, *, hit: bool = False) -> Reply:
        response = reply.response
        row.calls += 1
        row.cache_hits += int(hit)
        row.prompt_tokens += response.usage.prompt_tokens
        row.completion_tokens += response.usage.completion_tokens
        row.cost_usd += reply.cost
        if hit:
            reply.response = response.model_copy(update={"cached": True})
        return reply

    async def _call_backend(self, request: ChatRequest) -> tuple[ChatResponse, float]:
        async with self.limiter.slot():
            started = time.perf_counter()
            response = await self.backend.complete(request)
        self.limiter.note_tokens(response.usage.prompt_tokens + response.usage.completion_tokens)
        if not response.latency_s:
            response = response.model_copy(update={"latency_s": time.perf_counter() - started})
        return response, cost_of(self.settings, response)

    def _store(self, replies: list[Reply]) -> None:
        if self.cache is not None and replies:
            self.cache.put_many(
                self.spec, [Stored(r.key, r.request, r.response, r.cost) for r in replies]
            )

    def _failed(self, row: UsageRow, key: str, error: ModelError) -> None:
        row.failed_calls += 1
        self._errors[self.stage] = error
        if self.cache is not None:
            self.cache.record_failure(key, self.spec, str(error))

    async def chat(
        self, messages: list[Message] | tuple[Message, ...], **params: Any
    ) -> ChatResponse:
        request = ChatRequest(messages=tuple(messages), params=self.params(**params))
        return await self.complete(request)

    # -- structured calls ---------------------------------------------------------------------
    @overload
    async def structured(
        self,
        messages: list[Message] | tuple[Message, ...],
        output_type: type[T],
        *,
        parse: None = None,
        **params: Any,
    ) -> Structured[T]: ...

    @overload
    async def structured(
        self,
        messages: list[Message] | tuple[Message, ...],
        output_type: type[BaseModel],
        *,
        parse: Parser[V],
        **params: Any,
    ) -> Structured[V]: ...

    async def structured(
        self,
        messages: list[Message] | tuple[Message, ...],
        output_type: type[BaseModel],
        *,
        parse: Parser[Any] | None = None,
        **params: Any,
    ) -> Structured[Any]:
        """Ask for a reply that validates as `output_type`; re-ask with the error a bounded
        number of times. A final failure is booked and returned, never raised or hidden.

        `parse` replaces the strict JSON validation (a caller with a documented fallback format,
        such as the judge's rating lines, passes its own); whatever it accepts is the answer.
        Only a chain that ends valid is stored, every reply of it (a rerun replays the same
        re-asks from the cache); a chain that ends invalid stores none and is recorded as a
        failure, so a later run asks again.
        """
        check = parse or _json_parser(output_type)
        result, replies = await self._chain(tuple(messages), output_type, check, params)
        stale = [r.key for r in replies if not r.fresh]
        if not result.ok and stale and self.cache is not None:
            # Invalid replies served from the cache were stored by an older doctune, which kept
            # every reply: they are not answers. Forget them and ask once more.
            self.cache.evict(stale)
            result, replies = await self._chain(tuple(messages), output_type, check, params)
        if result.ok:
            self._store([r for r in replies if r.fresh and not r.shared])
            return result
        row = self.ledger.row(self.spec, self.stage)
        if not replies:
            # Never sent (the prompt does not fit the model's context): no rerun can change that,
            # so it is not a failed call that keeps its stage out of date.
            row.unfitted += 1
            return result
        row.failed_structured += 1
        if self.cache is not None:
            reason = f"invalid reply after {result.attempts} attempts: {result.error}"
            self.cache.record_failure(replies[0].key, self.spec, reason)
        return result

    async def _chain(
        self,
        convo: tuple[Message, ...],
        output_type: type[BaseModel],
        check: Parser[Any],
        params: dict[str, Any],
    ) -> tuple[Structured[Any], list[Reply]]:
        schema = schema_for(output_type)
        result: Structured[Any] = Structured(value=None, attempts=0)
        replies: list[Reply] = []
        row = self.ledger.row(self.spec, self.stage)
        for _attempt in range(self.structured_retries + 1):
            request = ChatRequest(
                messages=convo,
                params=self.params(**params),
                json_schema=schema,
                schema_name=output_type.__name__,
            )
            room = Room.of(self.backend)
            # With no known context the request goes as it is (fitting would only copy it).
            fitted = fit(request, Layout.fixed(convo), room) if room.known else Fitted(request)
            if fitted.request is None:
                # Too long for the model's context (a re-ask carries the invalid reply and the
                # error, so it can outgrow a prompt that fitted): not sent, the chain ends here.
                why = str(fitted.excluded)
                result.error = f"{result.error}; re-ask not sent: {why}" if replies else why
                break
            reply = await self._fetch(fitted.request)
            replies.append(reply)
            result.attempts += 1
            result.responses.append(reply.response)
            value, error = check(reply.response)
            if value is not None:
                result.value, result.error = value, None
                return result, replies
            row.invalid_replies += 1
            result.error = error
            # The conversation grows with every failed reply, so no re-ask repeats an earlier
            # request (which the cache would answer with the same invalid reply).
            convo = reask_messages(convo, reply.response.text, error or "invalid")
        return result, replies

    # -- per-item isolation -------------------------------------------------------------------
    async def isolated(self, call: Awaitable[R]) -> R | CallFailed:
        """The call's result, or CallFailed when it failed after the backend's retries with a
        transient error: one item's failure then excludes that item instead of ending the stage.

        Raised as before: a non-transient error (a model that does not exist, a refused key),
        and any error once this model has failed DOWN_AFTER calls in this stage without
        answering one (an endpoint down for everything must stop the stage, not fill a table
        with exclusions).
        """
        try:
            return await call
        except ModelError as exc:
            if not exc.transient or self._looks_down(DOWN_AFTER):
                raise
            return CallFailed(str(exc))

    def raise_if_down(self) -> None:
        """Raise the last error if every call of this model in this stage failed (checked when
        a suite is done: a small stage may never reach DOWN_AFTER failures)."""
        if self._looks_down(1):
            error = self._errors[self.stage]
            raise ModelError(
                f"every call failed ({self.ledger.row(self.spec, self.stage).failed_calls}); "
                f"the last: {error}"
            )

    def _looks_down(self, failures: int) -> bool:
        row = self.ledger.row(self.spec, self.stage)
        return row.calls == 0 and row.failed_calls >= failures and self.stage in self._errors

    # -- log-likelihood scoring -----------------------------------------------------------------
    async def loglikelihoods(self, context: str, continuations: list[str]) -> Loglik:
        """Scores of continuations after `context`: from the call cache's file (a table of its
        own), else from the backend in a worker thread, stored at once so an interrupted run
        keeps what it computed; booked as one call."""
        key = loglik_key(self.backend.identity, self.settings.dtype, context, continuations)
        store = self._loglik_store()
        hit = store.get(key) if store is not None else None
        row = self.ledger.row(self.spec, self.stage)
        row.calls += 1
        if hit is not None and "cut" in hit:  # older entries lack the cut: score them again
            row.cache_hits += 1
            scored = Loglik.model_validate({**hit, "cached": True})
        else:
            scored = await asyncio.to_thread(self.backend.loglikelihoods, context, continuations)
            if store is not None:
                store.put(key, self.backend.identity, scored.model_dump(exclude={"cached"}))
        row.prompt_tokens += scored.prompt_tokens
        return scored

    def _loglik_store(self) -> LoglikCache | None:
        if self.cache is None:
            return None
        if "loglik" not in self._stores:  # shared by every stage view, like the semaphore
            self._stores["loglik"] = LoglikCache(self.cache.path)
        return self._stores["loglik"]

    async def aclose(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()
        await self.backend.aclose()
