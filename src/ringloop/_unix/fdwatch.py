"""add_reader / add_writer on an epoll instance that one ring poll watches.

The registrations live in a ``selectors.EpollSelector``, exactly as in the
stock selector loop, for two reasons a ring poll per fd cannot match:

- A ring operation holds its own reference to the file.  A watched socket
  that the program closes would stay open in the kernel while the poll is
  armed (its peer would see no EOF), and re-arming by fd number could watch
  whatever file the kernel gave that number next.  epoll forgets a closed fd
  by itself and never follows its number to a new file.
- The selector finds a registration by its file object even after the object
  was closed (``fileno()`` is then -1), so ``remove_reader(closed_socket)``
  works, as programs that close first and unregister in a ``finally`` expect.

One one-shot ring POLL_ADD on the epoll fd stands in for ``select()``: when it
completes, ``epoll_wait`` with timeout 0 collects the ready fds, their
callbacks are queued as the selector loop queues them, and the poll is armed
again while anything is registered.  Level-triggered as with the stock loop: the new poll is submitted only
at the next ring wait, after the callbacks ran, and completes at once if a
callback left data unread.  The fds' blocking modes are never touched.
"""
from __future__ import annotations

import select
import selectors
from asyncio import events
from typing import Any, Callable

from .._core.base import LoopCore
from .._core.transport import transport_using
from .._ring.errors import CANCELED
from .._ring.options import RingOptions

__all__ = ["FdWatching"]

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE


class FdWatching(LoopCore):
    """Loop methods add_reader/add_writer/remove_reader/remove_writer on an epoll the ring polls."""

    def __init__(self, options: RingOptions) -> None:
        super().__init__(options)
        self._fd_selector: selectors.EpollSelector | None = None  # made on first use
        self._fd_poll: int | None = None  # token of the ring poll on the epoll fd

    # -- the registrations (the stock selector loop's logic) -------------------------

    def _watch_selector(self) -> selectors.EpollSelector:
        if self._fd_selector is None:
            self._fd_selector = selectors.EpollSelector()
        return self._fd_selector

    def _watch(self, fd: Any, event: int, callback: Callable[..., Any], args: tuple) -> events.Handle:
        self._check_closed()
        handle = events.Handle(callback, args, self, None)
        selector = self._watch_selector()
        try:
            key = selector.get_key(fd)
        except KeyError:
            selector.register(fd, event, (handle, None) if event == _READ else (None, handle))
        else:
            reader, writer = key.data
            if event == _READ:
                old, data = reader, (handle, writer)
            else:
                old, data = writer, (reader, handle)
            selector.modify(fd, key.events | event, data)
            if old is not None:
                old.cancel()
        self._arm_fd_poll()
        return handle

    def _unwatch(self, fd: Any, event: int) -> bool:
        if self.is_closed():
            return False
        selector = self._watch_selector()  # made even here: it validates ``fd`` as the stock loop does
        try:
            key = selector.get_key(fd)
        except KeyError:
            return False
        reader, writer = key.data
        if event == _READ:
            old, data = reader, (None, writer)
        else:
            old, data = writer, (reader, None)
        mask = key.events & ~event
        if not mask:
            selector.unregister(fd)
        else:
            selector.modify(fd, mask, data)
        if old is None:
            return False
        old.cancel()
        return True

    def _add_reader(self, fd: Any, callback: Callable[..., Any], *args: Any) -> events.Handle:
        return self._watch(fd, _READ, callback, args)

    def _add_writer(self, fd: Any, callback: Callable[..., Any], *args: Any) -> events.Handle:
        return self._watch(fd, _WRITE, callback, args)

    def _remove_reader(self, fd: Any) -> bool:
        return self._unwatch(fd, _READ)

    def _remove_writer(self, fd: Any) -> bool:
        return self._unwatch(fd, _WRITE)

    def _ensure_fd_no_transport(self, fd: Any) -> None:
        """RuntimeError if a transport that is not closing owns ``fd``, as the selector loop says."""
        fileno = fd
        if not isinstance(fileno, int):
            try:
                fileno = int(fileno.fileno())
            except (AttributeError, TypeError, ValueError):
                raise ValueError(f"Invalid file object: {fd!r}") from None
        transport = transport_using(self, fileno)
        if transport is not None and not transport.is_closing():
            raise RuntimeError(f"File descriptor {fd!r} is used by transport {transport!r}")

    def add_reader(self, fd: Any, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` whenever ``fd`` (an int or an object with fileno()) is readable.

        Level-triggered, as with the stock loop: while data stays unread the
        callback runs again each iteration.  Replaces an earlier reader of the
        same fd.  RuntimeError on a closed loop or for an fd a transport owns,
        ValueError for a bad fd.
        """
        self._ensure_fd_no_transport(fd)
        self._add_reader(fd, callback, *args)

    def add_writer(self, fd: Any, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` whenever ``fd`` is writable; as :meth:`add_reader`."""
        self._ensure_fd_no_transport(fd)
        self._add_writer(fd, callback, *args)

    def remove_reader(self, fd: Any) -> bool:
        """Stop watching ``fd`` (also a file object closed since) for reading; True if a reader was registered."""
        self._ensure_fd_no_transport(fd)
        return self._remove_reader(fd)

    def remove_writer(self, fd: Any) -> bool:
        """Stop watching ``fd`` for writing; True if a writer was registered (False on a closed loop)."""
        self._ensure_fd_no_transport(fd)
        return self._remove_writer(fd)

    # -- the ring poll on the epoll fd ---------------------------------------------------

    def _arm_fd_poll(self) -> None:
        # One poll at a time.  It stays armed when the last watch goes (an
        # empty epoll never completes it, and it holds only the epoll fd):
        # cancelling it would let its late completion be taken for the next one's.
        if self._fd_poll is None:
            self._fd_poll = self._ring.poll_add(self._fd_selector.fileno(), select.POLLIN, self._on_fd_events)

    def _on_fd_events(self, res: int, flags: int) -> None:
        self._fd_poll = None
        selector = self._fd_selector
        if res == CANCELED or res < 0 or selector is None or self._closed:
            return
        ready = self._ready
        for key, mask in selector.select(0):
            reader, writer = key.data
            if mask & _READ and reader is not None:
                if reader._cancelled:
                    self._remove_reader(key.fileobj)
                else:
                    ready.append(reader)
            if mask & _WRITE and writer is not None:
                if writer._cancelled:
                    self._remove_writer(key.fileobj)
                else:
                    ready.append(writer)
        if selector.get_map():
            self._arm_fd_poll()

    # -- closing ------------------------------------------------------------------------

    def _close_features(self) -> None:
        self._close_fd_watches()
        super()._close_features()

    def _close_fd_watches(self) -> None:
        """Forget every watch and close the epoll fd.

        The poll is cancelled first, so one still queued never reaches the
        kernel with a closed (or reused) fd number.  The registrations are not
        removed one by one: after a fork the epoll instance is shared with
        the parent, whose watches must stay.
        """
        selector = self._fd_selector
        if selector is None:
            return
        if self._fd_poll is not None:
            self._ring.cancel(self._fd_poll)
            self._fd_poll = None
        for key in selector.get_map().values():
            for handle in key.data:
                if handle is not None:
                    handle.cancel()
        selector.close()
        self._fd_selector = None
