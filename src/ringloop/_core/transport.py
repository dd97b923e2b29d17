"""What every transport on the ring has in common: socket (stream, datagram) and pipe.

Semantics follow asyncio's own transports: protocol accessors, an unclosed
transport warns and closes its file when collected, a fatal error goes to the
loop's exception handler unless it is one the transport expects (then only a
debug log), and pausing and resuming reading are logged in debug mode.  What
differs per transport is said by the hooks below.
"""
from __future__ import annotations

import warnings
import weakref
from typing import Any

from .._ring.errors import logger

__all__ = ["RingTransportBase", "PausableReading", "register_transport", "transport_using"]


def _transport_table(loop: Any) -> weakref.WeakValueDictionary[int, Any]:
    # The selector loop's ``_transports``, made on first use: socket transports
    # (_net) fill it and add_reader (_unix) reads it, two parts that must not
    # import each other.
    table: weakref.WeakValueDictionary[int, Any] | None = loop.__dict__.get("_transports")
    if table is None:
        table = loop._transports = weakref.WeakValueDictionary()
    return table


def register_transport(loop: Any, fd: int, transport: Any) -> None:
    """Record that ``transport`` owns ``fd``: add_reader/add_writer refuse it while it is not closing."""
    _transport_table(loop)[fd] = transport


def transport_using(loop: Any, fd: int) -> Any:
    """The transport registered for ``fd`` (it may be closing), or None."""
    return _transport_table(loop).get(fd)


class RingTransportBase:
    """Lifecycle shared by the ring transports.

    Subclasses set ``_loop``, ``_protocol`` and ``_closing``, and define
    :meth:`_file` (the socket or pipe they own, None once released) and
    :meth:`_close_after_error`.
    """

    _loop: Any
    _protocol: Any
    _closing: bool
    #: The exception handler's message when _fatal_error is given none.
    _fatal_message = "Fatal error on transport"

    def get_protocol(self) -> Any:
        return self._protocol

    def is_closing(self) -> bool:
        return self._closing

    def __del__(self, _warn: Any = warnings.warn) -> None:
        file = self._file()
        if file is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            file.close()

    def _file(self) -> Any:
        """The socket or pipe object this transport owns; None once released."""
        raise NotImplementedError

    def _expected_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` ends the transport quietly (a debug log, not the exception handler).

        By default any OSError: a peer that went away is not a bug of the program.
        """
        return isinstance(exc, OSError)

    def _close_after_error(self, exc: BaseException) -> None:
        """End the transport now; connection_lost(exc) follows."""
        raise NotImplementedError

    def _fatal_error(self, exc: BaseException, message: str | None = None) -> None:
        message = message or self._fatal_message
        if self._expected_error(exc):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler(
                {"message": message, "exception": exc, "transport": self, "protocol": self._protocol}
            )
        self._close_after_error(exc)


class PausableReading:
    """pause_reading/resume_reading for reading transports; the hooks say what each does."""

    _loop: Any
    _closing: bool
    _paused: bool

    def is_reading(self) -> bool:
        """True unless paused or closing."""
        return not self._paused and not self._closing

    def pause_reading(self) -> None:
        """Stop delivering data until resume_reading(); no-op when not reading."""
        if self.is_reading():
            self._switch_reading(paused=True)

    def resume_reading(self) -> None:
        """Deliver what was held back, then read on; no-op unless paused."""
        if self._paused and not self._closing:
            self._switch_reading(paused=False)

    def _switch_reading(self, *, paused: bool) -> None:
        self._paused = paused
        if paused:
            self._reading_paused()
        else:
            self._reading_resumed()
        if self._loop.get_debug():
            logger.debug("%r %s reading", self, "pauses" if paused else "resumes")

    def _reading_paused(self) -> None:
        """Called once reading is paused: stop what would keep delivering."""

    def _reading_resumed(self) -> None:
        """Called once reading resumes: deliver what was held, re-arm the read."""
        raise NotImplementedError
