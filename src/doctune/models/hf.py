"""`hf:<hub id or local path>[+<adapter dir>]`: a transformers model in this process.

Concurrent `complete` calls are gathered by a micro-batcher: the first request of a batch waits
a few milliseconds for company, then up to `batch_size` requests decode together, left-padded,
in one worker thread, one batch at a time, so the event loop stays free while the model runs.
Decoding is a plain loop over a KV cache rather than `model.generate`, because every row of a
batch keeps its own temperature, seed, stop strings, budget and JSON-schema matcher
(llguidance, see `doctune.models.constrained`), and rows that finish leave the batch; what
one row does with its next token is in `doctune.models.hf_rows`.

Log-likelihood requests (MMLU's scoring) are batched the same way, padded and scored together on
the same worker thread (`doctune.models.hf_loglik`).
"""

from __future__ import annotations

import asyncio
import inspect
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch

from doctune.foundation.config import ModelSettings
from doctune.foundation.errors import ModelError
from doctune.models.base import ChatBackend, ChatRequest, ChatResponse, Loglik
from doctune.models.constrained import DEFAULT_CAPS, Caps, GrammarCache, allowed_tokens, plan
from doctune.models.hf_load import config_context, load_model, load_tokenizer
from doctune.models.hf_loglik import LoglikBatcher, Plan
from doctune.models.hf_rows import Row, advance, response, sample
from doctune.models.identity import backend_identity
from doctune.models.loglik import batched_logprobs, plan_windows, truncated_tokens
from doctune.models.spec import ModelSpec

#: How long the first request of a batch waits for others to join it.
BATCH_WAIT_S = 0.01
#: Context length assumed when a model's config does not state one.
FALLBACK_CONTEXT = 32768


@dataclass
class _Job:
    request: ChatRequest
    future: asyncio.Future[ChatResponse]


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
        self._loglik = LoglikBatcher(
            self._score_plans, batch_size=self.batch_size, wait_s=batch_wait_s, name=self.spec
        )

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
        # Concurrent calls (each in its own client thread) are scored together in padded
        # batches; see doctune.models.hf_loglik.
        model, tokenizer = self.model, self.tokenizer
        started = time.perf_counter()
        counted: dict[str, int] = {}

        def prepare() -> Plan:
            with self._tokenize_lock:
                counted["prompt"] = len(tokenizer.encode(context))
                counted["cut"] = truncated_tokens(model, tokenizer, context, continuations[0])
                return plan_windows(model, tokenizer, context, continuations)

        logprobs = self._loglik.score(prepare)
        return Loglik(
            logprobs=logprobs,
            prompt_tokens=counted["prompt"],
            cut=counted["cut"],
            latency_s=time.perf_counter() - started,
        )

    @property
    def loglik_batch_sizes(self) -> dict[int, int]:
        """How many log-likelihood batches of each size ran."""
        return self._loglik.batch_sizes

    def _score_plans(self, plans: list[Plan]) -> list[list[float]]:
        """One batch of log-likelihood requests, on the thread that runs the model."""
        work = self._executor.submit(
            batched_logprobs, self.model, plans, batch_size=self.batch_size, pad_id=self.pad_id
        )
        return work.result()

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
        self._loglik.close()
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
        rows: dict[int, Row] = {}
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
            results[i] = response(row, self.tokenizer, self.spec)
        return results  # type: ignore[return-value]

    def _prepare(self, request: ChatRequest) -> Row:
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
        return Row(prompt, budget, p.temperature, p.top_p, generator, p.stop or (), matcher)

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

    def _decode(self, rows: list[Row]) -> None:
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
                keep = [
                    k
                    for k, token in enumerate(chosen)
                    if advance(rows[live[k]], token, self.eos_ids, self.tokenizer)
                ]
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

    def _choose(self, logits: torch.Tensor, rows: list[Row]) -> list[int]:
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
                chosen[k] = sample(logits[k], row)
        return chosen
