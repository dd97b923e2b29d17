"""Loop-overhead micro-benchmarks: no I/O, only the loop's own machinery.

Each workload performs exactly ``n`` operations (see :mod:`bench.registry`).
Callbacks and tasks are scheduled in batches so that the ready queue stays the size a
busy program sees, not ``n`` handles at once.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Callable

from ..loops import SUBJECT
from ..registry import title, workload

title("loop", "Loop overhead")

BATCH = 1000


def _batches(n: int) -> list[int]:
    """Sizes of the batches that make up ``n`` operations."""
    return [min(BATCH, n - start) for start in range(0, n, BATCH)]


def _countdown(loop: asyncio.AbstractEventLoop, count: int) -> tuple[Callable[[], None], asyncio.Future]:
    """A callback and a future that the callback resolves on its ``count``-th call."""
    done = loop.create_future()
    remaining = count

    def tick() -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            done.set_result(None)

    return tick, done


async def _noop() -> None:
    pass


@workload("a callback scheduled with call_soon (1,000 at a time) and run")
async def call_soon(loop: asyncio.AbstractEventLoop, n: int) -> None:
    for size in _batches(n):
        tick, done = _countdown(loop, size)
        for _ in range(size):
            loop.call_soon(tick)
        await done


@workload("a timer armed with call_later(0) (1,000 at a time) and fired")
async def call_later(loop: asyncio.AbstractEventLoop, n: int) -> None:
    for size in _batches(n):
        tick, done = _countdown(loop, size)
        for _ in range(size):
            loop.call_later(0, tick)
        await done


@workload("await asyncio.sleep(0) in a task: one loop iteration each")
async def sleep0(loop: asyncio.AbstractEventLoop, n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


@workload("create_task of a trivial coroutine, gathered 1,000 at a time; per task")
async def gather(loop: asyncio.AbstractEventLoop, n: int) -> None:
    for size in _batches(n):
        await asyncio.gather(*[loop.create_task(_noop()) for _ in range(size)])


@workload("create_future, set_result from a callback, await it")
async def future(loop: asyncio.AbstractEventLoop, n: int) -> None:
    # Resolved from a callback, not before the await: awaiting a done future
    # never suspends, so it would measure no loop at all.
    for _ in range(n):
        fut = loop.create_future()
        loop.call_soon(fut.set_result, None)
        await fut


@workload("call_soon_threadsafe from a second thread; done when the last callback has run")
async def call_soon_threadsafe(loop: asyncio.AbstractEventLoop, n: int) -> None:
    tick, done = _countdown(loop, n)

    def produce() -> None:
        for _ in range(n):
            loop.call_soon_threadsafe(tick)

    producer = threading.Thread(target=produce, name="bench-producer")
    producer.start()
    await done  # resolved by the n-th callback: no sleeping as synchronisation
    producer.join()


@workload("await loop.ring_nop(): one io_uring round trip", only_on=(SUBJECT,))
async def ring_nop(loop: asyncio.AbstractEventLoop, n: int) -> None:
    for _ in range(n):
        await loop.ring_nop()  # type: ignore[attr-defined]  # ringloop only
