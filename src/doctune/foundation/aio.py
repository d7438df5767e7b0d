"""Concurrency helpers shared by the stages that fan out model calls."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Awaitable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


async def gather_all(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Results in submission order. On the first error the rest are cancelled and the error
    raised: a failed endpoint stops the stage, and the call cache keeps every call that finished
    (a rerun resumes from there)."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


@contextlib.contextmanager
def long_lived_frozen() -> Iterator[None]:
    """Leave what exists now (modules, config, loaded data) out of the garbage collector's full
    passes while a stage runs. A stage with many calls in flight keeps a lot of objects alive
    (prepared requests, coroutines), which pushes the collector into full passes; each one
    scanned every object of the process and held the event loop for ~50 ms at a time. Objects
    made during the stage are collected as usual, and everything is handed back on exit, so
    nothing that dies later stays (tests run many stages in one process)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
