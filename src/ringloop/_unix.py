"""OS integration on the ring: signals, subprocesses, pipes, add_reader/add_writer, fork.

Mixed into :class:`ringloop.Loop` ahead of asyncio's BaseEventLoop.  Each job
lives in its own module; this one puts them together and adds the loop's
closing and after-fork hooks.
"""
from __future__ import annotations

from typing import Any

from . import _fork
from ._fdwatch import FdWatchMixin
from ._pipes import ReadPipeTransport, WritePipeTransport
from ._signals import SignalMixin
from ._subprocess import SubprocessMixin

__all__ = ["UnixIntegrationMixin"]


class UnixIntegrationMixin(FdWatchMixin, SignalMixin, SubprocessMixin):
    """Loop methods that tie the ring to the rest of the OS (issue #4)."""

    def __init__(self) -> None:
        super().__init__()
        _fork.track(self)

    def _make_read_pipe_transport(
        self, pipe: Any, protocol: Any, waiter: Any = None, extra: Any = None
    ) -> ReadPipeTransport:
        return ReadPipeTransport(self, pipe, protocol, waiter, extra)

    def _make_write_pipe_transport(
        self, pipe: Any, protocol: Any, waiter: Any = None, extra: Any = None
    ) -> WritePipeTransport:
        return WritePipeTransport(self, pipe, protocol, waiter, extra)

    def _close_unix(self) -> None:
        """Called by Loop.close() before the ring closes (and cancels what is in flight).

        Signal handlers are removed (default dispositions back) and the
        wake-up pipe, reader/writer watches and child pidfds released.  Pipe
        and subprocess transports stay open, as with the stock loop.
        """
        self._close_signals()
        self._close_fd_watches()
        self._close_children()

    def _abandon_after_fork(self) -> None:
        """In a forked child: drop this loop without touching the parent's ring."""
        if self._closed:
            return
        self._closed = True
        # Not running in the child, even if the fork came from a callback.
        self._thread_id = None
        if self._ring is not None:
            self._ring.forget_inflight()
        self._signal_handlers.clear()
        self._close_signal_pipe()
        self._close_fd_watches()
        self._close_children()
        self._ready.clear()
        self._scheduled.clear()
        self._release_ring()
