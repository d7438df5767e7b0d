"""Log-likelihood requests of an `hf:` backend gathered into padded batches.

`ChatBackend.loglikelihoods` is blocking: the client calls it in a worker thread, one thread per
request in flight. Each call tokenizes in its own thread, then queues its windows and waits;
one gathering thread takes what has queued (up to `batch_size` requests) and scores it in a
single padded pass (`doctune.models.loglik.batched_logprobs`) on the backend's model thread,
so scoring and generation never run the model at the same time.

A batch can hold no more requests than there are caller threads: through `ModelClient`, the
threads of asyncio's default pool (cores + 4), so on a 2-core machine at most 6.

A caller that sends one request at a time pays nothing for this: the gatherer waits (up to
`wait_s`) only for callers that have arrived and are still tokenizing, never for callers that
may or may not come.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from doctune.foundation.errors import ModelError

Plan = list[tuple[tuple[int, ...], list[int]]]


@dataclass
class _Request:
    plan: Plan
    future: Future[list[float]] = field(default_factory=Future)


class LoglikBatcher:
    """Collects `score(prepare)` calls from many threads into batches for `run(plans)`.

    `run` receives up to `batch_size` plans and returns their sums in order; it is called from
    one thread at a time. `wait_s` is the longest a batch waits for callers still preparing.
    """

    def __init__(
        self,
        run: Callable[[list[Plan]], list[list[float]]],
        *,
        batch_size: int,
        wait_s: float,
        name: str,
    ) -> None:
        self._run = run
        self.batch_size = batch_size
        self.wait_s = wait_s
        self.name = name
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        # Callers inside score() whose plan is not queued yet: the company worth waiting for.
        self._arriving = 0
        self._count_lock = threading.Lock()
        #: How many batches of each size ran.
        self.batch_sizes: dict[int, int] = {}

    def score(self, prepare: Callable[[], Plan]) -> list[float]:
        """The sums for the plan `prepare()` makes (in the calling thread), computed in a
        batch; blocks until they are."""
        if self._closed:
            raise ModelError(f"{self.name}: the backend is closed")
        self._ensure_thread()
        with self._count_lock:
            self._arriving += 1
        try:
            request = _Request(prepare())
        except BaseException:
            with self._count_lock:
                self._arriving -= 1
            raise
        # One step, so the gatherer never sees the request neither arriving nor queued.
        with self._count_lock:
            self._arriving -= 1
            self._queue.put(request)
        while True:
            try:
                return request.future.result(timeout=1.0)
            except TimeoutError:
                # Queued just after close(): the gatherer is gone and nobody will answer.
                thread = self._thread
                if self._closed and (thread is None or not thread.is_alive()):
                    raise ModelError(f"{self.name}: the backend was closed") from None

    def close(self) -> None:
        self._closed = True
        self._queue.put(None)

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="doctune-hf-loglik", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._fail_queued()
                return
            batch = [first]
            stop = self._gather(batch)
            self._score(batch)
            if stop:
                self._fail_queued()
                return

    def _gather(self, batch: list[_Request]) -> bool:
        """Add queued requests to `batch`, waiting up to wait_s while callers are still
        preparing theirs; True when close() was seen."""
        deadline = time.monotonic() + self.wait_s
        while len(batch) < self.batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                with self._count_lock:
                    coming = self._arriving > 0 or not self._queue.empty()
                if not coming or time.monotonic() >= deadline:
                    break
                time.sleep(0.0005)
                continue
            if item is None:
                return True
            batch.append(item)
        return False

    def _score(self, batch: list[_Request]) -> None:
        self.batch_sizes[len(batch)] = self.batch_sizes.get(len(batch), 0) + 1
        try:
            results = self._run([r.plan for r in batch])
        except Exception as exc:  # e.g. out of memory: every request of the batch failed
            error: Any = exc
            if not isinstance(exc, ModelError):
                reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
                error = ModelError(f"{self.name}: log-likelihood scoring failed: {reason}")
            for request in batch:
                request.future.set_exception(error)
            return
        for request, sums in zip(batch, results, strict=True):
            request.future.set_result(sums)

    def _fail_queued(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item.future.set_exception(ModelError(f"{self.name}: the backend was closed"))
