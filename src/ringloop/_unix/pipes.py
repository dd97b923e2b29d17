"""Pipe transports on ring reads and writes (pipes, FIFOs, sockets, ttys and ptys).

They behave as asyncio's _UnixReadPipeTransport / _UnixWritePipeTransport,
but move data with ring operations instead of readiness callbacks.  The read
transport leaves the fd's blocking mode alone: a ring read of a blocking pipe
simply waits, and on an fd someone made non-blocking the kernel answers
-EAGAIN, so the transport waits for readiness with a one-shot ring poll and
reads again.  The write transport makes its fd non-blocking, as the stock one
does, so that write() can hand data to the kernel at once (callers rely on
that) without ever blocking the loop; what does not fit waits for a ring poll
and goes out with ring writes.

Protocol callbacks never run inside the ring's completion dispatch: they are
scheduled as loop callbacks, so an exception in a protocol reaches the loop's
exception handler as with the stock loop.
"""
from __future__ import annotations

import errno
import os
import select
import stat
from asyncio import constants, futures, transports
from typing import Any

from .._core.transport import PausableReading, RingTransportBase
from .._ring.errors import CANCELED, RETRY_ERRNOS, logger, os_error
from .._ring.memory import IOV_MAX, page_aligned

__all__ = ["ReadPipeTransport", "WritePipeTransport"]



