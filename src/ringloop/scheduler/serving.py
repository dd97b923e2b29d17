"""serve(): N worker processes, each running ``worker(index)`` on its own ringloop loop.

The parent runs one (plain) ringloop loop of its own. Each worker process is watched by one
task of a :class:`ringloop.supervise.Group`, so a worker that dies is restarted under the
supervision layer's rules: backoff, and an intensity limit past which everything is stopped
and SupervisorGaveUp raised. SIGTERM or SIGINT to the parent stops every worker: each gets
SIGTERM, and one still running ``stop_timeout`` seconds later is killed with SIGKILL and
reported.
"""
from __future__ import annotations

import asyncio
import heapq
import logging
import multiprocessing
import os
import signal
from dataclasses import dataclass
from multiprocessing.context import ForkContext, SpawnContext
from typing import Any, Awaitable, Callable, Iterable, Literal

import ringloop
from ringloop.supervise import Group, Restart
from ringloop.supervise.checks import check_backoff, check_callable, check_count, check_seconds

from .cpuplan import CpuPlan, SqpollChoice, check_sqpoll, plan_cpus, read_machine, resolve_cpus, usable_cpus
from .loopopts import DEFAULT_SQ_IDLE_MS, check_loop_options
from .workerproc import STOP_SIGNALS, WorkerSpec, worker_main

log = logging.getLogger("ringloop.scheduler")

#: How long a worker killed with SIGKILL may take to be gone; only a process stuck in the
#: kernel takes longer, and serve() then reports it rather than wait forever.
KILL_WAIT = 5.0

StartMethod = Literal["fork", "spawn"]


@dataclass(frozen=True)
class WorkerExit:
    """How one worker process ended: ``exitcode`` as multiprocessing reports it (negative: the
    signal that ended it); ``killed`` if serve() killed it with SIGKILL because it was still
    running ``stop_timeout`` seconds after its SIGTERM; ``stopping`` if serve() had asked it to
    stop."""

    index: int
    pid: int
    exitcode: int
    killed: bool = False
    stopping: bool = False

    def describe(self) -> str:
        """How it ended, in words."""
        if self.killed:
            how = "killed with SIGKILL: still running after the stop timeout"
        elif self.exitcode < 0:
            how = f"ended by {signal.Signals(-self.exitcode).name}"
        else:
            how = f"exited with status {self.exitcode}"
        return f"worker {self.index} (pid {self.pid}) {how}"


class WorkerDied(Exception):
    """A worker process ended without being asked to (the restart policy's "failure")."""

    def __init__(self, exit: WorkerExit) -> None:
        super().__init__(exit.describe())
        self.exit = exit


@dataclass(frozen=True)
class ServeResult:
    """What serve() did: its CPU ``plan``, the signal that stopped it (``stopped_by``: "SIGTERM"
    or "SIGINT"), every worker process that ended, in the order they ended (``exits``), and
    how many restarts there were."""

    plan: CpuPlan
    stopped_by: str
    exits: tuple[WorkerExit, ...]
    restarts: int

    @property
    def killed(self) -> tuple[WorkerExit, ...]:
        """The workers killed with SIGKILL because they did not stop within the stop timeout."""
        return tuple(exit for exit in self.exits if exit.killed)


