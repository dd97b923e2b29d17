"""Second degree: a mailbox that outlives its consumers and loses no message when one crashes.

A message taken by a consumer stays the mailbox's until the consumer acknowledges it: it
counts against ``maxsize`` while in flight, so putting it back after a crash always has
room, and producers never learn that a consumer crashed.
"""
from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar

from .checks import check_count

T = TypeVar("T")


@dataclass(frozen=True)
class DeadLetter(Generic[T]):
    """A message given up on, with the error of each of its failed deliveries, oldest first."""

    message: T
    errors: tuple[BaseException, ...]


class Mailbox(Generic[T]):
    """A FIFO queue with at-least-once delivery through :meth:`receive`.

    ``maxsize`` bounds the messages queued plus those in flight (0: unbounded). A message is
    delivered at most ``max_deliveries`` times in all; when its last delivery fails too it
    moves to :attr:`dead_letters`.
    """

    def __init__(self, maxsize: int = 0, max_deliveries: int = 3) -> None:
        self.maxsize = check_count("maxsize", maxsize)
        self.max_deliveries = check_count("max_deliveries", max_deliveries, 1)
        #: Messages whose every delivery failed, in the order they were given up on. The
        #: mailbox only appends; the owner may inspect and clear the list.
        self.dead_letters: list[DeadLetter[T]] = []
        self._queue: deque[T] = deque()
        # Messages to deliver again, with the errors so far; they go before the queue.
        self._again: deque[tuple[T, tuple[BaseException, ...]]] = deque()
        self._in_flight = 0
        self._getters: deque[asyncio.Future[None]] = deque()
        self._putters: deque[asyncio.Future[None]] = deque()
        self._joiners: list[asyncio.Future[None]] = []

    def __len__(self) -> int:
        """Messages waiting for delivery (not counting those in flight)."""
        return len(self._queue) + len(self._again)

    def __repr__(self) -> str:
        return (f"<Mailbox queued={len(self)} in_flight={self._in_flight} maxsize={self.maxsize} "
                f"dead_letters={len(self.dead_letters)}>")

    @property
    def in_flight(self) -> int:
        """Messages received but not yet acknowledged."""
        return self._in_flight

    def full(self) -> bool:
        """Whether put_nowait() would raise: queued plus in-flight messages reach ``maxsize``."""
        return 0 < self.maxsize <= len(self._queue) + len(self._again) + self._in_flight

    def put_nowait(self, message: T) -> None:
        """Queue ``message`` last; raises asyncio.QueueFull if the mailbox is full."""
        # full() and _wake_one() inlined: this is the cost of every tell().
        if self.maxsize and self.maxsize <= len(self._queue) + len(self._again) + self._in_flight:
            raise asyncio.QueueFull(f"mailbox full ({self.maxsize} messages queued or in flight)")
        self._queue.append(message)
        if self._getters:
            _wake_one(self._getters)

    async def put(self, message: T) -> None:
        """Queue ``message`` last, waiting while the mailbox is full."""
        if self.full():
            await self._wait(for_room=True)
        self.put_nowait(message)

    def receive(self) -> Receipt[T]:
        """An async context manager that waits for the first message in line and delivers it.

        The message is acknowledged when the block ends normally. If the block raises or its
        task is cancelled, the message goes back first in line, or to :attr:`dead_letters`
        after its ``max_deliveries``-th delivery; the exception propagates either way.
        """
        return Receipt(self)

    async def join(self) -> None:
        """Wait until no message is queued or in flight (dead letters do not count)."""
        if self._idle():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._joiners.append(waiter)
        await waiter

    def drain(self) -> list[T]:
        """Remove and return every message waiting for delivery, first in line first; those in
        flight stay the consumers'."""
        messages = [message for message, _ in self._again]
        messages.extend(self._queue)
        self._again.clear()
        self._queue.clear()
        self._settled(len(messages))
        return messages

    def _take(self) -> tuple[T, tuple[BaseException, ...]]:
        """The first message in line, now in flight, with the errors of its earlier deliveries.

        The caller has checked that one is waiting, and must hand it to :meth:`_settle` once done.
        """
        self._in_flight += 1
        if self._again:
            return self._again.popleft()
        return self._queue.popleft(), ()

    async def _wait(self, for_room: bool = False) -> None:
        """Wait until a message waits for delivery, or, ``for_room``, until one can be put.

        Waiters queue up and are woken one at a time by _wake_one(). If a task is cancelled
        just after being woken, it passes the turn on, so that the wake-up is not lost
        (asyncio.Queue does the same).
        """
        waiters = self._putters if for_room else self._getters
        while self._blocked(for_room):
            waiter = asyncio.get_running_loop().create_future()
            waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                waiter.cancel()
                try:
                    waiters.remove(waiter)
                except ValueError:
                    pass
                if not waiter.cancelled() and not self._blocked(for_room):
                    _wake_one(waiters)
                raise

    def _blocked(self, for_room: bool) -> bool:
        return self.full() if for_room else not (self._queue or self._again)

    def _settle(self, message: T, errors: tuple[BaseException, ...], error: BaseException | None
                ) -> DeadLetter[T] | None:
        """End a delivery: acknowledge it (``error`` None), deliver it again, or dead-letter it.

        Returns the dead letter when this was its last delivery.
        """
        self._in_flight -= 1
        if error is None:
            if self._putters or self._joiners:
                self._settled()
            return None
        errors += (error,)
        if len(errors) < self.max_deliveries:
            # Its room in the mailbox passes from in flight back to queued: no putter to wake.
            self._again.append((message, errors))
            _wake_one(self._getters)
            return None
        letter = DeadLetter(message, errors)
        self.dead_letters.append(letter)
        self._settled()
        return letter

    def _idle(self) -> bool:
        return not (self._queue or self._again or self._in_flight)

    def _settled(self, freed: int = 1) -> None:
        """Room for ``freed`` messages was made: let as many putters in, and release the
        joiners if nothing is left."""
        for _ in range(min(freed, len(self._putters))):
            _wake_one(self._putters)
        if self._joiners and self._idle():
            for waiter in self._joiners:
                if not waiter.done():
                    waiter.set_result(None)
            self._joiners.clear()


class Receipt(Generic[T]):
    """One delivery from a :class:`Mailbox`, made by ``async with mailbox.receive() as message``."""

    __slots__ = ("_mailbox", "_message", "_errors", "_state")

    def __init__(self, mailbox: Mailbox[T]) -> None:
        self._mailbox = mailbox
        self._errors: tuple[BaseException, ...] = ()
        self._state = "new"

    @property
    def delivery(self) -> int:
        """Which delivery of the message this is: 1 the first time, up to ``max_deliveries``."""
        return len(self._errors) + 1

    async def __aenter__(self) -> T:
        if self._state != "new":
            raise RuntimeError("a receipt delivers one message; call receive() again")
        mailbox = self._mailbox
        if not (mailbox._queue or mailbox._again):
            await mailbox._wait()
        self._message, self._errors = mailbox._take()
        self._state = "open"
        return self._message

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._state = "settled"
        self._mailbox._settle(self._message, self._errors, exc)


def _wake_one(waiters: deque[asyncio.Future[None]]) -> None:
    while waiters:
        waiter = waiters.popleft()
        if not waiter.done():
            waiter.set_result(None)
            return
