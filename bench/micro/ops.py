"""The operations the micro-benchmarks time, each one batch of ``n`` operations on a loop.

A benchmark round (one pytest-benchmark call) runs ``loop.run_until_complete``
of one batch; :data:`OPS` gives each operation's batch size, large enough that
the one ``run_until_complete`` per batch (a task, a few loop iterations) stays
a small part of it on every loop.  Callbacks are scheduled 1,000 at a time,
so the ready queue holds what a busy program's does, not ``n`` handles.
"""
from __future__ import annotations

import asyncio
import queue
import threading
from dataclasses import dataclass
from typing import Callable, Coroutine

#: Callbacks scheduled before the loop gets to run them.
BATCH = 1000


@dataclass(frozen=True)
class Op:
    """One micro-benchmark: ``per_call`` operations per timed call; ``unit`` names one operation."""

    name: str
    description: str
    per_call: int
    unit: str = "op"


OPS: dict[str, Op] = {op.name: op for op in (
    Op("call_soon", "loop.call_soon(callback), 1,000 at a time, and the callback run", 5000),
    Op("call_later_cancel", "loop.call_later(60, callback) then handle.cancel(), 1,000 at a time, "
                            "and the loop iteration that drops the cancelled timers", 5000),
    Op("sleep0", "await asyncio.sleep(0) in a task: one loop iteration", 5000),
    Op("future", "a future resolved by a call_soon callback (set_result) waking the task that awaits it", 5000),
    Op("gather_1000_sleeps", "asyncio.gather of 1,000 asyncio.sleep(0) coroutines (1,000 tasks); "
                             "one operation is the whole gather", 5, unit="gather"),
    Op("call_soon_threadsafe", "loop.call_soon_threadsafe(callback) from another thread, "
                               "until the loop has run the last callback", 5000),
)}


def _countdown(loop: asyncio.AbstractEventLoop, count: int) -> tuple[Callable[[], None], asyncio.Future[None]]:
    """A callback, and a future that the callback resolves on its ``count``-th call."""
    done: asyncio.Future[None] = loop.create_future()
    remaining = count

    def tick() -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            done.set_result(None)

    return tick, done


def _noop() -> None:
    pass


async def _call_soon(loop: asyncio.AbstractEventLoop, n: int) -> None:
    for start in range(0, n, BATCH):
        size = min(BATCH, n - start)
        tick, done = _countdown(loop, size)
        for _ in range(size):
            loop.call_soon(tick)
        await done


async def _call_later_cancel(loop: asyncio.AbstractEventLoop, n: int) -> None:
    for start in range(0, n, BATCH):
        for _ in range(min(BATCH, n - start)):
            loop.call_later(60, _noop).cancel()
        await asyncio.sleep(0)  # one iteration: the loop may clean its heap of cancelled timers


async def _sleep0(loop: asyncio.AbstractEventLoop, n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def _future(loop: asyncio.AbstractEventLoop, n: int) -> None:
    # Resolved from a callback, not before the await: awaiting a done future
    # never suspends, so it would measure no loop at all.
    for _ in range(n):
        fut = loop.create_future()
        loop.call_soon(fut.set_result, None)
        await fut


async def _gather(loop: asyncio.AbstractEventLoop, n: int) -> None:
    for _ in range(n):
        await asyncio.gather(*[asyncio.sleep(0) for _ in range(1000)])


class Producer:
    """A thread that calls ``loop.call_soon_threadsafe`` on request: started once, not once per batch."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, int, Callable[[], None]] | None] = \
            queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="micro-producer", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, n, callback = job
            for _ in range(n):
                loop.call_soon_threadsafe(callback)

    def produce(self, loop: asyncio.AbstractEventLoop, n: int, callback: Callable[[], None]) -> None:
        """Have the thread schedule ``callback`` ``n`` times on ``loop``; returns at once."""
        self._jobs.put((loop, n, callback))

    def close(self) -> None:
        """Stop the thread and wait for it."""
        self._jobs.put(None)
        self._thread.join()


async def _call_soon_threadsafe(loop: asyncio.AbstractEventLoop, n: int, producer: Producer) -> None:
    tick, done = _countdown(loop, n)
    producer.produce(loop, n, tick)
    await done  # resolved by the n-th callback: no sleeping as synchronisation


def batch(name: str, loop: asyncio.AbstractEventLoop, producer: Producer | None = None) -> Callable[[], None]:
    """A call that runs one batch (``OPS[name].per_call`` operations) of ``name`` on ``loop``, not running."""
    n = OPS[name].per_call
    make: Callable[[], Coroutine[None, None, None]]
    if name == "call_soon_threadsafe":
        if producer is None:
            raise ValueError("call_soon_threadsafe needs a Producer")
        make = lambda: _call_soon_threadsafe(loop, n, producer)  # noqa: E731
    else:
        fn = {"call_soon": _call_soon, "call_later_cancel": _call_later_cancel, "sleep0": _sleep0,
              "future": _future, "gather_1000_sleeps": _gather}[name]
        make = lambda: fn(loop, n)  # noqa: E731

    def call() -> None:
        loop.run_until_complete(make())

    return call
