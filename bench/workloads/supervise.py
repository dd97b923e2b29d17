"""Supervision workloads: what ringloop.supervise costs next to the bare asyncio it is built on.

Pairs to compare (issue 15): ``actor_tell`` with ``queue_consumer`` (target: at least 0.8x
its throughput), ``actor_ask`` with ``queue_future`` (target: at most 1.5x its time), and
``group_restart``, the time from a worker's crash to its replacement running. Both sides
of a pair do the same work per message, an ``await`` of the same trivial handler, and send
in batches of at most 1,000 (an actor's default mailbox size), waiting for each batch to
be handled.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ringloop.supervise import Actor, Group, spawn

from ..registry import title, workload

title("supervise", "Supervision (ringloop.supervise)")

BATCH = 1000


class _Tally:
    """How many messages were handled, and ``done``, resolved at the ``target``-th."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.done: asyncio.Future[None] | None = None

    def expect(self, loop: asyncio.AbstractEventLoop, size: int) -> asyncio.Future[None]:
        self.target += size
        self.done = loop.create_future()
        return self.done


class _Counting(Actor):
    """The handler of every workload here: the bare consumers call the same handle()."""

    def __init__(self, tally: _Tally) -> None:
        self.tally = tally

    async def handle(self, message: Any) -> Any:
        tally = self.tally
        tally.count += 1
        if tally.count == tally.target:
            assert tally.done is not None
            tally.done.set_result(None)
        return message


def _batches(n: int) -> list[int]:
    return [min(BATCH, n - start) for start in range(0, n, BATCH)]


async def _stop(task: asyncio.Task[None]) -> None:
    """Cancel a bare consumer and wait for it, as an actor's stop() does."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@workload("bare asyncio.Queue consumer task awaiting a handler per message; per message", group="supervise")
async def queue_consumer(loop: asyncio.AbstractEventLoop, n: int) -> None:
    tally = _Tally()
    handler = _Counting(tally)
    queue: asyncio.Queue[int] = asyncio.Queue()

    async def consume() -> None:
        while True:
            await handler.handle(await queue.get())

    consumer = loop.create_task(consume())
    for size in _batches(n):
        done = tally.expect(loop, size)
        for i in range(size):
            queue.put_nowait(i)
        await done
    await _stop(consumer)


@workload("actor tell(): mailbox, one-at-a-time handling; per message", group="supervise")
async def actor_tell(loop: asyncio.AbstractEventLoop, n: int) -> None:
    tally = _Tally()
    ref = await spawn(_Counting, tally)
    for size in _batches(n):
        done = tally.expect(loop, size)
        for i in range(size):
            ref.tell(i)
        await done
    await ref.stop()


@workload("round trip: asyncio.Queue to a consumer task, answer through a future", group="supervise")
async def queue_future(loop: asyncio.AbstractEventLoop, n: int) -> None:
    handler = _Counting(_Tally())
    queue: asyncio.Queue[tuple[int, asyncio.Future[Any]]] = asyncio.Queue()

    async def serve() -> None:
        while True:
            message, reply = await queue.get()
            reply.set_result(await handler.handle(message))

    server = loop.create_task(serve())
    for i in range(n):
        reply = loop.create_future()
        queue.put_nowait((i, reply))
        await reply
    await _stop(server)


@workload("round trip: actor ask() with its default 5 s timeout", group="supervise")
async def actor_ask(loop: asyncio.AbstractEventLoop, n: int) -> None:
    ref = await spawn(_Counting, _Tally())
    for i in range(n):
        await ref.ask(i)
    await ref.stop()


class _Crash(Exception):
    pass


@workload("a Group worker crashes; time until its replacement runs", group="supervise")
async def group_restart(loop: asyncio.AbstractEventLoop, n: int) -> None:
    running: asyncio.Future[None] = loop.create_future()
    crash: asyncio.Future[None] = loop.create_future()

    async def worker() -> None:
        running.set_result(None)
        await crash
        raise _Crash

    group = Group(worker, max_restarts=n, period=3600.0)
    await group.start()
    await running
    for _ in range(n):
        order = crash
        running, crash = loop.create_future(), loop.create_future()
        order.set_result(None)
        await running
    await group.shutdown()