def serve(worker: Callable[[int], Awaitable[Any]], workers: int | None = None, *,
          sqpoll: SqpollChoice = "auto", cpus: Iterable[int] | None = None, entries: int = 256,
          sq_idle_ms: int = DEFAULT_SQ_IDLE_MS, stop_timeout: float = 10.0, max_restarts: int = 5,
          period: float = 10.0, backoff: tuple[float, float] | None = (0.1, 5.0),
          start_method: StartMethod = "fork") -> ServeResult:
    """Run ``workers`` worker processes (default: one per usable CPU), worker ``i`` running
    ``await worker(i)`` on a ringloop loop of its own, until SIGTERM or SIGINT; blocks.

    ``sqpoll``, ``cpus`` (default: the CPUs this thread may use) make the :class:`CpuPlan`:
    with ``"auto"`` each worker gets a SQPOLL thread only if every one of them can have a CPU
    of its own besides the workers' CPUs. Workers (and their threads) run off the SQPOLL CPUs.
    Listen with :func:`reuseport_socket` in each worker, so each accepts on its own.

    A worker process that ends is started again (even after a clean exit: a server's worker
    has no reason to end), each restart of the same worker delayed by ``backoff`` =
    ``(initial, maximum)`` seconds (doubling; None: at once). More than ``max_restarts``
    restarts within ``period`` seconds stop every worker and raise
    :class:`ringloop.supervise.SupervisorGaveUp` (its ``errors`` are :class:`WorkerDied`).

    On SIGTERM or SIGINT every worker gets SIGTERM, which cancels its ``worker(i)`` task;
    one still running ``stop_timeout`` seconds later is killed with SIGKILL, and
    :attr:`ServeResult.killed` lists it. Returns the :class:`ServeResult` once all are gone.

    ``start_method`` "fork" (the default; restarts take milliseconds) or "spawn" (a fresh
    interpreter per worker; ``worker`` must then be a module-level function). Raises TypeError
    or ValueError naming a bad argument; RuntimeError if called while an event loop runs.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # no loop runs in this thread: as it should be
    else:
        raise RuntimeError("serve() blocks until its workers stop: call it outside a running event loop")
    check_callable("worker", worker)
    if workers is not None:
        check_count("workers", workers, 1)
    check_sqpoll(sqpoll)
    check_loop_options(entries, sq_idle_ms)
    stop_timeout = check_seconds("stop_timeout", stop_timeout)
    check_count("max_restarts", max_restarts)
    period = check_seconds("period", period, positive=True)
    check_backoff(backoff)
    if start_method not in ("fork", "spawn"):
        raise ValueError(f"start_method must be 'fork' or 'spawn', got {start_method!r}")
    machine = read_machine(probe_sqpoll=False)  # a probe would leave a SQPOLL thread behind at fork time
    allowed = resolve_cpus(cpus)
    count = workers if workers is not None else max(1, usable_cpus(len(allowed), machine.quota))
    plan = plan_cpus(allowed, count, sq_threads=count, sqpoll=sqpoll, quota=machine.quota)
    log.info("serve: %d worker(s); %s", count, plan.reason)
    incarnations = _Incarnations(WorkerSpec(worker, plan, sqpoll == "auto", entries, sq_idle_ms, os.getpid()),
                                 multiprocessing.get_context("fork") if start_method == "fork"
                                 else multiprocessing.get_context("spawn"), stop_timeout)
    group = Group(incarnations, size=count, restart=Restart.PERMANENT, max_restarts=max_restarts, period=period,
                  backoff=backoff, shutdown_timeout=stop_timeout + KILL_WAIT, name="ringloop-worker")
    return ringloop.run(_supervise(group, incarnations))


async def _supervise(group: Group, incarnations: _Incarnations) -> ServeResult:
    """Keep the workers running until a stop signal, then stop them; the parent's main task."""
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[str] = loop.create_future()

    def stop(signum: signal.Signals) -> None:
        if not stopped.done():
            log.info("serve: %s received, stopping the workers", signum.name)
            stopped.set_result(signum.name)

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    try:
        stopped_by = await group.scope(stopped)
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
    return ServeResult(incarnations.spec.plan, stopped_by, tuple(incarnations.exits), group.stats().restarts)


class _Incarnations:
    """The Group's worker: each call runs one worker process, from start to end, on the lowest
    free index (the index of the worker it replaces)."""

    def __init__(self, spec: WorkerSpec, context: ForkContext | SpawnContext, stop_timeout: float) -> None:
        self.spec = spec
        self.context = context
        self.stop_timeout = stop_timeout
        self.free = list(range(spec.plan.loops))  # a heap
        self.exits: list[WorkerExit] = []

    async def __call__(self) -> WorkerExit:
        index = heapq.heappop(self.free)
        try:
            return await self._run(index)
        finally:
            heapq.heappush(self.free, index)

    async def _run(self, index: int) -> WorkerExit:
        """Start worker ``index``, wait until it ends; SIGTERM then SIGKILL it if cancelled.

        Returns its exit if it exited with status 0 on its own, raises WorkerDied if it died
        otherwise; the process is reaped and its fds closed whatever happens.
        """
        loop = asyncio.get_running_loop()
        process = self.context.Process(target=worker_main, args=(self.spec, index),
                                       name=f"ringloop-worker-{index}")
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        log.info("worker %d started (pid %d)", index, process.pid)
        ended: asyncio.Future[None] = loop.create_future()
        loop.add_reader(process.sentinel, _resolve, ended)
        killed = stopping = False
        try:
            try:
                # asyncio.wait, not a bare await: a cancellation must not cancel `ended`.
                await asyncio.wait([ended])
            except asyncio.CancelledError:
                stopping = True
                process.terminate()
                if not (await asyncio.wait([ended], timeout=self.stop_timeout))[0]:
                    log.warning("worker %d (pid %d) still running %g s after SIGTERM: killing it",
                                index, process.pid, self.stop_timeout)
                    process.kill()
                    killed = True
                    await asyncio.wait([ended])
                raise
        finally:
            loop.remove_reader(process.sentinel)
            if not ended.done():
                process.kill()  # interrupted (a second cancellation): never leave a process behind
            process.join()
            pid, exitcode = process.pid, process.exitcode
            assert pid is not None and exitcode is not None  # started, then joined
            exit = WorkerExit(index, pid, exitcode, killed, stopping)
            process.close()
            self.exits.append(exit)
            log.log(logging.INFO if stopping or exit.exitcode == 0 else logging.WARNING, "%s", exit.describe())
        if exit.exitcode != 0:
            raise WorkerDied(exit)
        return exit


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
