"""OS integration on the ring: signals, subprocesses, pipes, add_reader/add_writer, fork.

Each job lives in its own module as a part of the loop (a LoopCore subclass);
this one puts them together and adds the pipe transports and the after-fork
hook.  Closing releases, in this order: signal handlers (default dispositions
back) and the wake-up pipe, reader/writer watches, child pidfds.  Pipe and
subprocess transports stay open, as with the stock loop.
"""
from __future__ import annotations

from typing import Any

from .._ring.options import RingOptions
from . import fork
from .fdwatch import FdWatching
from .pipes import ReadPipeTransport, WritePipeTransport
from .signals import Signals
from .subprocess import Subprocesses

__all__ = ["UnixIntegration"]


class UnixIntegration(Signals, FdWatching, Subprocesses):
    """Loop methods that tie the ring to the rest of the OS."""

    def __init__(self, options: RingOptions) -> None:
        super().__init__(options)
        fork.track(self)

    def _make_read_pipe_transport(
        self, pipe: Any, protocol: Any, waiter: Any = None, extra: Any = None
    ) -> ReadPipeTransport:
        return ReadPipeTransport(self, pipe, protocol, waiter, extra)

    def _make_write_pipe_transport(
        self, pipe: Any, protocol: Any, waiter: Any = None, extra: Any = None
    ) -> WritePipeTransport:
        return WritePipeTransport(self, pipe, protocol, waiter, extra)

    def _abandon_after_fork(self) -> None:
        """In a forked child: drop this loop without touching the parent's ring."""
        if self._closed:
            return
        self._closed = True
        # Not running in the child, even if the fork came from a callback.
        self._thread_id = None
        self._ring.forget_inflight()
        self._signal_handlers.clear()
        self._close_signal_pipe()
        self._close_fd_watches()
        self._close_children()
        self._ready.clear()
        self._scheduled.clear()
        self._release_ring()
