"""Concurrency helpers shared by the stages that fan out model calls."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
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
