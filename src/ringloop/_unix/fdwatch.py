"""add_reader / add_writer on the ring: one poll operation per (fd, direction).

asyncio users expect level-triggered readiness: a reader that leaves data
unread is called again on the next iteration.  A multishot poll only posts a
completion when the file's wait queue is woken (new data), so a callback that
reads part of what is there would never be called again.  Each watch therefore
keeps one one-shot POLL_ADD armed and re-arms it after the user's callback has
run; if the fd is still ready, the kernel completes the new poll at once.
The fd's blocking mode is never touched.
"""
from __future__ import annotations

import select
from asyncio import events
from typing import Any, Callable

from .._core.base import LoopCore
from .._ring.errors import CANCELED
from .._ring.options import RingOptions

__all__ = ["FdWatching", "fileobj_to_fd"]

_POLLIN = select.POLLIN
_POLLOUT = select.POLLOUT


def fileobj_to_fd(fileobj: Any) -> int:
    """The fd of an int or of an object with ``fileno()``; ValueError otherwise (as selectors)."""
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


class _Watch:
    """One registered reader or writer: its handle and the poll armed for it."""

    __slots__ = ("loop", "table", "fd", "mask", "handle", "token", "rearm")

    def __init__(self, loop: Any, table: dict[int, _Watch], fd: int, mask: int, handle: events.Handle) -> None:
        self.loop = loop
        self.table = table
        self.fd = fd
        self.mask = mask
        self.handle: events.Handle | None = handle
        self.token: int | None = None
        # Queued right behind the user's handle, so the poll is re-armed only
        # after the callback has had its chance to drain the fd.
        self.rearm = events.Handle(self.arm, (), loop, None)

    def current(self) -> bool:
        return self.handle is not None and self.table.get(self.fd) is self

    def arm(self) -> None:
        if self.token is None and self.current() and not self.loop.is_closed():
            self.token = self.loop._ring.poll_add(self.fd, self.mask, self._on_poll)

    def _on_poll(self, res: int, flags: int) -> None:
        self.token = None
        if res == CANCELED or not self.current():
            return
        handle = self.handle
        if handle._cancelled:
            self.table.pop(self.fd, None)
            self.handle = None
            return
        ready = self.loop._ready
        ready.append(handle)
        # A negative result (the fd was closed under the watch) is reported
        # by running the callback once, as select() reports POLLNVAL; re-arming
        # would only repeat the error at full speed.
        if res >= 0:
            ready.append(self.rearm)

    def stop(self) -> None:
        """Unregister: the handle is cancelled and the poll, if armed, cancelled."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        if self.token is not None:
            self.loop._ring.cancel(self.token)
            self.token = None


class FdWatching(LoopCore):
    """Loop methods add_reader/add_writer/remove_reader/remove_writer on ring polls."""

    def __init__(self, options: RingOptions) -> None:
        super().__init__(options)
        self._fd_readers: dict[int, _Watch] = {}
        self._fd_writers: dict[int, _Watch] = {}

    def _watch_fd(self, table: dict[int, _Watch], mask: int, fd: Any, callback: Callable[..., Any], args: tuple) -> events.Handle:
        self._check_closed()
        fd = fileobj_to_fd(fd)
        handle = events.Handle(callback, args, self, None)
        watch = table.get(fd)
        if watch is not None:
            # Same fd again: the new callback replaces the old, the poll stays.
            watch.handle.cancel()
            watch.handle = handle
        else:
            watch = table[fd] = _Watch(self, table, fd, mask, handle)
        watch.arm()  # no-op while a poll is armed
        return handle

    def _unwatch_fd(self, table: dict[int, _Watch], fd: Any) -> bool:
        if self.is_closed():
            return False
        watch = table.pop(fileobj_to_fd(fd), None)
        if watch is None:
            return False
        watch.stop()
        return True

    def _add_reader(self, fd: Any, callback: Callable[..., Any], *args: Any) -> events.Handle:
        return self._watch_fd(self._fd_readers, _POLLIN, fd, callback, args)

    def _add_writer(self, fd: Any, callback: Callable[..., Any], *args: Any) -> events.Handle:
        return self._watch_fd(self._fd_writers, _POLLOUT, fd, callback, args)

    def _remove_reader(self, fd: Any) -> bool:
        return self._unwatch_fd(self._fd_readers, fd)

    def _remove_writer(self, fd: Any) -> bool:
        return self._unwatch_fd(self._fd_writers, fd)

    def add_reader(self, fd: Any, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` whenever ``fd`` (an int or an object with fileno()) is readable.

        Level-triggered, as with the stock loop: while data stays unread the
        callback runs again each iteration.  Replaces an earlier reader of the
        same fd.  RuntimeError on a closed loop, ValueError for a bad fd.
        """
        self._add_reader(fd, callback, *args)

    def add_writer(self, fd: Any, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` whenever ``fd`` is writable; as :meth:`add_reader`."""
        self._add_writer(fd, callback, *args)

    def remove_reader(self, fd: Any) -> bool:
        """Stop watching ``fd`` for reading; True if a reader was registered (False on a closed loop)."""
        return self._remove_reader(fd)

    def remove_writer(self, fd: Any) -> bool:
        """Stop watching ``fd`` for writing; True if a writer was registered (False on a closed loop)."""
        return self._remove_writer(fd)

    def _close_features(self) -> None:
        self._close_fd_watches()
        super()._close_features()

    def _close_fd_watches(self) -> None:
        # The ring's close cancels and drains the polls; only forget them here.
        for table in (self._fd_readers, self._fd_writers):
            for watch in table.values():
                if watch.handle is not None:
                    watch.handle.cancel()
                    watch.handle = None
            table.clear()
