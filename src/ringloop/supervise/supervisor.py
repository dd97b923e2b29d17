"""Second degree: supervision trees with OTP's semantics.

A running supervisor is one task, its manager, that starts the children in order and then
handles their exits one at a time; the API calls (start_child, ...) take the same turn, so
nothing a supervisor does to its children ever interleaves. A nested supervisor's manager
is the child task its parent runs it in, so trees nest with no extra machinery: when it
gives up it raises SupervisorGaveUp, which is an ordinary failure of a child to its parent.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, AsyncIterator, Literal, Union

from .checks import check_count, check_name, check_restart, check_seconds, check_timeout
from .child import Child, launch, resolve
from .outcome import Outcome, outcome_of, stop_tasks
from .policy import Intensity, Restart, SupervisorGaveUp
from .scope import Supervised

STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")

Spec = Union[Child, "Supervisor"]


@dataclass(frozen=True)
class ChildInfo:
    """One entry of which_children(): ``task`` is the running child's task, None if it is not running."""

    name: str
    kind: Literal["worker", "supervisor"]
    restart: Restart
    task: asyncio.Task[Any] | None


@dataclass(frozen=True)
class ChildCounts:
    """count_children(), as OTP counts: child specs, running children, and specs of each kind."""

    specs: int
    active: int
    supervisors: int
    workers: int


