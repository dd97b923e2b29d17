"""What runs inside a worker process of :func:`ringloop.scheduler.serve`: one ringloop loop,
placed as the CPU plan says, running ``worker(index)`` until it returns or SIGTERM asks it to
stop."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import ringloop

from .affinity import pin_this_thread
from .cpuplan import CpuPlan
from .loopopts import loop_options

log = logging.getLogger("ringloop.scheduler")

#: Blocked in the parent around each fork, so that a stop signal sent to a new worker before
#: it has its own handler waits for that handler instead of reaching the parent's.
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs; picklable (as the "spawn" start method needs) when
    ``worker`` is a module-level function."""

    worker: Callable[[int], Awaitable[Any]]
    plan: CpuPlan
    fallback: bool  # sqpoll="auto": a kernel refusing SQPOLL means a plain loop, not a crash
    entries: int
    sq_idle_ms: int
    parent: int  # the pid of serve()'s process: a worker stops when it is gone


def worker_main(spec: WorkerSpec, index: int) -> None:
    """The body of worker process ``index``: exits normally when the worker returns or is
    stopped (SIGTERM, or the end of its parent), with an error when the worker raises."""
    # A forked worker starts with its parent's handlers: SIGTERM would be swallowed by the
    # parent loop's handler, so it gets the default action until the worker's loop takes it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Ctrl+C reaches the whole process group; the parent relays it as one SIGTERM per worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    loop = _new_loop(spec, index)
    try:
        # After creating the loop: ringloop accepts a sq_cpu only among this thread's CPUs.
        pin_this_thread(spec.plan.loop_cpus)
    except BaseException:
        loop.close()
        raise
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        runner.run(_run_until_terminated(spec, index))
    # Closing the loop gave SIGTERM its default action back; a late one (sent to the whole
    # process group as well as by the parent, say) must not turn a clean exit into a kill.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _new_loop(spec: WorkerSpec, index: int) -> ringloop.Loop:
    options = loop_options(spec.plan, index, entries=spec.entries, sq_idle_ms=spec.sq_idle_ms)
    try:
        return ringloop.new_event_loop(**options)
    except RuntimeError as exc:
        if not (spec.fallback and spec.plan.sqpoll):
            raise
        log.warning("worker %d: SQPOLL refused by the kernel, running without it: %s", index, exc)
        return ringloop.new_event_loop(entries=spec.entries)


async def _run_until_terminated(spec: WorkerSpec, index: int) -> None:
    """Run ``worker(index)``; SIGTERM, or the end of the parent, cancels it, and that ends the
    worker normally."""
    loop = asyncio.get_running_loop()
    try:
        # A parent killed outright cannot stop its workers: each watches it, so none is orphaned.
        parent = os.pidfd_open(spec.parent)
    except ProcessLookupError:
        return
    task = asyncio.ensure_future(spec.worker(index))
    terminated = False

    def terminate() -> None:
        nonlocal terminated
        if not terminated:  # once: a second cancel would interrupt the worker's clean-up
            terminated = True
            task.cancel()

    # Left in place to the end: closing the loop removes it.
    loop.add_signal_handler(signal.SIGTERM, terminate)
    loop.add_reader(parent, terminate)
    try:
        await task
    except asyncio.CancelledError:
        if not terminated:
            raise
    finally:
        loop.remove_reader(parent)
        os.close(parent)
