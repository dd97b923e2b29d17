"""Third degree: actors, each an object whose handle() gets its messages one at a time, in order.

An actor's state is its instance. A crash throws the instance away: the actor's task fails,
its supervisor (a one-worker Group of its own when spawn() is given none) restarts it, and
the new task builds a fresh instance. The mailbox belongs to the ActorRef, so it survives
the crash with every message, the one being handled first in line.
"""
from __future__ import annotations

import abc
import asyncio
import contextlib
import itertools
from collections import deque
from functools import partial
from typing import Any, Callable

from .checks import check_name, check_seconds, check_timeout
from .child import Child
from .group import Group
from .mailbox import DeadLetter, Mailbox
from .policy import ActorCrashed, ActorStopped, Restart
from .supervisor import Supervisor

_actor_ids = itertools.count(1)


class Actor(abc.ABC):
    """Subclass with an ``__init__`` that sets up the state and an ``async def handle(self, message)``."""

    @abc.abstractmethod
    async def handle(self, message: Any) -> Any:
        """Handle one message; the return value answers an ask().

        Raising crashes the actor: it restarts with a fresh instance and the message is
        delivered again (up to its mailbox's max_deliveries). To answer an ask with an error
        without crashing, return the error as a value.
        """


_Envelope = tuple[Any, "asyncio.Future[Any] | None"]


class ActorRef:
    """The way to reach a spawned actor: tell(), ask(), stop()."""

    def __init__(self, name: str, factory: Callable[[], Actor], mailbox: Mailbox[_Envelope]) -> None:
        self.name = name
        self._factory = factory
        self._mailbox = mailbox
        # The instance spawn() built to check the arguments; the first incarnation uses it.
        self._fresh: Actor | None = None
        self._runner: Group | Supervisor | None = None
        self._stopped = False
        self._expiries: dict[float, _Expiry] = {}

    def __repr__(self) -> str:
        return f"<ActorRef {self.name!r}{' stopped' if self._stopped else ''} {self._mailbox!r}>"

    @property
    def dead_letters(self) -> list[DeadLetter[Any]]:
        """The messages given up on: every delivery crashed the actor, or the actor was stopped first."""
        return [DeadLetter(letter.message[0], letter.errors) for letter in self._mailbox.dead_letters]

    @property
    def pending(self) -> int:
        """Messages in the mailbox, waiting or being handled."""
        return len(self._mailbox) + self._mailbox.in_flight

    def tell(self, message: Any) -> None:
        """Send ``message`` without waiting for it to be handled; never blocks.

        Raises asyncio.QueueFull if the mailbox is full, ActorStopped after stop().
        """
        if self._stopped:
            raise ActorStopped(f"actor {self.name!r} is stopped")
        self._mailbox.put_nowait((message, None))

    async def ask(self, message: Any, timeout: float | None = 5.0) -> Any:
        """Send ``message`` and return what handle() returns for it.

        Raises TimeoutError after ``timeout`` seconds (None: no limit; OTP's default is 5 s),
        ActorCrashed if every delivery of the message crashed the actor, ActorStopped if the
        actor is stopped first, asyncio.QueueFull if the mailbox is full. An ask that gives up
        leaves the message in the mailbox: it is still handled, the answer dropped.
        """
        timeout = check_timeout("timeout", timeout)
        if self._stopped:
            raise ActorStopped(f"actor {self.name!r} is stopped")
        loop = asyncio.get_running_loop()
        reply = loop.create_future()
        self._mailbox.put_nowait((message, reply))
        if timeout is not None:
            expiry = self._expiries.get(timeout)
            if expiry is None:
                expiry = self._expiries[timeout] = _Expiry(loop, timeout, self._expiries, self.name)
            expiry.add(reply)
        return await reply

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop the actor once it has handled the messages already sent (waiting up to ``timeout``
        seconds), then end its task (within ``timeout`` again) and remove it from its supervisor.

        From the call on, tell() and ask() raise ActorStopped; messages the actor did not
        reach are dead-lettered with ActorStopped, and their asks fail with it. Calling it
        again does nothing. An actor without a supervisor that had given up raises
        SupervisorGaveUp here.
        """
        timeout = check_seconds("timeout", timeout)
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._mailbox.join(), timeout)
        try:
            if isinstance(self._runner, Group):
                await self._runner.shutdown(timeout)
            elif isinstance(self._runner, Supervisor) and any(
                    info.name == self.name for info in self._runner.which_children()):
                await self._runner.terminate_child(self.name)
                await self._runner.delete_child(self.name)
        finally:
            for expiry in list(self._expiries.values()):
                expiry.close()
            error = ActorStopped(f"actor {self.name!r} was stopped before it reached this message")
            for message, reply in self._mailbox.drain():
                self._mailbox.dead_letters.append(DeadLetter((message, reply), (error,)))
                if reply is not None and not reply.done():
                    reply.set_exception(error)

    async def _run(self) -> None:
        """One incarnation of the actor: a fresh instance handling messages until it crashes."""
        actor, self._fresh = self._fresh, None
        if actor is None:
            actor = self._factory()
        mailbox = self._mailbox
        while True:
            if not mailbox:
                await mailbox._wait()
            envelope, errors = mailbox._take()
            message, reply = envelope
            try:
                result = await actor.handle(message)
            except BaseException as error:
                letter = mailbox._settle(envelope, errors, error)
                if letter is not None and reply is not None and not reply.done():
                    reply.set_exception(ActorCrashed(self.name, message, letter.errors))
                raise
            mailbox._settle(envelope, errors, None)
            if reply is not None and not reply.done():
                reply.set_result(result)


class _Expiry:
    """The timeouts of one actor's asks made with the same ``timeout``, on one loop timer.

    Such asks expire in the order they were made, so a deque of (deadline, reply) and a
    timer for its head serve them all; answered asks leave the head as new ones arrive, so
    the deque holds about the asks in flight. (A loop timer per ask, armed and cancelled,
    costs as much as the rest of the round trip.) It removes itself from ``owner`` once idle.
    """

    __slots__ = ("_loop", "_timeout", "_owner", "_actor", "_pending", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float, owner: dict[float, _Expiry],
                 actor: str) -> None:
        self._loop = loop
        self._timeout = timeout
        self._owner = owner
        self._actor = actor
        self._pending: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, reply: asyncio.Future[Any]) -> None:
        """Fail ``reply`` with TimeoutError if it is not answered within the timeout."""
        pending = self._pending
        while pending and pending[0][1].done():
            pending.popleft()
        pending.append((self._loop.time() + self._timeout, reply))
        if self._timer is None:
            self._timer = self._loop.call_at(pending[0][0], self._expire)

    def close(self) -> None:
        """Stop timing: the remaining replies are the caller's to settle."""
        if self._timer is not None:
            self._timer.cancel()
        self._owner.pop(self._timeout, None)

    def _expire(self) -> None:
        self._timer = None
        pending = self._pending
        now = self._loop.time()
        while pending and (pending[0][1].done() or pending[0][0] <= now):
            _, reply = pending.popleft()
            if not reply.done():
                reply.set_exception(TimeoutError(f"actor {self._actor!r} did not answer within {self._timeout:g} s"))
        if pending:
            self._timer = self._loop.call_at(pending[0][0], self._expire)
        else:
            self._owner.pop(self._timeout, None)


