"""`hf:<hub id or local path>[+<adapter dir>]`: a transformers model in this process.

Concurrent `complete` calls are gathered by a micro-batcher: the first request of a batch waits
a few milliseconds for company, then up to `batch_size` requests decode together, left-padded,
in one worker thread, one batch at a time, so the event loop stays free while the model runs.
Decoding is a plain loop over a KV cache rather than `model.generate`, because every row of a
batch keeps its own temperature, seed, stop strings, budget and JSON-schema matcher
(llguidance, see `doctune.models.constrained`), and rows that finish leave the batch.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch

from doctune.foundation.config import ModelSettings
from doctune.foundation.errors import ModelError
from doctune.models.base import ChatBackend, ChatRequest, ChatResponse, Loglik, Usage
from doctune.models.constrained import DEFAULT_CAPS, Caps, GrammarCache, allowed_tokens, plan
from doctune.models.hf_load import config_context, load_model, load_tokenizer
from doctune.models.identity import backend_identity
from doctune.models.loglik import continuation_logprobs, truncated_tokens
from doctune.models.spec import ModelSpec

#: How long the first request of a batch waits for others to join it.
BATCH_WAIT_S = 0.01
#: Context length assumed when a model's config does not state one.
FALLBACK_CONTEXT = 32768


@dataclass
class _Job:
    request: ChatRequest
    future: asyncio.Future[ChatResponse]


@dataclass
class _Row:
    """One request while it decodes."""

    prompt: list[int]
    budget: int
    temperature: float
    top_p: float | None
    generator: torch.Generator | None
    stops: tuple[str, ...]
    matcher: Any = None
    tokens: list[int] = field(default_factory=list)
    finish: str | None = None
    error: str | None = None


class HFBackend(ChatBackend):
    """A local causal LM answering chat requests, batched, with schema-constrained decoding."""

    enforces_schema = True

    def __init__(
        self,
        spec: ModelSpec,
        settings: ModelSettings,
        *,
        caps: Caps = DEFAULT_CAPS,
        batch_wait_s: float = BATCH_WAIT_S,
    ) -> None:
        self.spec = str(spec)
        self._identity = backend_identity(self.spec, settings)
        self.settings = settings
        self.batch_size = settings.batch_size
        self.caps = caps
        self.batch_wait_s = batch_wait_s
        self.device = settings.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._parsed = spec
        # Weights load on first use, not here: a rerun answered entirely from the call cache
        # must not spend a minute (or a GPU) loading a model it never asks.
        self._load_lock = threading.Lock()
        # Prompts are counted on the event loop while a batch tokenizes in the worker thread;
        # a fast tokenizer used from two threads at once can fail with "Already borrowed".
        self._tokenize_lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        #: Tokens of prompt and reply together (settings, else the model's config, else
        #: FALLBACK_CONTEXT); known before the weights load, so prompts are fitted first.
        self.context: int | None = None
        self._grammars: GrammarCache | None = None
        self._ll_executor: Any = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="doctune-hf")
        self._pending: list[_Job] = []
        self._runner: asyncio.Task[None] | None = None
        self._closed = False
        #: How many batches of each size ran: what the micro-batcher achieved.
        self.batch_sizes: Counter[int] = Counter()

    def load(self) -> None:
        """Load tokenizer and weights now (idempotent, thread-safe); ModelError in one line."""
        with self._load_lock:
            if self._model is not None:
                return
            if self._closed:
                raise ModelError(f"{self.spec}: the backend is closed")
            tokenizer = self._load_tokenizer()
            model = load_model(self._parsed, self.settings, self.device)
            self.vocab_size = len(tokenizer)
            if self.context is None:
                stated = int(getattr(model.config, "max_position_embeddings", 0) or 0)
                self.context = self.settings.context_length or stated or FALLBACK_CONTEXT
            self._model = model
            self.eos_ids = self._eos_ids()
            self.pad_id = tokenizer.pad_token_id
            if self.pad_id is None:
                self.pad_id = min(self.eos_ids)
            params = inspect.signature(model.forward).parameters
            # transformers 5 renamed `past_key_values` to `cache`; accept either.
            self._cache_arg = "cache" if "cache" in params else "past_key_values"

    @property
    def model(self) -> Any:
        self.load()
        return self._model

    def _load_tokenizer(self) -> Any:
        if self._tokenizer is None:
            if self._closed:
                raise ModelError(f"{self.spec}: the backend is closed")
            self._tokenizer = load_tokenizer(self._parsed)
        return self._tokenizer

    @property
    def tokenizer(self) -> Any:
        """The tokenizer alone: counting a prompt loads no weights."""
        if self._tokenizer is None:
            with self._load_lock:
                self._load_tokenizer()
        return self._tokenizer

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        configured = getattr(self._model.generation_config, "eos_token_id", None)
        for value in (configured, self._tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.add(value)
            elif value:
                ids.update(int(v) for v in value)
        if not ids:
            raise ModelError(f"{self.spec}: the model defines no end-of-sequence token")
        return ids

    # -- the interface ------------------------------------------------------------------------
    @property
    def identity(self) -> str:
        return self._identity

    def count_tokens(self, text: str) -> int:
        tokenizer = self.tokenizer
        with self._tokenize_lock:
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    @property
    def context_length(self) -> int:
        if self.context is None:
            self.context = (
                self.settings.context_length or config_context(self._parsed) or FALLBACK_CONTEXT
            )
        return self.context

    def prompt_tokens(self, request: ChatRequest) -> int:
        return len(self._prompt_ids(request))

    def _prompt_ids(self, request: ChatRequest) -> list[int]:
        """The prompt's token ids as decoding sees them: chat template, generation prompt."""
        tokenizer = self.tokenizer
        messages = [m.model_dump() for m in request.messages]
        with self._tokenize_lock:
            text = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    def loglikelihoods(self, context: str, continuations: list[str]) -> Loglik:
        model, tokenizer = self.model, self.tokenizer
        started = time.perf_counter()
        logprobs = continuation_logprobs(model, tokenizer, context, continuations)
        return Loglik(
            logprobs=logprobs,
            prompt_tokens=len(tokenizer.encode(context)),
            cut=truncated_tokens(model, tokenizer, context, continuations[0]),
            latency_s=time.perf_counter() - started,
        )

    @property
    def max_concurrency(self) -> int:
        # Enough in flight to fill the next batch while one decodes; the client queues the rest.
        return 4 * self.batch_size

    async def complete(self, request: ChatRequest) -> ChatResponse:
        if self._closed:
            raise ModelError(f"{self.spec}: the backend is closed")
        loop = asyncio.get_running_loop()
        if self._model is None:
            await asyncio.to_thread(self.load)
        job = _Job(request, loop.create_future())
        self._pending.append(job)
        runner = self._runner
        if runner is None or runner.done() or runner.get_loop() is not loop:
            self._runner = loop.create_task(self._run_batches())
        return await job.future

    async def aclose(self) -> None:
        self._closed = True
        for job in self._pending:
            if not job.future.done():
                job.future.set_exception(ModelError(f"{self.spec}: the backend was closed"))
        self._pending.clear()
        # A batch already decoding finishes in its thread; nothing waits for it.
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._model = None
        self._tokenizer = None
        self._grammars = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # -- micro-batching -----------------------------------------------------------------------
    async def _run_batches(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            if len(self._pending) < self.batch_size:
                await asyncio.sleep(self.batch_wait_s)
            # Jobs of an event loop that has since closed can never be answered: drop them.
            jobs = [j for j in self._pending[: self.batch_size] if j.future.get_loop() is loop]
            del self._pending[: self.batch_size]
            jobs = [j for j in jobs if not j.future.done()]
            if not jobs or self._closed:
                continue
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(
                    self._executor, self._generate, [j.request for j in jobs]
                )
            except Exception as exc:  # e.g. out of memory: every request of the batch failed
                error = ModelError(f"{self.spec}: generation failed: {exc}".splitlines()[0])
                results = [error] * len(jobs)
            latency = time.perf_counter() - started
            for job, result in zip(jobs, results, strict=True):
                if job.future.done():
                    continue
                if isinstance(result, ModelError):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result.model_copy(update={"latency_s": latency}))

    # -- one batch, in the worker thread ------------------------------------------------------
    def _generate(self, requests: list[ChatRequest]) -> list[ChatResponse | ModelError]:
        self.batch_sizes[len(requests)] += 1
        results: list[ChatResponse | ModelError | None] = [None] * len(requests)
        rows: dict[int, _Row] = {}
        for i, request in enumerate(requests):
            try:
                rows[i] = self._prepare(request)
            except ModelError as exc:
                results[i] = exc
            except Exception as exc:  # e.g. a chat template that refuses a system message
                reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
                results[i] = ModelError(f"{self.spec}: cannot prepare the request: {reason}")
        if rows:
            self._decode(list(rows.values()))
        for i, row in rows.items():
            results[i] = self._response(row)
        return results  # type: ignore[return-value]

    def _prepare(self, request: ChatRequest) -> _Row:
        prompt = self._prompt_ids(request)
        # The last guard: callers fit their prompts (doctune.models.fitting) before sending.
        context = self.context_length
        room = context - len(prompt)
        if room <= 0:
            raise ModelError(
                f"{self.spec}: prompt of {len(prompt)} tokens leaves no room in the model's "
                f"context of {context}"
            )
        p = request.params
        budget = min(p.max_tokens or self.settings.max_new_tokens, room)
        matcher = None
        if request.json_schema is not None:
            schema, budget = plan(request.json_schema, budget, room, self.caps)
            matcher = self._matcher(schema)
        generator = None
        if p.temperature > 0:
            seed = p.seed if p.seed is not None else random.SystemRandom().getrandbits(63)
            generator = torch.Generator(device=self.device).manual_seed(seed)
        return _Row(prompt, budget, p.temperature, p.top_p, generator, p.stop or (), matcher)

    def _matcher(self, schema: dict[str, Any]) -> Any:
        if self._grammars is None:
            import llguidance
            import llguidance.hf

            try:
                ll_tokenizer = llguidance.hf.from_tokenizer(
                    self.tokenizer, eos_token=sorted(self.eos_ids)
                )
            except ValueError as exc:
                raise ModelError(f"{self.spec}: constrained decoding unavailable: {exc}") from None
            self._grammars = GrammarCache(ll_tokenizer)
            self._ll_executor = llguidance.LLExecutor()
        try:
            return self._grammars.matcher(schema)
        except ValueError as exc:
            raise ModelError(f"{self.spec}: JSON schema not supported: {exc}") from None

    def _decode(self, rows: list[_Row]) -> None:
        from transformers import DynamicCache

        width = max(len(r.prompt) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):  # left padding: every prompt ends where decoding starts
            ids[i, width - len(row.prompt) :] = torch.tensor(row.prompt)
            mask[i, width - len(row.prompt) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)
        live = list(range(len(rows)))
        with torch.inference_mode():
            while live:
                out = self.model(
                    input_ids=ids,
                    attention_mask=mask,
                    position_ids=positions,
                    use_cache=True,
                    logits_to_keep=1,
                    **{self._cache_arg: cache},
                )
                chosen = self._choose(out.logits[:, -1, :].float(), [rows[i] for i in live])
                keep = [k for k, token in enumerate(chosen) if self._advance(rows[live[k]], token)]
                if len(keep) < len(live):
                    # Finished rows leave the batch, so stragglers do not drag dead weight.
                    index = torch.tensor(keep, dtype=torch.long, device=self.device)
                    cache.batch_select_indices(index)
                    mask, positions = mask[index], positions[index]
                    live = [live[k] for k in keep]
                    chosen = [chosen[k] for k in keep]
                ids = torch.tensor([[t] for t in chosen], dtype=torch.long, device=self.device)
                mask = torch.cat([mask, torch.ones_like(ids)], dim=-1)
                positions = positions[:, -1:] + 1

    def _choose(self, logits: torch.Tensor, rows: list[_Row]) -> list[int]:
        if logits.shape[-1] > self.vocab_size:  # padding rows of the embedding decode to nothing
            logits[:, self.vocab_size :] = float("-inf")
        constrained = [k for k, row in enumerate(rows) if row.matcher is not None]
        if constrained:
            ll_vocab = self._grammars.ll_tokenizer.vocab_size  # type: ignore[union-attr]
            masks = allowed_tokens(
                [rows[k].matcher for k in constrained], ll_vocab, self._ll_executor
            )
            width = min(logits.shape[-1], ll_vocab)
            allowed = torch.zeros(len(constrained), logits.shape[-1], dtype=torch.bool)
            allowed[:, :width] = masks[:, :width]
            index = torch.tensor(constrained, device=logits.device)
            logits[index] = logits[index].masked_fill(~allowed.to(logits.device), float("-inf"))
        chosen = logits.argmax(dim=-1).tolist()
        # A matcher in an error state allows nothing: end that row (its error is reported)
        # rather than sample from an all -inf row, which would fail the whole batch.
        stuck = torch.isinf(logits).all(dim=-1).tolist()
        for k, row in enumerate(rows):
            if stuck[k]:
                chosen[k] = min(self.eos_ids)
            elif row.generator is not None:
                chosen[k] = self._sample(logits[k], row)
        return chosen

    @staticmethod
    def _sample(logits: torch.Tensor, row: _Row) -> int:
        scaled = logits / row.temperature
        if row.top_p is not None and row.top_p < 1.0:
            ordered, order = scaled.sort(descending=True)
            cumulative = ordered.softmax(-1).cumsum(-1)
            # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
            cut = (cumulative - ordered.softmax(-1)) >= row.top_p
            scaled = scaled.clone()
            scaled[order[cut]] = float("-inf")
        probs = scaled.softmax(-1)
        return int(torch.multinomial(probs, 1, generator=row.generator).item())

    def _advance(self, row: _Row, token: int) -> bool:
        """Take `token` into the row; False when the row has finished."""
        if token in self.eos_ids:
            if row.matcher is not None and row.matcher.is_error():
                row.error = row.matcher.get_error().splitlines()[0][:200]
            row.finish = "stop"
            return False
        row.tokens.append(token)
        if row.matcher is not None:
            if not row.matcher.consume_token(token):
                row.error = row.matcher.get_error().splitlines()[0][:200]
                return False
            if row.matcher.is_stopped():  # the JSON value is complete; nothing may follow
                row.finish = "stop"
                return False
        if row.stops and self._stop_at(row) is not None:
            row.finish = "stop"
            return False
        if len(row.tokens) >= row.budget:
            row.finish = "length"
            return False
        return True

    def _stop_at(self, row: _Row) -> int | None:
        """Where the first stop string starts in the reply, checking only the newest tokens:
        an earlier match would have ended the row before, and every token is at least a byte."""
        window = max(len(s.encode()) for s in row.stops) + 1
        tail = self.tokenizer.decode(row.tokens[-window:], skip_special_tokens=True)
        if not any(s in tail for s in row.stops):
            return None
        text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
        return min(i for i in (text.find(s) for s in row.stops) if i >= 0)

    def _response(self, row: _Row) -> ChatResponse | ModelError:
        if row.error is not None:
            return ModelError(f"{self.spec}: constrained decoding failed: {row.error}")
        text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
        if row.stops:
            cut = self._stop_at(row)
            text = text if cut is None else text[:cut]
        # Completion tokens are the tokens generated (the end-of-turn token excluded), which is
        # what the compute cost; re-encoding the text can give fewer when a model (a random one
        # above all) spells a word in more tokens than the tokenizer would.
        return ChatResponse(
            text=text,
            usage=Usage(prompt_tokens=len(row.prompt), completion_tokens=len(row.tokens)),
            finish_reason=row.finish or "length",
        )
