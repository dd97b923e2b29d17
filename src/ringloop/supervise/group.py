"""First degree: a group of identical workers, restarted by policy when they end.

A group has no task of its own. Each worker incarnation is a task whose done callback
decides what happens next, so a crashed worker's replacement is created in the callback
that learns of the crash; delayed restarts (backoff, spawn_interval) are timer handles.
"""
from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass
from functools import partial
from typing import Any, AsyncIterator, Awaitable, Callable

from .checks import (check_backoff, check_callable, check_count, check_name, check_restart,
                     check_seconds)
from .outcome import Outcome, outcome_of, stop_tasks
from .policy import Intensity, Restart, SupervisorGaveUp
from .scope import Supervised

# Each reads after "the group is".
_IDLE = "stopped"
_RUNNING = "running"
_GAVE_UP = "down after giving up"
_STOPPING = "stopping"


@dataclass(frozen=True)
class GroupStats:
    """A snapshot of a group's counters; all but ``running`` only grow over the group's life."""

    #: Worker tasks on the loop now.
    running: int
    #: Worker incarnations spawned.
    started: int
    #: Incarnations spawned to replace one that ended.
    restarts: int
    #: Incarnations that raised, or were cancelled by someone other than the group.
    failures: int
    #: Incarnations that returned.
    completed: int
    #: Events the group handled (spawns, exits, scaling, stops); grows with every change.
    iterations: int


class _Slot:
    """One place in the group: its current incarnation, or the timer that will spawn the next."""

    __slots__ = ("name", "task", "timer", "started_at", "attempt", "outcome", "stopping")

    def __init__(self, name: str) -> None:
        self.name = name
        self.task: asyncio.Task[Any] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.started_at = 0.0
        # Restarts since the last quiet period: the backoff exponent.
        self.attempt = 0
        self.outcome: Outcome | None = None
        self.stopping = False


