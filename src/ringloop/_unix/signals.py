"""Signal handlers on the ring, after asyncio's unix_events design.

Python's C-level signal handler writes the signal number to the fd given to
``signal.set_wakeup_fd``: here the non-blocking write end of a pipe whose
(blocking) read end always has a ring read in flight.  Each byte read schedules
that signal's handler as an ordinary loop callback, so handlers never run in
signal context, and a signal that arrives while the loop sleeps in the ring wait
completes that read and so wakes it.
"""
from __future__ import annotations

import errno
import os
import signal
import sys
import threading
import warnings
from asyncio import coroutines, events
from typing import Any, Callable

from .._core.base import LoopCore
from .._ring.errors import CANCELED, logger
from .._ring.options import RingOptions

__all__ = ["Signals"]



def _sighandler_noop(signum: int, frame: Any) -> None:
    """Python-level handler: the work is done by the wakeup-fd byte."""


def _check_signal(sig: object) -> None:
    if not isinstance(sig, int):
        raise TypeError(f"sig must be an int, not {sig!r}")
    if sig not in signal.valid_signals():
        raise ValueError(f"invalid signal number {sig}")


class Signals(LoopCore):
    """Loop methods add_signal_handler / remove_signal_handler."""

    def __init__(self, options: RingOptions) -> None:
        super().__init__(options)
        self._signal_handlers: dict[int, events.Handle] = {}
        self._sig_rfd = -1
        self._sig_wfd = -1
        self._sig_buf = bytearray(256)
        self._sig_read: int | None = None  # token of the read on the wake-up pipe

    def _ensure_signal_pipe(self) -> int:
        if self._sig_wfd < 0:
            rfd, wfd = os.pipe2(os.O_CLOEXEC)
            # set_wakeup_fd insists on a non-blocking fd; the read end stays
            # blocking so that the ring read waits instead of answering -EAGAIN.
            os.set_blocking(wfd, False)
            self._sig_rfd, self._sig_wfd = rfd, wfd
            self._arm_signal_read()
        return self._sig_wfd

    def _arm_signal_read(self) -> None:
        self._sig_read = self._ring.read(self._sig_rfd, self._sig_buf, -1, self._on_signal_bytes)

    def _on_signal_bytes(self, res: int, flags: int) -> None:
        self._sig_read = None
        if res == CANCELED or self._closed or self._sig_rfd < 0:
            return
        if res > 0:
            for signum in self._sig_buf[:res]:
                self._handle_signal(signum)
        elif res not in (-errno.EINTR, -errno.EAGAIN):
            self.call_exception_handler(
                {"message": f"signal wake-up pipe read failed, signal handlers stop: "
                            f"{os.strerror(-res) if res else 'end of file'}",
                 "loop": self}
            )
            return
        self._arm_signal_read()

    def _handle_signal(self, sig: int) -> None:
        handle = self._signal_handlers.get(sig)
        if handle is None:
            return  # a signal with a Python handler that is not ours
        if handle._cancelled:
            self.remove_signal_handler(sig)
        else:
            self._add_callback(handle)

    def add_signal_handler(self, sig: int, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` in the loop whenever signal ``sig`` arrives.

        Main thread only (RuntimeError otherwise, or for an uncatchable signal
        such as SIGKILL); TypeError for a coroutine or a non-int ``sig``;
        ValueError for an invalid signal number; RuntimeError on a closed loop.
        """
        if coroutines.iscoroutine(callback) or coroutines.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        _check_signal(sig)
        self._check_closed()
        if self._sig_wfd < 0 and not _in_main_thread():
            raise RuntimeError("set_wakeup_fd only works in main thread of the main interpreter")
        try:
            # Raises ValueError outside the main thread: a loop running in
            # another thread cannot add a signal handler.
            signal.set_wakeup_fd(self._ensure_signal_pipe())
        except (ValueError, OSError) as exc:
            raise RuntimeError(str(exc)) from None
        handle = events.Handle(callback, args, self, None)
        self._signal_handlers[sig] = handle
        try:
            signal.signal(sig, _sighandler_noop)
            # SA_RESTART: fewer EINTRs in code the handlers interrupt.
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del self._signal_handlers[sig]
            if not self._signal_handlers:
                _clear_wakeup_fd()
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught") from None
            raise

    def remove_signal_handler(self, sig: int) -> bool:
        """Remove the handler of ``sig``; True if there was one.

        The signal's default disposition comes back (for SIGINT, Python's
        KeyboardInterrupt handler).
        """
        _check_signal(sig)
        try:
            del self._signal_handlers[sig]
        except KeyError:
            return False
        handler = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        try:
            signal.signal(sig, handler)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught") from None
            raise
        if not self._signal_handlers:
            _clear_wakeup_fd()
        return True

    def _close_features(self) -> None:
        self._close_signals()
        super()._close_features()

    def _signal_wakeup_fd(self) -> int:
        """The write end of this loop's signal wake-up pipe, or -1 when it has none."""
        return self._sig_wfd

    def _close_signals(self) -> None:
        if not sys.is_finalizing():
            for sig in list(self._signal_handlers):
                self.remove_signal_handler(sig)
        elif self._signal_handlers:
            warnings.warn(
                f"Closing the loop {self!r} on interpreter shutdown stage, skipping signal handlers removal",
                ResourceWarning,
                source=self,
            )
            self._signal_handlers.clear()
        self._close_signal_pipe()

    def _close_signal_pipe(self) -> None:
        # The read is cancelled first: one still queued would otherwise reach
        # the kernel after the close, by a number another thread may have
        # been given meanwhile, and take its bytes.  One already in the kernel
        # holds its own reference to the pipe.
        if self._sig_read is not None:
            self._ring.cancel(self._sig_read)
            self._sig_read = None
        for fd in (self._sig_rfd, self._sig_wfd):
            if fd >= 0:
                os.close(fd)
        self._sig_rfd = self._sig_wfd = -1


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _clear_wakeup_fd() -> None:
    try:
        signal.set_wakeup_fd(-1)
    except (ValueError, OSError) as exc:
        logger.info("set_wakeup_fd(-1) failed: %s", exc)
