"""One concurrency limit for every teacher call of a stage, granted by priority.

The recipes of synthesize run at the same time and their calls share one limit. Which waiting
call goes next decides how busy the endpoint stays: a call whose reply decides what is asked
next (distillation's topic lists, then its question lists) goes before a call that only makes
records, so the later phases never wait behind a queue of leaf calls and the leaf calls fill
the slots while a phase's replies are awaited. Equal priorities go in the order they asked.

The order of calls changes nothing in what a stage writes: records are ordered by their inputs
and every reply is a function of its request.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator
from enum import IntEnum


class Priority(IntEnum):
    """Lower goes first."""

    PLAN = 0  # its reply plans many calls (a document's topic list)
    EXPAND = 1  # its reply adds a few calls (a cell's questions, each then answered)
    LEAF = 2  # its reply is records


WAVE = 8  # slots granted per turn of the loop when many are free at once (a stage's start)


def slots_over(limit: int) -> int:
    """The scheduler's slots over a client that sends at most `limit` calls at once.

    A call holds its slot from the cache lookup to the cache store and validation; only the
    part between is the endpoint's. With exactly `limit` slots the endpoint would see fewer
    calls than the client allows (measured: 0.86-0.96 of the bare replay at concurrency 32,
    against 1.00-1.10 with a quarter more). The client's own limit still bounds what is sent;
    the extra slots only let a few calls past the priority order.
    """
    return limit + max(1, limit // 4)


class CallScheduler:
    """At most `limit` holders at once; a freed slot goes to the best-priority waiter."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a scheduler needs at least one slot, not {limit}")
        self.limit = limit
        self._free = limit
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._dispatching = False

    @property
    def waiting(self) -> int:
        return sum(not f.done() for _, _, f in self._waiters)

    @property
    def holding(self) -> int:
        return self.limit - self._free

    @contextlib.asynccontextmanager
    async def slot(self, priority: int = Priority.LEAF) -> AsyncIterator[None]:
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: int) -> None:
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (int(priority), next(self._order), granted))
        if self._free > 0 and not self._dispatching:
            # Free slots go out on the next turn of the loop, not to whoever asks first: the
            # calls that ask in the same turn (every recipe's first calls, at the start) are
            # then served by priority too.
            self._dispatching = True
            asyncio.get_running_loop().call_soon(self._dispatch)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release()  # granted, then cancelled before it ran: pass the slot on
            raise

    async def dispatched(self) -> None:
        """Return once the slots that were free have been handed out, and the calls given the
        last of them have run up to their first wait (their requests built and sending). Tasks
        created just before the call get a turn of the loop to ask first."""
        await asyncio.sleep(0)
        while self._dispatching:
            await asyncio.sleep(0)
        await asyncio.sleep(0)

    def _dispatch(self) -> None:
        self._dispatching = False
        granted = 0
        while self._free > 0 and granted < WAVE and self._grant():
            self._free -= 1
            granted += 1
        if self._free > 0 and granted == WAVE and self.waiting:
            # The rest on a later turn: the loop polls its sockets between waves, so the first
            # calls are on the wire before the last have been built.
            self._dispatching = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    def _grant(self) -> bool:
        """Hand a slot to the best live waiter; False when there is none."""
        while self._waiters:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)
                return True
        return False

    def _release(self) -> None:
        if not self._grant():  # a waiter gets the slot straight away; `_free` is unchanged
            self._free += 1
