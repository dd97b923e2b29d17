"""A supervisor's child specification, and how a child says that it is ready."""
from __future__ import annotations

import asyncio
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from .checks import check_callable, check_name, check_restart, check_timeout
from .policy import Restart

# The readiness future of the child whose task this is, when it asked to signal readiness.
_READY: ContextVar[asyncio.Future[bool] | None] = ContextVar("ringloop.supervise.ready", default=None)


@dataclass(frozen=True)
class Child:
    """How a supervisor runs one child: ``start`` is a zero-argument coroutine function.

    ``restart`` says when it is started again (default PERMANENT); ``shutdown`` is how many
    seconds it gets to end once cancelled before it is reported stuck (None: as long as it
    takes, for children that bound their own stop). The next child starts once this one is
    ready: once its task has run up to its first wait, or, with ``notify_ready=True``, once
    it calls :func:`notify_ready` (or ends). Failing before that is failing to start.
    """

    name: str
    start: Callable[[], Awaitable[Any]]
    restart: Restart = Restart.PERMANENT
    shutdown: float | None = 5.0
    notify_ready: bool = False

    def __post_init__(self) -> None:
        check_name("name", self.name)
        check_callable("start", self.start)
        # Frozen: the checked values are stored the way dataclasses itself does.
        object.__setattr__(self, "restart", check_restart(self.restart))
        object.__setattr__(self, "shutdown", check_timeout("shutdown", self.shutdown))
        if not isinstance(self.notify_ready, bool):
            raise TypeError(f"notify_ready must be a bool, not {type(self.notify_ready).__name__}")

    @property
    def shutdown_timeout(self) -> float | None:
        """``shutdown``, under the name that supervisors (which are children too) share."""
        return self.shutdown

    async def _launch(self, ready: asyncio.Future[bool]) -> Any:
        """Run the child in its own task; ``ready`` becomes True once it is ready.

        It becomes False if the child ends first: here, or by the done callback launch() adds,
        since a task cancelled before its first step never runs this coroutine at all.
        """
        # Set in this task's own context: the child's tasks inherit it, its supervisor does not,
        # and a readiness future inherited from an enclosing child is hidden.
        _READY.set(ready if self.notify_ready else None)
        if not self.notify_ready:
            # Ready once its first step is over: a child that fails before it first waits for
            # anything (a bad argument, a port in use) has failed to start, as OTP's init would.
            asyncio.get_running_loop().call_soon(resolve, ready, True)
        try:
            return await self.start()
        finally:
            # Before the call_soon above can say ready: failing in the first step is failing to start.
            resolve(ready, False)


def notify_ready() -> None:
    """Tell the supervisor that the calling child, started with ``notify_ready=True``, is ready.

    Its supervisor then starts the next child. Later calls do nothing; calling it anywhere
    else (outside such a child and the tasks it created) raises RuntimeError.
    """
    ready = _READY.get()
    if ready is None:
        raise RuntimeError("notify_ready() is called from a child started with Child(..., notify_ready=True)")
    resolve(ready, True)


def resolve(ready: asyncio.Future[bool], value: bool) -> None:
    """Set ``ready`` unless already settled (or cancelled, by a supervisor that stopped waiting)."""
    if not ready.done():
        ready.set_result(value)


def launch(loop: asyncio.AbstractEventLoop, spec: Any, name: str) -> tuple[asyncio.Task[Any], asyncio.Future[bool]]:
    """Start ``spec`` (a Child or a Supervisor) in a task named ``name``; return the task and
    its readiness future, True once it is ready, False if the task ended first."""
    ready: asyncio.Future[bool] = loop.create_future()
    task = loop.create_task(spec._launch(ready), name=name)
    task.add_done_callback(lambda _: resolve(ready, False))
    return task, ready