async def spawn(actor_class: type[Actor], *args: Any, supervisor: Supervisor | None = None,
                name: str | None = None, maxsize: int = 1000, max_deliveries: int = 3,
                max_restarts: int | None = None, period: float | None = None) -> ActorRef:
    """Start an actor, ``actor_class(*args)`` (again on each restart), and return its ref.

    Its mailbox holds up to ``maxsize`` messages (0: unbounded) and delivers each at most
    ``max_deliveries`` times. With a ``supervisor``, the actor is its TRANSIENT child named
    ``name`` (added by start_child(): it starts now if the supervisor runs, else with it).
    Without one, it runs in a one-worker Group of its own, giving up after more than
    ``max_restarts`` restarts (default 3) in ``period`` seconds (default 5). The arguments
    are checked by building the first instance here, so a wrong one raises from spawn().
    """
    if not (isinstance(actor_class, type) and issubclass(actor_class, Actor)):
        raise TypeError(f"actor_class must be a subclass of Actor, got {actor_class!r}")
    if supervisor is not None:
        if not isinstance(supervisor, Supervisor):
            raise TypeError(f"supervisor must be a Supervisor or None, not {type(supervisor).__name__}")
        if max_restarts is not None or period is not None:
            raise ValueError("max_restarts and period apply to an actor without a supervisor; "
                             "under one, the supervisor's own limits apply")
    name = f"{actor_class.__name__}-{next(_actor_ids)}" if name is None else check_name("name", name)
    ref = ActorRef(name, partial(actor_class, *args), Mailbox(maxsize, max_deliveries))
    ref._fresh = actor_class(*args)
    if supervisor is None:
        limits: dict[str, Any] = {key: value for key, value in (("max_restarts", max_restarts), ("period", period))
                  if value is not None}
        group = Group(ref._run, restart=Restart.TRANSIENT, name=name, **limits)
        await group.start()
        ref._runner = group
    else:
        await supervisor.start_child(Child(name, ref._run, restart=Restart.TRANSIENT))
        ref._runner = supervisor
    return ref