class Group(Supervised):
    """``size`` copies of ``worker`` (a zero-argument coroutine function), restarted per ``restart``.

    More than ``max_restarts`` restarts within ``period`` seconds make the group stop all
    its workers and fail with SupervisorGaveUp. ``backoff=(initial, maximum)`` delays each
    restart of a worker, doubling while it keeps ending and resetting once it has run for
    ``period`` seconds. Consecutive spawns are at least ``spawn_interval`` seconds apart.
    ``shutdown_timeout`` bounds the stops done by `async with`, scope() and downscale().
    """

    def __init__(self, worker: Callable[[], Awaitable[Any]], *, size: int = 1,
                 restart: Restart | str = Restart.PERMANENT, max_restarts: int = 3, period: float = 5.0,
                 backoff: tuple[float, float] | None = None, spawn_interval: float = 0.0,
                 shutdown_timeout: float = 5.0, name: str | None = None) -> None:
        self._worker = check_callable("worker", worker)
        self.name = getattr(worker, "__name__", "group") if name is None else check_name("name", name)
        self.restart = check_restart(restart)
        self._size = check_count("size", size)
        self._intensity = Intensity(check_count("max_restarts", max_restarts),
                                    check_seconds("period", period, positive=True))
        self._backoff = check_backoff(backoff)
        self._spawn_interval = check_seconds("spawn_interval", spawn_interval)
        self._shutdown_timeout = check_seconds("shutdown_timeout", shutdown_timeout)
        self._state = _IDLE
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: list[_Slot] = []
        self._slot_ids = itertools.count()  # names of the slots of one run
        self._next_spawn = 0.0
        self._errors: deque[BaseException] = deque(maxlen=max_restarts + 1)
        self._failure: SupervisorGaveUp | None = None
        self._outcomes: list[Outcome] = []
        self._stopped: asyncio.Future[None] | None = None
        self._watchers: list[asyncio.Future[None]] = []
        self._started = self._restarts = self._failures = self._completed = self._iterations = 0

    @property
    def size(self) -> int:
        """How many workers the group runs (or will run once started)."""
        return self._size

    async def start(self) -> None:
        """Spawn the workers on the running loop and return without waiting for them.

        Workers beyond the first wait their turn, ``spawn_interval`` apart. A group that was
        shut down starts afresh (new workers, restart intensity reset; the counters of
        stats() keep growing). Raises RuntimeError unless the group is stopped.
        """
        if self._state is not _IDLE:
            raise RuntimeError(f"group {self.name!r} is {self._state}; shut it down before starting it again")
        self._loop = asyncio.get_running_loop()
        self._state = _RUNNING
        self._intensity.reset()
        self._errors.clear()
        self._failure = None
        self._outcomes = []
        self._slots = []
        self._slot_ids = itertools.count()
        self._next_spawn = self._loop.time()
        self._grow(self._size)

    def upscale(self, n: int = 1) -> None:
        """Add ``n`` workers: spawned now (paced by spawn_interval) if the group runs, else at its start.

        Raises RuntimeError while the group stops or after it gave up.
        """
        check_count("n", n, 1)
        self._refuse_while_stopping()
        self._size += n
        if self._state is _RUNNING:
            self._grow(n)

    async def downscale(self, n: int = 1) -> list[Outcome]:
        """Remove the ``n`` most recently added workers, stopping them within ``shutdown_timeout``.

        Returns their outcomes (empty if the group is not running). Raises ValueError if the
        group has fewer than ``n`` workers, RuntimeError while it stops or after it gave up.
        """
        check_count("n", n, 1)
        if n > self._size:
            raise ValueError(f"n: cannot remove {n} workers from a group of {self._size}")
        self._refuse_while_stopping()
        self._size -= n
        if self._state is not _RUNNING:
            return []
        removed = self._slots[-n:]
        del self._slots[-n:]
        await stop_tasks([(self._cancel(removed), self._shutdown_timeout)])
        self._notify()
        return self._collect(removed)

    async def shutdown(self, timeout: float | None = None) -> list[Outcome]:
        """Cancel every worker, wait up to ``timeout`` seconds (None: ``shutdown_timeout``), and
        return each worker's outcome, in worker order.

        Workers still running when the time is up are reported as ``"stuck"`` and left alone;
        no other task or timer of the group remains. Exits the policy did not restart are kept
        here too. Raises SupervisorGaveUp (with these outcomes) if the group gave up, on every
        call until it is started again; shutting down a stopped group returns its last outcomes.
        """
        timeout = self._shutdown_timeout if timeout is None else check_seconds("timeout", timeout)
        if self._state is _STOPPING:
            assert self._stopped is not None
            # Another task is shutting the group down: wait for it, without cancelling its stop.
            await asyncio.shield(self._stopped)
        elif self._state is not _IDLE:
            await self._stop(timeout)
        if self._failure is not None:
            raise self._failure
        return list(self._outcomes)

    def stats(self) -> GroupStats:
        """The group's counters now."""
        running = sum(1 for slot in self._slots if slot.task is not None)
        return GroupStats(running, self._started, self._restarts, self._failures, self._completed,
                          self._iterations)

    def watch(self) -> AsyncIterator[GroupStats]:
        """An async iterator of stats(): now, then after each change, ending once the group is stopped.

        Latest-value semantics: a reader slower than the changes skips to the newest
        snapshot rather than queueing them. On a group that is not running it yields once.
        Leaving the loop early needs no clean-up (it is not an async generator).
        """
        return _Watch(self)

    def _refuse_while_stopping(self) -> None:
        if self._state in (_GAVE_UP, _STOPPING):
            raise RuntimeError(f"group {self.name!r} is {self._state}")

    def _grow(self, n: int) -> None:
        """Add ``n`` slots and spawn their workers as soon as spawn_interval allows."""
        assert self._loop is not None
        now = self._loop.time()
        for _ in range(n):
            slot = _Slot(f"{self.name}-{next(self._slot_ids)}")
            self._slots.append(slot)
            self._schedule(slot, now)

    def _schedule(self, slot: _Slot, earliest: float) -> None:
        """Spawn ``slot``'s next worker at ``earliest``, or later if spawn_interval says so."""
        assert self._loop is not None
        at = max(earliest, self._next_spawn)
        self._next_spawn = at + self._spawn_interval
        if at <= self._loop.time():
            self._spawn(slot)
        else:
            slot.timer = self._loop.call_at(at, self._spawn, slot)

    def _spawn(self, slot: _Slot) -> None:
        assert self._loop is not None
        slot.timer = None
        slot.started_at = self._loop.time()
        slot.task = self._loop.create_task(self._incarnation(), name=slot.name)
        slot.task.add_done_callback(partial(self._exited, slot))
        self._started += 1
        self._notify()

    async def _incarnation(self) -> Any:
        # Calling the worker inside the task makes an error raised by the call itself a
        # failure of this incarnation, handled by the policy like any other.
        return await self._worker()

    def _exited(self, slot: _Slot, task: asyncio.Task[Any]) -> None:
        """Done callback of every incarnation: count it, then restart, give up, or let it rest."""
        assert self._loop is not None
        slot.task = None
        slot.outcome = outcome = outcome_of(slot.name, task, stopping=slot.stopping)
        if outcome.kind == "failed":
            self._failures += 1
        elif outcome.kind == "returned":
            self._completed += 1
        if slot.stopping or self._state is not _RUNNING or not self.restart.restarts(outcome.failed):
            self._notify()
            return
        now = self._loop.time()
        if outcome.error is not None:
            self._errors.append(outcome.error)
        if not self._intensity.allow(now):
            self._give_up()
            return
        self._restarts += 1
        if now - slot.started_at >= self._intensity.period:
            slot.attempt = 0
        delay = 0.0 if self._backoff is None else self._backoff.delay(slot.attempt)
        slot.attempt += 1
        self._schedule(slot, now + delay)
        self._notify()

    def _give_up(self) -> None:
        """Too many restarts: cancel every worker now; shutdown() collects them and raises."""
        self._state = _GAVE_UP
        self._failure = SupervisorGaveUp(self.name, self._intensity.describe(), self._errors)
        self._cancel(self._slots)
        self._cancel_owner()
        self._notify()

    async def _stop(self, timeout: float) -> None:
        assert self._loop is not None
        self._state = _STOPPING
        self._stopped = self._loop.create_future()
        try:
            await stop_tasks([(self._cancel(self._slots), timeout)])
        finally:
            # Also when the caller was cancelled: stop_tasks finished its bounded wait first.
            self._outcomes = self._collect(self._slots)
            if self._failure is not None:
                self._failure.outcomes = tuple(self._outcomes)
            self._state = _IDLE
            self._stopped.set_result(None)
            self._stopped = None
            self._notify()

    @staticmethod
    def _cancel(slots: list[_Slot]) -> list[asyncio.Task[Any]]:
        """Cancel the pending spawns and the workers of ``slots``; return the workers' tasks."""
        tasks = []
        for slot in slots:
            if slot.timer is not None:
                slot.timer.cancel()
                slot.timer = None
            if slot.task is not None:
                # Once only: a second cancel would interrupt a worker's clean-up after the first.
                if not slot.stopping:
                    slot.stopping = True
                    slot.task.cancel()
                tasks.append(slot.task)
        return tasks

    @staticmethod
    def _collect(slots: list[_Slot]) -> list[Outcome]:
        """The outcome of each slot once stopped: its task's (stuck if still running), else its last
        exit's; a slot whose first worker was never spawned counts as cancelled."""
        return [outcome_of(slot.name, slot.task, stopping=True) if slot.task is not None
                else slot.outcome or Outcome(slot.name, "cancelled") for slot in slots]

    def _notify(self) -> None:
        """Count an event and wake the watchers."""
        self._iterations += 1
        if self._watchers:
            for waiter in self._watchers:
                if not waiter.done():
                    waiter.set_result(None)
            self._watchers.clear()


class _Watch:
    """The iterator of Group.watch()."""

    def __init__(self, group: Group) -> None:
        self._group = group
        self._seen = -1

    def __aiter__(self) -> _Watch:
        return self

    async def __anext__(self) -> GroupStats:
        group = self._group
        while group._iterations == self._seen:
            if group._state is _IDLE:
                raise StopAsyncIteration
            waiter = asyncio.get_running_loop().create_future()
            group._watchers.append(waiter)
            await waiter
        self._seen = group._iterations
        return group.stats()