class Supervisor(Supervised):
    """Runs ``children`` (Child specs and nested Supervisors) and restarts them by ``strategy``:

    - ``"one_for_one"``: only the child that ended is restarted;
    - ``"one_for_all"``: all the others are stopped too (in reverse order), then all restarted;
    - ``"rest_for_one"``: the children started after it are stopped, then it and they restarted.

    Children start in order, each once the previous is ready, and stop in reverse order,
    each within its own shutdown timeout. More than ``max_restarts`` restarts within
    ``period`` seconds stop every child, and the supervisor fails with SupervisorGaveUp: to
    its parent, that is a crash of this child. As a child itself it is ``name``, restarted per
    ``restart``, with ``shutdown`` as its stop timeout (None: as long as its children's
    timeouts add up to).
    """

    def __init__(self, children: Iterable[Spec] = (), *, strategy: str = "one_for_one",
                 max_restarts: int = 3, period: float = 5.0, name: str = "supervisor",
                 restart: Restart | str = Restart.PERMANENT, shutdown: float | None = None) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        self.strategy = strategy
        self.name = check_name("name", name)
        self.restart = check_restart(restart)
        self.shutdown_timeout = check_timeout("shutdown", shutdown)
        self._intensity = Intensity(check_count("max_restarts", max_restarts),
                                    check_seconds("period", period, positive=True))
        self._errors: deque[BaseException] = deque(maxlen=max_restarts + 1)
        if not isinstance(children, Iterable):
            raise TypeError(f"children must be an iterable of Child and Supervisor, not {type(children).__name__}")
        self._specs: dict[str, Spec] = {}
        for child in children:
            self._add_spec(child)
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._outcomes: dict[str, Outcome] = {}
        self._exits: asyncio.Queue[tuple[str, asyncio.Task[Any]]] | None = None
        self._lock: asyncio.Lock | None = None
        self._running = False
        self._failure: SupervisorGaveUp | None = None
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Supervisor {self.name!r} {self.strategy} children={list(self._specs)}>"

    async def start(self) -> None:
        """Start the children in order in a manager task, and return once the last is ready.

        Raises SupervisorGaveUp if a child fails before it is ready (the children already
        started are stopped first), RuntimeError if the supervisor already runs.
        """
        if self._running or self._task is not None:
            raise RuntimeError(f"supervisor {self.name!r} runs, or was started and not shut down since")
        task, ready = launch(asyncio.get_running_loop(), self, f"supervisor {self.name}")
        self._task = task
        task.add_done_callback(self._ended)
        try:
            started = await ready
        except asyncio.CancelledError:
            await stop_tasks([([task], None)])
            self._task = None
            raise
        if not started:
            self._task = None
            if task.cancelled():
                raise RuntimeError(f"supervisor {self.name!r} was shut down while it started")
            task.result()

    async def shutdown(self) -> dict[str, Outcome]:
        """Stop the children in reverse start order, each within its shutdown timeout, and return
        how each child ended, by name in start order (stuck children included, and those that
        had ended before).

        Raises SupervisorGaveUp if the supervisor gave up, on every call until it starts again.
        """
        task = self._task
        if task is not None:
            await stop_tasks([([task], None)])
            if self._task is task:
                self._task = None
        if self._failure is not None:
            raise self._failure
        # Start order, then the children no longer specified (temporary ones that ended).
        return {name: self._outcomes[name] for name in (*self._specs, *self._outcomes) if name in self._outcomes}

    def which_children(self) -> list[ChildInfo]:
        """Every child spec, in start order, with its task if it runs."""
        return [ChildInfo(name, "supervisor" if isinstance(spec, Supervisor) else "worker", spec.restart,
                          self._tasks.get(name)) for name, spec in self._specs.items()]

    def count_children(self) -> ChildCounts:
        """How many child specs, running children, supervisor specs and worker specs there are."""
        supervisors = sum(isinstance(spec, Supervisor) for spec in self._specs.values())
        return ChildCounts(len(self._specs), len(self._tasks), supervisors, len(self._specs) - supervisors)

    async def start_child(self, child: Spec) -> None:
        """Add ``child`` last and, if the supervisor runs, start it and wait until it is ready.

        Raises ValueError if a child has its name; if it fails before it is ready, its spec is
        dropped again and its error raised.
        """
        async with self._turn() as running:
            self._add_spec(child)
            if running:
                error = await self._start_on_request(child.name)
                if error is not None:
                    del self._specs[child.name]
                    raise error

    async def terminate_child(self, name: str) -> Outcome | None:
        """Stop the child ``name`` within its shutdown timeout and return its outcome (None if it
        was not running). Its spec stays, to restart_child() later, unless it is TEMPORARY.
        """
        async with self._turn():
            spec = self._spec(name)
            outcome = None
            if name in self._tasks:
                await self._stop_children([name])
                outcome = self._outcomes[name]
            if spec.restart is Restart.TEMPORARY:
                del self._specs[name]
            return outcome

    async def restart_child(self, name: str) -> None:
        """Start the terminated child ``name`` again and wait until it is ready.

        Raises ValueError if it runs, RuntimeError if the supervisor does not, and the
        child's error if it fails before it is ready.
        """
        async with self._turn() as running:
            self._spec(name)
            if not running:
                raise RuntimeError(f"supervisor {self.name!r} is not running")
            if name in self._tasks:
                raise ValueError(f"name: child {name!r} is running; terminate it first")
            error = await self._start_on_request(name)
            if error is not None:
                raise error

    async def delete_child(self, name: str) -> None:
        """Forget the terminated child ``name``. Raises ValueError if it runs."""
        async with self._turn():
            self._spec(name)
            task = self._tasks.get(name)
            if task is not None:
                if not task.done():
                    raise ValueError(f"name: child {name!r} is running; terminate it first")
                # It ended and its exit is still queued: record it here; the manager will skip it.
                del self._tasks[name]
                self._outcomes[name] = outcome_of(name, task, stopping=False)
            del self._specs[name]

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[bool]:
        """Yield whether the supervisor runs, holding its lock if so (as OTP serializes calls)."""
        if not self._running:
            yield False
            return
        assert self._lock is not None
        async with self._lock:
            yield self._running

    def _add_spec(self, child: object) -> None:
        if not isinstance(child, (Child, Supervisor)):
            raise TypeError(f"child must be a Child or a Supervisor, not {type(child).__name__}")
        if child.name in self._specs:
            raise ValueError(f"child: supervisor {self.name!r} already has a child named {child.name!r}")
        if child is self:
            raise ValueError(f"child: supervisor {self.name!r} cannot supervise itself")
        self._specs[child.name] = child

    def _spec(self, name: str) -> Spec:
        try:
            return self._specs[name]
        except KeyError:
            raise ValueError(f"name: supervisor {self.name!r} has no child named {name!r}") from None

    async def _launch(self, ready: asyncio.Future[bool]) -> None:
        """Run this supervisor in the current task (its own manager, or a child task of its
        parent): ``ready`` becomes True once every child is ready."""
        if self._running:
            raise RuntimeError(f"supervisor {self.name!r} is already running")
        self._running = True
        self._failure = None
        self._intensity.reset()
        self._errors.clear()
        self._outcomes = {}
        exits: asyncio.Queue[tuple[str, asyncio.Task[Any]]] = asyncio.Queue()
        self._exits = exits
        self._lock = lock = asyncio.Lock()
        try:
            async with lock:
                for name in list(self._specs):
                    error = await self._start_child(name)
                    if error is not None:
                        raise self._give_up(f"child {name!r} failed to start", [error])
            resolve(ready, True)
            while True:
                name, task = await exits.get()
                async with lock:
                    await self._handle_exit(name, task)
        finally:
            # API calls waiting for their turn now find the supervisor stopped.
            self._running = False
            # In start order, which is the specs' (a child restarted on request keeps its place).
            await self._stop_children(list(self._specs))
            if self._failure is not None:
                self._failure.outcomes = tuple(self._outcomes.values())

    async def _start_child(self, name: str) -> BaseException | None:
        """Start child ``name`` and wait until it is ready; return its error if it failed first."""
        task, ready = launch(asyncio.get_running_loop(), self._specs[name], f"{self.name}/{name}")
        self._tasks[name] = task
        task.add_done_callback(partial(self._exited, name))
        if await ready:
            return None
        # It ended before it was ready. A normal return still means it ran; its exit is
        # queued for the restart policy.
        return outcome_of(name, task, stopping=False).error

    async def _start_on_request(self, name: str) -> BaseException | None:
        """Start a child for an API call. A child that fails before it is ready is the caller's
        error, as in OTP, not a crash to restart: its queued exit is made stale."""
        error = await self._start_child(name)
        if error is not None:
            del self._tasks[name]
        return error

    def _exited(self, name: str, task: asyncio.Task[Any]) -> None:
        """Done callback of every child task: queue the exit for the manager."""
        if not task.cancelled():
            task.exception()  # retrieved here: a stuck child that fails after the stop is no loop error
        assert self._exits is not None
        self._exits.put_nowait((name, task))

    async def _handle_exit(self, name: str, task: asyncio.Task[Any]) -> None:
        if self._tasks.get(name) is not task:
            return  # stopped by the supervisor itself, or already accounted for
        del self._tasks[name]
        outcome = self._outcomes[name] = outcome_of(name, task, stopping=False)
        spec = self._specs[name]
        if not spec.restart.restarts(outcome.failed):
            if spec.restart is Restart.TEMPORARY:
                del self._specs[name]
            return
        if outcome.error is not None:
            self._errors.append(outcome.error)
        if not self._intensity.allow(asyncio.get_running_loop().time()):
            raise self._give_up(self._intensity.describe(), self._errors)
        names = list(self._specs)
        if self.strategy == "one_for_one":
            affected = [name]
        elif self.strategy == "one_for_all":
            affected = names
        else:
            affected = names[names.index(name):]
        await self._stop_children(affected)
        for other in affected:
            if other != name and self._specs[other].restart is Restart.TEMPORARY:
                del self._specs[other]  # OTP: a temporary child stopped for a sibling is not restarted
                continue
            # A child that fails to start has its exit queued, which the next turn handles.
            await self._start_child(other)

    async def _stop_children(self, names: list[str]) -> None:
        """Stop the running children among ``names`` in reverse order, each within its timeout."""
        stopping = [(name, self._tasks.pop(name)) for name in reversed(names) if name in self._tasks]
        try:
            await stop_tasks([([task], self._specs[name].shutdown_timeout) for name, task in stopping])
        finally:
            # Also when this task was cancelled meanwhile: stop_tasks finished every step first.
            for name, task in stopping:
                self._outcomes[name] = outcome_of(name, task, stopping=True)

    def _give_up(self, reason: str, errors: Iterable[BaseException]) -> SupervisorGaveUp:
        self._failure = SupervisorGaveUp(self.name, reason, list(errors))
        return self._failure

    def _ended(self, task: asyncio.Task[None]) -> None:
        """Done callback of a top-level supervisor's manager task."""
        if not task.cancelled():
            task.exception()  # retrieved: start() or shutdown() raise it
        if self._failure is not None:
            self._cancel_owner()
