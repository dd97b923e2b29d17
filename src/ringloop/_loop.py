"""The ringloop event loop: asyncio's BaseEventLoop with io_uring as its only wait.

BaseEventLoop keeps asyncio's semantics (ready queue, timer heap, tasks,
executors, async generators, exception handling, debug mode) and, once per
iteration, calls ``self._selector.select(timeout)`` and then
``self._process_events(events)``.  Here that slot is the ring: ``select``
submits every queued operation and harvests a batch of completions in one call
into C, and ``_process_events`` runs each completion's handler, which resolves
an op-future and so schedules the task awaiting it.

Cross-thread wake-ups (call_soon_threadsafe, executor results) write an eventfd
that a ring read operation is always waiting on.
"""
from __future__ import annotations

import errno
import os
from asyncio import base_events, events
from typing import Any

from ._opfuture import OpenOpFuture, OpFuture, TimeoutOpFuture
from ._options import RingOptions
from ._ring import Ring, RingClosedError, ignore_completion
from ._diagnose import open_ring
from ._net import NetworkMixin
from ._sockops import SocketOpsMixin
from ._unix import UnixIntegrationMixin

__all__ = ["Loop"]


# A kernel timespec holds about 292 years in int64 nanoseconds; cap far below.
_MAX_TIMEOUT = 1e9
_AT_FDCWD = -100  # openat(2): relative paths start at the working directory


class _RingWait:
    """The object BaseEventLoop calls ``select`` on once per iteration."""

    __slots__ = ("select",)

    def __init__(self, ring: Ring) -> None:
        self.select = ring.wait


def _check_fd(fd: object) -> int:
    if isinstance(fd, bool) or not isinstance(fd, int):
        raise TypeError(f"fd must be an int, not {type(fd).__name__}")
    if fd < 0:
        raise ValueError(f"fd must be a file descriptor, got {fd}")
    return fd


def _check_offset(offset: object) -> int:
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(f"offset must be an int, not {type(offset).__name__}")
    if offset < -1:
        raise ValueError(f"offset must be >= 0, or -1 for the file position; got {offset}")
    return offset


def _ring_options(
    entries: int,
    sqpoll: bool,
    sq_cpu: int | None,
    sq_idle_ms: int | None,
    attach_to: Loop | None,
    single_issuer: bool,
) -> RingOptions:
    if attach_to is not None:
        if not isinstance(attach_to, Loop):
            raise TypeError(f"attach_to must be a ringloop Loop, not {type(attach_to).__name__}")
        if attach_to.is_closed():
            raise ValueError("attach_to is a closed loop")
        if sqpoll is not True:
            raise ValueError("attach_to requires sqpoll=True")
    return RingOptions(
        entries=entries,
        sqpoll=sqpoll,
        sq_cpu=sq_cpu,
        sq_idle_ms=sq_idle_ms,
        attach_fd=None if attach_to is None else attach_to._ring.fd,
        single_issuer=single_issuer,
    )


