"""Op-futures: an awaitable per ring operation.

An :class:`OpFuture` is an asyncio future that a ring completion resolves.  The
task awaiting it is woken the asyncio way (the future's done callbacks); the
ring's table, not the future, keeps the operation's buffers alive.  Cancelling
the future (or the task awaiting it) stops the operation: one still queued in
user space becomes a no-op and never happens; one the kernel already has gets
an ASYNC_CANCEL.  Either way the buffers stay pinned until the kernel posts
the final completion.
"""
from __future__ import annotations

import asyncio
import errno
import os
from typing import Any, Callable

from .._ring.errors import os_error
from .._ring.ring import Ring

_ETIME = errno.ETIME


class OpFuture(asyncio.Future[Any]):
    """Resolves to the operation's non-negative result, or raises its OSError."""

    # Slots, not an instance dict: one is made per operation.
    __slots__ = ("_ring", "_token", "_late")

    _ring: Ring
    _token: int
    #: Called with the result of an operation that completed after its future
    #: was cancelled (the kernel won the race), so that its data is not lost.
    #: Unset (as None) unless given.
    _late: Callable[[int], None] | None

    def _attach(self, ring: Ring, token: int) -> None:
        self._ring = ring
        self._token = token

    def _complete(self, res: int, flags: int) -> None:
        # Resolved first, the state asked only when that fails: a done()
        # call less per operation (a try costs nothing until it catches).
        try:
            if res < 0:
                self.set_exception(os_error(res))
            else:
                self.set_result(res)
        except asyncio.InvalidStateError:  # cancelled while the kernel was finishing
            late = getattr(self, "_late", None)
            if res >= 0 and late is not None:
                late(res)

    def cancel(self, msg: Any = None) -> bool:
        if self.done():
            return False
        try:
            self._ring.cancel(self._token)
        except OSError:
            # The cancel request could not be queued (SQ stuck full): the
            # operation then finishes on its own, its buffers pinned until it
            # does, and its result is dropped because this future is done.
            pass
        return super().cancel(msg=msg)


class TimeoutOpFuture(OpFuture):
    """A ring timer: -ETIME is its normal expiry, so it resolves to None."""

    __slots__ = ()

    def _complete(self, res: int, flags: int) -> None:
        if self.done():
            return
        if res == -_ETIME or res >= 0:
            self.set_result(None)
        else:
            self.set_exception(os_error(res))


class OpenOpFuture(OpFuture):
    """An open: its OSError names the file, as ``os.open``'s does."""

    _filename: Any = None

    def _complete(self, res: int, flags: int) -> None:
        if res < 0 and not self.done():
            self.set_exception(OSError(-res, os.strerror(-res), self._filename))
            return
        super()._complete(res, flags)
