"""The ringloop event loop, assembled from the loop core and its feature parts.

:class:`ringloop._core.base.LoopCore` is the loop core (asyncio's BaseEventLoop
with the ring as its only wait); each feature part subclasses it:
:class:`~ringloop._unix.integration.UnixIntegration` (signals, subprocesses,
pipes, add_reader/add_writer, fork), :class:`~ringloop._net.serving.Networking`
(transports and serving), :class:`~ringloop._net.sockops.SocketOps`
(``sock_*``) and :class:`~ringloop._fs.ops.FileOps` (``ring_*`` file ops).
This module puts them together and adds the loop's own ring ops.
"""
from __future__ import annotations


from ._core.opfuture import OpFuture, TimeoutOpFuture
from ._fs.ops import FileOps
from ._net.serving import Networking
from ._net.sockops import SocketOps
from ._ring.options import RingOptions
from ._unix.integration import UnixIntegration

__all__ = ["Loop"]


# A kernel timespec holds about 292 years in int64 nanoseconds; cap far below.
_MAX_TIMEOUT = 1e9


class Loop(UnixIntegration, Networking, SocketOps, FileOps):
    """An asyncio event loop whose I/O backend is an io_uring instance.

    Keyword options (validated; wrong types raise TypeError, bad values
    ValueError, each naming the option): ``entries``, ``sqpoll``, ``sq_cpu``,
    ``sq_idle_ms``, ``attach_to`` (a ringloop Loop with ``sqpoll=True`` whose
    SQPOLL thread this loop shares) and ``single_issuer``.  See
    :class:`ringloop._ring.options.RingOptions`.

    Raises RuntimeError, with the reason, when io_uring cannot be used here.
    """

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
        if attach_to is not None:
            if not isinstance(attach_to, Loop):
                raise TypeError(f"attach_to must be a ringloop Loop, not {type(attach_to).__name__}")
            if attach_to.is_closed():
                raise ValueError("attach_to is a closed loop")
            if sqpoll is not True:
                raise ValueError("attach_to requires sqpoll=True")
        options = RingOptions(
            entries=entries,
            sqpoll=sqpoll,
            sq_cpu=sq_cpu,
            sq_idle_ms=sq_idle_ms,
            attach_fd=None if attach_to is None else attach_to._ring.fd,
            single_issuer=single_issuer,
        )
        super().__init__(options)

    @property
    def ring_setup_flags(self) -> list[str]:
        """The IORING_SETUP_* flags in force on this loop's ring, by name."""
        self._check_closed()
        return self._ring.setup_flags

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

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} running={self.is_running()} "
            f"closed={self.is_closed()} debug={self.get_debug()}>"
        )