class Loop(UnixIntegrationMixin, NetworkMixin, SocketOpsMixin, base_events.BaseEventLoop):
    """An asyncio event loop whose I/O backend is an io_uring instance.

    Keyword options (validated; wrong types raise TypeError, bad values
    ValueError, each naming the option): ``entries``, ``sqpoll``, ``sq_cpu``,
    ``sq_idle_ms``, ``attach_to`` (a ringloop Loop with ``sqpoll=True`` whose
    SQPOLL thread this loop shares) and ``single_issuer``.  See
    :class:`ringloop._options.RingOptions`.

    Raises RuntimeError, with the reason, when io_uring cannot be used here.
    """

    # Until __init__ says otherwise: an instance whose arguments were rejected
    # is "closed", so BaseEventLoop.__del__ has nothing to warn about.
    _closed = True

    def __init__(
        self,
        *,
        entries: int = 256,
        sqpoll: bool = False,
        sq_cpu: int | None = None,
        sq_idle_ms: int | None = None,
        attach_to: Loop | None = None,
        single_issuer: bool = True,
    ) -> None:
        super().__init__()
        self._ring: Ring | None = None
        self._wake_fd = -1
        try:
            options = _ring_options(entries, sqpoll, sq_cpu, sq_idle_ms, attach_to, single_issuer)
            self._ring = open_ring(options)
            self._selector = _RingWait(self._ring)
            # Blocking on purpose: some kernels answer a ring read of an
            # O_NONBLOCK file with -EAGAIN instead of waiting for data.
            self._wake_fd = os.eventfd(0, os.EFD_CLOEXEC)
        except BaseException:
            self._closed = True
            self._release_ring()
            raise
        self._init_network()
        self._init_sockops()
        self._wake_buf = bytearray(8)
        # Set from any thread before it writes the eventfd, cleared by the
        # loop when the read completes: one write per wake-up, not per call.
        self._wake_pending = False
        self._arm_wakeup()

    @property
    def ring_setup_flags(self) -> list[str]:
        """The IORING_SETUP_* flags in force on this loop's ring, by name."""
        self._check_closed()
        return self._ring.setup_flags

    # -- the ring as BaseEventLoop's selector ------------------------------------

    def _process_events(self, event_list: list[tuple[int, int, int]]) -> None:
        if event_list:
            self._ring.dispatch(event_list, self._completion_error)

    def _completion_error(self, exc: Exception) -> None:
        # A completion handler runs protocol code (data_received, ...): its
        # errors go to the exception handler, as errors of callbacks do.
        self.call_exception_handler({"message": "Exception in a ring completion handler", "exception": exc})

    def _arm_wakeup(self) -> None:
        self._ring.read(self._wake_fd, self._wake_buf, 0, self._on_wakeup)

    def _on_wakeup(self, res: int, flags: int) -> None:
        self._wake_pending = False
        if res == -errno.ECANCELED or self._closed:
            return
        if res < 0 and res not in (-errno.EINTR, -errno.EAGAIN):
            # Re-arming after a lasting error would spin; report it once.
            self.call_exception_handler(
                {"message": f"wake-up eventfd read failed, cross-thread wake-ups stop: {os.strerror(-res)}",
                 "loop": self}
            )
            return
        self._arm_wakeup()

    def _write_to_self(self) -> None:
        if self._wake_pending:
            return
        self._wake_pending = True
        try:
            os.eventfd_write(self._wake_fd, 1)
        except OSError:
            # Only when closing races a foreign thread; that thread's
            # call_soon_threadsafe already saw the loop open.
            self._wake_pending = False

    def call_soon(self, callback: Any, *args: Any, context: Any = None) -> events.Handle:
        """BaseEventLoop.call_soon, with one frame instead of three when not in debug mode.

        Every future's done-callback and every task wake-up comes through here.
        """
        if self._debug:
            return super().call_soon(callback, *args, context=context)
        if self._closed:
            raise RuntimeError("Event loop is closed")
        handle = events.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    # -- closing ----------------------------------------------------------------

    def _close_fd(self, fd: int) -> None:
        """Close ``fd`` with a ring op, queued after every op already queued on it.

        A close(2) now could free the fd number before queued SQEs that name
        it reach the kernel, and a reused number would send them elsewhere.
        """
        try:
            self._ring.close_fd(fd, ignore_completion)
        except (RingClosedError, OSError):
            os.close(fd)

    def close(self) -> None:
        """Close the loop: executor shut down, ops cancelled and drained, ring closed.

        A running loop cannot be closed (RuntimeError); closing twice is harmless.
        """
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        super().close()
        self._close_unix()
        self._close_sockops()
        self._release_ring()

    def _release_ring(self) -> None:
        if self._ring is not None:
            self._ring.close()
        if self._wake_fd >= 0:
            os.close(self._wake_fd)
            self._wake_fd = -1

    # -- op-futures ---------------------------------------------------------------

    def _op(self, future_cls: type[OpFuture], queue: Any, *args: Any) -> OpFuture:
        self._check_closed()
        if self._debug:
            self._check_thread()
        fut = future_cls(loop=self)
        fut._attach(self._ring, queue(*args, fut._complete))
        return fut

    def ring_nop(self) -> OpFuture:
        """A no-op through the ring; the future resolves to 0 once it completes."""
        return self._op(OpFuture, self._ring.nop)

    def ring_timeout(self, delay: float) -> OpFuture:
        """A kernel timer; the future resolves to None after ``delay`` seconds."""
        if isinstance(delay, bool) or not isinstance(delay, (int, float)):
            raise TypeError(f"delay must be a number, not {type(delay).__name__}")
        if not 0 <= delay < _MAX_TIMEOUT:
            raise ValueError(f"delay must be >= 0 and finite, got {delay}")
        return self._op(TimeoutOpFuture, self._ring.timeout, delay)

    def ring_read(self, fd: int, buffer: Any, offset: int = -1) -> OpFuture:
        """Read from ``fd`` into the writable ``buffer`` with one ring operation.

        ``offset`` -1 reads at the file position (pipes, sockets, ttys).  The
        future resolves to the number of bytes read (0 at end of file) or
        raises OSError; ``buffer`` stays in use until the kernel is done with it.
        """
        return self._op(OpFuture, self._ring.read, _check_fd(fd), buffer, _check_offset(offset))

    def ring_write(self, fd: int, data: Any, offset: int = -1) -> OpFuture:
        """Write ``data`` (any bytes-like object) to ``fd`` with one ring operation.

        The future resolves to the number of bytes written, which may be short.
        """
        return self._op(OpFuture, self._ring.write, _check_fd(fd), data, _check_offset(offset))

    def ring_fsync(self, fd: int, *, datasync: bool = False) -> OpFuture:
        """Flush ``fd``'s data (and, unless ``datasync``, its metadata) to stable storage.

        One IORING_OP_FSYNC; the future resolves to 0 or raises the OSError of
        fsync(2)/fdatasync(2).  A failure means the data is not known to be
        stored: callers must not retry as if it were (the kernel may have
        dropped the dirty pages already).
        """
        if not isinstance(datasync, bool):
            raise TypeError(f"datasync must be a bool, not {type(datasync).__name__}")
        return self._op(OpFuture, self._ring.fsync, _check_fd(fd), datasync)

    def ring_open(self, path: str | bytes | os.PathLike, flags: int = os.O_RDONLY, mode: int = 0o666,
                  *, dir_fd: int | None = None) -> OpFuture:
        """Open ``path`` with one IORING_OP_OPENAT, as ``os.open(path, flags, mode, dir_fd=dir_fd)``.

        The future resolves to the new fd (O_CLOEXEC is always added) or raises
        the OSError that os.open would raise, with ``filename`` set.  If the
        future is cancelled but the kernel opens the file anyway, that fd is
        closed: a cancelled open never leaks a descriptor.
        """
        raw = os.fsencode(path)
        if b"\0" in raw:
            raise ValueError("embedded null byte in path")
        for name, value in (("flags", flags), ("mode", mode)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        dfd = _AT_FDCWD if dir_fd is None else _check_fd(dir_fd)
        fut = self._op(OpenOpFuture, self._ring.openat, dfd, raw, flags | os.O_CLOEXEC, mode)
        fut._filename = os.fspath(path)
        fut._late = self._close_fd
        return fut

    def ring_close(self, fd: int) -> OpFuture:
        """Close ``fd`` with one IORING_OP_CLOSE, queued after every op already queued on it.

        The future resolves to 0 or raises OSError (EBADF for an fd that is not open).
        """
        return self._op(OpFuture, self._ring.close_fd, _check_fd(fd))

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} running={self.is_running()} "
            f"closed={self.is_closed()} debug={self.get_debug()}>"
        )

