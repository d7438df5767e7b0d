"""Batched log-likelihoods on the tiny model (CPU, float32): padded batches give the sums that
one sequence at a time gives, within 1e-5 per item, and concurrent calls meet in one batch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch

from doctune.foundation.config import ModelSettings
from doctune.foundation.errors import ModelError
from doctune.models.client import ModelClient
from doctune.models.hf import HFBackend
from doctune.models.hf_loglik import LoglikBatcher, Plan
from doctune.models.loglik import batched_logprobs, continuation_logprobs, plan_windows
from doctune.models.spec import parse_spec

TOLERANCE = 1e-5
# Mixed lengths (1 to 40 repeats), one-token letters and a continuation of several tokens.
CONTINUATIONS = [" A", " B", " the palladium catalyst at 80 °C and 16.5 bar", " D"]
REQUESTS = [
    (
        "Question: what limits the yield of " + "the acylation step " * (i * 5 % 41) + "?\nAnswer:",
        CONTINUATIONS,
    )
    for i in range(12)
]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny matrices gain nothing from intra-op threads on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def backend(tiny_model_dir: Path) -> Iterator[HFBackend]:
    made = HFBackend(
        parse_spec(f"hf:{tiny_model_dir}"), ModelSettings(batch_size=4, dtype="float32")
    )
    yield made
    asyncio.run(made.aclose())


def one_at_a_time(backend: HFBackend) -> list[list[float]]:
    return [continuation_logprobs(backend.model, backend.tokenizer, c, k) for c, k in REQUESTS]


def assert_close(ours: list[list[float]], alone: list[list[float]]) -> None:
    assert len(ours) == len(alone)
    for i, (got, want) in enumerate(zip(ours, alone, strict=True)):
        assert len(got) == len(want)
        worst = max(abs(a - b) for a, b in zip(got, want, strict=True))
        assert worst <= TOLERANCE, (i, got, want)


def test_padded_batches_equal_one_sequence_at_a_time(backend: HFBackend) -> None:
    model, tokenizer = backend.model, backend.tokenizer
    plans = [plan_windows(model, tokenizer, c, k) for c, k in REQUESTS]
    lengths = {len(window) for plan in plans for window, _ in plan}
    assert max(lengths) > 3 * min(lengths), "the batches should mix short and long windows"
    assert max(len(cont) for _, cont in plans[0]) >= 5, "one continuation of several tokens"
    alone = one_at_a_time(backend)
    assert len({round(x, 3) for row in alone for x in row}) > len(alone), "scores should differ"
    for batch_size in (1, 3, 5, 64):
        assert_close(batched_logprobs(model, plans, batch_size=batch_size, pad_id=0), alone)
    # The pad token is masked out: another pad id changes nothing.
    assert_close(batched_logprobs(model, plans, batch_size=5, pad_id=7), alone)


def test_concurrent_calls_share_a_batch_and_score_as_alone(backend: HFBackend) -> None:
    alone = one_at_a_time(backend)
    release = threading.Event()
    # Keep the model thread busy so that every call below queues before the first batch runs:
    # what meets in a batch is then certain, not a matter of thread timing.
    backend._executor.submit(release.wait)
    backend.loglik_batch_sizes.clear()
    with ThreadPoolExecutor(len(REQUESTS)) as pool:
        calls = [pool.submit(backend.loglikelihoods, c, k) for c, k in REQUESTS]
        # The gatherer takes a first batch (up to 4) and waits on the model thread; once the
        # rest has queued, the next batch is full whatever the threads' timing was.
        waited = 0
        while backend._loglik._queue.qsize() < len(REQUESTS) - 4 and waited < 6000:
            threading.Event().wait(0.005)
            waited += 1
        release.set()
        scored = [call.result() for call in calls]
    assert max(backend.loglik_batch_sizes) == 4
    assert sum(backend.loglik_batch_sizes.values()) < len(REQUESTS)
    assert_close([s.logprobs for s in scored], alone)
    for s, (context, _) in zip(scored, REQUESTS, strict=True):
        assert s.prompt_tokens == len(backend.tokenizer.encode(context)) and s.cut == 0


def test_through_the_client_the_scores_are_the_same(backend: HFBackend) -> None:
    client = ModelClient(backend, concurrency=16)

    async def together() -> list[Any]:
        return await asyncio.gather(*(client.loglikelihoods(c, k) for c, k in REQUESTS))

    scored = asyncio.run(together())
    assert_close([s.logprobs for s in scored], one_at_a_time(backend))


def test_a_closed_backend_refuses_scoring(tiny_model_dir: Path) -> None:
    closed = HFBackend(parse_spec(f"hf:{tiny_model_dir}"), ModelSettings(batch_size=2))
    assert closed.loglikelihoods("Question?\nAnswer:", [" A"]).logprobs[0] < 0
    asyncio.run(closed.aclose())
    with pytest.raises(ModelError, match="closed"):
        closed.loglikelihoods("Question?\nAnswer:", [" A"])


def test_a_failed_batch_fails_each_of_its_requests_in_one_line() -> None:
    seen: list[int] = []
    gate = threading.Event()

    def out_of_memory(plans: list[Plan]) -> list[list[float]]:
        seen.append(len(plans))
        gate.wait(5)
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\ntraceback lines")

    batcher = LoglikBatcher(out_of_memory, batch_size=8, wait_s=0.01, name="hf:tiny")
    with ThreadPoolExecutor(3) as pool:
        calls = [pool.submit(batcher.score, lambda: [((1, 2), [3])]) for _ in range(3)]
        gate.set()
        errors = [call.exception(timeout=10) for call in calls]
    batcher.close()
    assert sum(seen) == 3
    for error in errors:
        assert isinstance(error, ModelError)
        assert str(error) == (
            "hf:tiny: log-likelihood scoring failed: CUDA out of memory. Tried to allocate 2.00 GiB"
        )