class _PipeEnd(RingTransportBase):
    """What both pipe transports share: protocol, closing state, repr and the final close."""

    _pipe: Any
    _fileno: int | None
    _protocol: Any
    _closing: bool
    _loop: Any

    def _state_words(self, polling: bool) -> list[str]:
        """repr words in the stock transports' style: closed/closing, fd, polling/idle/open."""
        words = [type(self).__name__]
        if self._pipe is None:
            words.append("closed")
        elif self._closing:
            words.append("closing")
        words.append(f"fd={self._fileno}")
        loop = self._loop
        if self._pipe is not None and loop is not None and not loop.is_closed():
            words.append("polling" if polling else "idle")
        elif self._pipe is not None:
            words.append("open")
        else:
            words.append("closed")
        return words

    _fatal_message = "Fatal error on pipe transport"

    def set_protocol(self, protocol: Any) -> None:
        self._protocol = protocol

    def _file(self) -> Any:
        return self._pipe

    def _close(self, exc: BaseException | None) -> None:
        raise NotImplementedError

    def _current_fd(self) -> int:
        """The pipe's fd, or -1 once the program has closed the pipe object itself.

        Ring ops and writes name the fd by number, and after such a close the
        kernel may already have given that number to another file, which the
        stock transport's epoll registration would never follow.  Ops on -1
        fail with EBADF, as a syscall on the closed fd does.
        """
        try:
            if self._pipe.fileno() == self._fileno:
                return self._fileno
        except (ValueError, OSError):  # a closed file object's fileno() raises
            pass
        return -1

    def _close_after_error(self, exc: BaseException) -> None:
        self._close(exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._pipe.close()
            self._pipe = None
            self._protocol = None
            self._loop = None


class ReadPipeTransport(_PipeEnd, PausableReading, transports.ReadTransport):
    """Reads a pipe with one ring read at a time into a reused buffer."""

    max_size = 256 * 1024  # bytes one read may deliver, as the stock transport

    def __init__(self, loop: Any, pipe: Any, protocol: Any, waiter: Any = None, extra: Any = None) -> None:
        super().__init__(extra)
        self._extra["pipe"] = pipe
        self._loop = loop
        self._pipe = pipe
        self._fileno = pipe.fileno()
        self._protocol = protocol
        self._closing = False
        self._paused = False
        self._token: int | None = None
        # A completion that arrived after pause_reading(): delivered on resume.
        self._held: tuple[int] | None = None
        mode = os.fstat(self._fileno).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
            self._pipe = None
            self._fileno = None
            self._protocol = None
            raise ValueError("Pipe transport is for pipes/sockets only.")
        self._buf = page_aligned(self.max_size)
        loop.call_soon(protocol.connection_made, self)
        # Start reading only once connection_made() has run.
        loop.call_soon(self._arm)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)

    def __repr__(self) -> str:
        return "<{}>".format(" ".join(self._state_words(self._token is not None)))

    def _arm(self) -> None:
        if self._token is None and self.is_reading():
            fd = self._current_fd()
            if fd >= 0:  # else the program closed the pipe: reading stops quietly, as epoll forgets the fd
                self._token = self._loop._ring.read(fd, self._buf, -1, self._on_read)

    def _arm_poll(self) -> None:
        self._token = self._loop._ring.poll_add(self._fileno, select.POLLIN, self._on_readable)

    def _on_readable(self, res: int, flags: int) -> None:
        self._token = None
        if res != CANCELED and not self._closing:
            self._arm()

    def _on_read(self, res: int, flags: int) -> None:
        self._token = None
        if self._closing or res == CANCELED or self._current_fd() < 0:
            # After the program closed the pipe, what the read in flight got
            # (its op held the file open) is not for the protocol: with the
            # stock loop nothing reads a closed fd.
            return
        if -res in RETRY_ERRNOS:  # wait for readiness (at once after EINTR), then read again
            self._arm_poll()
            return
        outcome = bytes(memoryview(self._buf)[:res]) if res > 0 else res
        if self._paused:
            self._held = (outcome,)
        elif res == 0:
            # End of file calls no protocol code here: it only schedules it.
            self._deliver(0)
        else:
            self._loop.call_soon(self._deliver, outcome)

    def _deliver(self, outcome: bytes | int) -> None:
        if self._closing:
            return
        if isinstance(outcome, bytes):
            try:
                self._protocol.data_received(outcome)
            finally:
                self._arm()
        elif outcome == 0:
            if self._loop.get_debug():
                logger.info("%r was closed by peer", self)
            self._closing = True
            self._loop.call_soon(self._protocol.eof_received)
            self._loop.call_soon(self._call_connection_lost, None)
        else:
            self._fatal_error(os_error(outcome), "Fatal read error on pipe transport")

    # Pausing needs no hook: a read already in flight is held until resume.

    def _reading_resumed(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._loop.call_soon(self._deliver, held[0])
        else:
            self._arm()

    def close(self) -> None:
        """Stop reading; connection_lost(None) follows, then the pipe is closed."""
        if not self._closing:
            self._close(None)

    def _expected_error(self, exc: BaseException) -> bool:
        # EIO is how a pty master reports that the slave side has gone.
        return isinstance(exc, OSError) and exc.errno == errno.EIO

    def _close(self, exc: BaseException | None) -> None:
        self._closing = True
        self._held = None
        if self._token is not None:
            # The kernel keeps its own reference to the file, so the pipe can
            # be closed before the cancel lands; the buffer stays pinned.
            self._loop._ring.cancel(self._token)
            self._token = None
        self._loop.call_soon(self._call_connection_lost, exc)


class WritePipeTransport(_PipeEnd, transports._FlowControlMixin, transports.WriteTransport):
    """Writes a pipe with one ring write (or gathering writev) at a time.

    Data handed to :meth:`write` is queued and written from the next loop
    iteration; :meth:`get_write_buffer_size` counts it until the kernel has
    taken it.  For FIFOs and sockets a one-shot ring poll notices the reader
    going away, as the stock transport's reader does.
    """

    def __init__(self, loop: Any, pipe: Any, protocol: Any, waiter: Any = None, extra: Any = None) -> None:
        super().__init__(extra, loop)
        self._extra["pipe"] = pipe
        self._pipe = pipe
        self._fileno = pipe.fileno()
        self._protocol = protocol
        self._chunks: list[bytes] = []
        self._size = 0
        self._token: int | None = None
        self._peer_token: int | None = None
        self._conn_lost = 0
        self._closing = False  # set by close() or write_eof()
        mode = os.fstat(self._fileno).st_mode
        is_fifo, is_socket = stat.S_ISFIFO(mode), stat.S_ISSOCK(mode)
        if not (stat.S_ISCHR(mode) or is_fifo or is_socket):
            self._pipe = None
            self._fileno = None
            self._protocol = None
            raise ValueError("Pipe transport is only for pipes, sockets and character devices")
        os.set_blocking(self._fileno, False)
        loop.call_soon(protocol.connection_made, self)
        if is_fifo or is_socket:
            loop.call_soon(self._watch_peer)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)

    def __repr__(self) -> str:
        words = self._state_words(self._token is not None)
        if self._pipe is not None and self._loop is not None and not self._loop.is_closed():
            words.append(f"bufsize={self.get_write_buffer_size()}")
        return "<{}>".format(" ".join(words))

    def get_write_buffer_size(self) -> int:
        """Bytes written to the transport that the kernel has not taken yet."""
        return self._size

    # -- the reader going away --------------------------------------------------

    def _watch_peer(self) -> None:
        if self._pipe is not None and not self._closing:
            # A pipe's write end reports POLLERR once the reader is gone; a
            # socket reports readable.  Either way the peer has hung up.
            self._peer_token = self._loop._ring.poll_add(self._current_fd(), select.POLLIN, self._on_peer)

    def _on_peer(self, res: int, flags: int) -> None:
        self._peer_token = None
        if res == CANCELED or self._pipe is None or self._closing and not self._size:
            return
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        self._close(BrokenPipeError() if self._size else None)

    # -- writing -------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` now as far as the pipe takes it; queue the rest for ring writes, in order."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if not data:
            return
        if self._conn_lost or self._closing:
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("pipe closed by peer or os.write(pipe, data) raised exception.")
            self._conn_lost += 1
            return
        if not self._chunks:
            try:
                n = os.write(self._current_fd(), data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._conn_lost += 1
                self._fatal_error(exc, "Fatal write error on pipe transport")
                return
            if n == len(data):
                return
            data = memoryview(data)[n:]
        # A copy: the caller may reuse a mutable buffer at once.
        chunk = data if type(data) is bytes else bytes(data)
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._token is None:
            self._wait_writable()
        self._maybe_pause_protocol()

    def _wait_writable(self) -> None:
        self._token = self._loop._ring.poll_add(self._current_fd(), select.POLLOUT, self._on_writable)

    def _flush(self) -> None:
        ring = self._loop._ring
        chunks = self._chunks
        fd = self._current_fd()
        if len(chunks) == 1:
            self._token = ring.write(fd, chunks[0], -1, self._on_write)
        else:
            self._token = ring.writev(fd, chunks[:IOV_MAX], -1, self._on_write)

    def _on_writable(self, res: int, flags: int) -> None:
        self._token = None
        if res != CANCELED and self._pipe is not None and self._chunks:
            self._flush()

    def _on_write(self, res: int, flags: int) -> None:
        self._token = None
        if res == CANCELED or self._pipe is None or not self._chunks:
            return
        if -res in RETRY_ERRNOS:  # wait for readiness (at once after EINTR), then write again
            self._wait_writable()
            return
        if res < 0:
            self._chunks.clear()
            self._size = 0
            self._conn_lost += 1
            self._fatal_error(os_error(res), "Fatal write error on pipe transport")
            return
        self._consume(res)
        if self._chunks:  # a short write: the pipe is full for now
            self._wait_writable()
            return
        self._maybe_resume_protocol()  # may write more
        if not self._chunks and self._closing:
            self._cancel_peer_watch()
            self._loop.call_soon(self._call_connection_lost, None)

    def _consume(self, n: int) -> None:
        self._size -= n
        chunks = self._chunks
        i = 0
        while n and n >= len(chunks[i]):
            n -= len(chunks[i])
            i += 1
        del chunks[:i]
        if n:
            chunks[0] = chunks[0][n:]

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        """Close once everything queued has been written."""
        if self._closing:
            return
        self._closing = True
        if not self._chunks:
            self._cancel_peer_watch()
            self._loop.call_soon(self._call_connection_lost, None)

    def close(self) -> None:
        """Write what is queued, then close (as :meth:`write_eof`)."""
        if self._pipe is not None and not self._closing:
            self.write_eof()

    def abort(self) -> None:
        """Close now, dropping what is queued; connection_lost(None) follows."""
        self._close(None)

    def _cancel_peer_watch(self) -> None:
        if self._peer_token is not None:
            self._loop._ring.cancel(self._peer_token)
            self._peer_token = None

    def _close(self, exc: BaseException | None = None) -> None:
        self._closing = True
        self._chunks.clear()
        self._size = 0
        if self._token is not None:
            self._loop._ring.cancel(self._token)
            self._token = None
        self._cancel_peer_watch()
        self._loop.call_soon(self._call_connection_lost, exc)
