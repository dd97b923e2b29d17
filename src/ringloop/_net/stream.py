"""TCP and Unix stream transports whose reads and writes are ring operations.

Reading, plain Protocol: one multishot recv per connection that takes its
buffers from the loop's provided-buffer pool; each completion's bytes are
copied out for data_received and the buffer goes back to the kernel with the
next submit.  pause_reading cancels it; what completes before the cancel is
held and delivered on resume_reading.  Where the kernel has no multishot recv:
one single-shot recv at a time into the transport's own buffer.

Reading, BufferedProtocol: one single-shot recv at a time straight into the
buffer from get_buffer(); pause_reading does not cancel it (a cancel can lose
the bytes it raced with): a completion that lands while paused is held.

Writing: what a loop iteration writes goes out together, as one send, queued
at the start of the ring's next wait (Ring.before_submit): a response written as a
head and a body is one operation and one completion, not two.  One send in
flight at a time; what is written meanwhile queues up and goes out in the next
operation, joined into one bytes when small, else gathered by sendmsg.  A large
write with nothing before it pending is tried at once with a non-blocking
send(2), as the stock transport does; only what the socket did not take is queued.

On a ring with silent sends (Ring.send_silent) a send that nobody waits on (no
close, write_eof, sendfile or paused protocol) is silent: the kernel posts a
completion only when the socket did not take it all, so the usual send costs
no completion and no handler.  The transport counts it as sent when it queues
it; a failure, handed out before any other completion of the same wait, puts
what was not sent back at the head of the queue before anything else can run.
"""
from __future__ import annotations

import collections
import errno
import select
import socket
from asyncio import constants, futures, protocols
from typing import Any

from .._ring.errors import CANCELED, RETRY_ERRNOS, logger, os_error
from .._ring.memory import IOV_MAX, page_aligned, pin
from .._ring.ring import CQE_F_BUFFER, CQE_F_MORE, ignore_completion
from .transport import RingSocketTransportBase

_SEND_FLAGS = socket.MSG_NOSIGNAL  # EPIPE as an error, never SIGPIPE
#: Queued chunks up to this many bytes in all are joined into one bytes and
#: sent with send; more are gathered by sendmsg.  Below it the copy costs less
#: than the iovec array and the pin per chunk that sendmsg needs.
_JOIN_LIMIT = 16 * 1024
#: A write of at least this many bytes, with nothing queued or in flight
#: before it, is tried at once with a non-blocking send(2), as the stock
#: transport tries every write: what the socket takes never counts as
#: buffered (no pause_writing for a 100 KiB echo), costs no ring operation
#: and no completion, and a mutable buffer needs no copy.  Smaller writes
#: wait for the iteration's end, to leave together with the writes after them.
_SEND_AT_ONCE = 16 * 1024
_SEND_AT_ONCE_FLAGS = _SEND_FLAGS | socket.MSG_DONTWAIT
#: The loop's provided-buffer pool that multishot recvs fill: 4 MiB, as 32
#: buffers of 128 KiB.  A message of up to 128 KiB that has arrived whole is
#: one read, one data_received and one write; with 64 KiB buffers a 100 KiB
#: echo took two of each and a gathered send per round trip.  The kernel
#: takes the buffers in turn, so the pool's size is how much memory the
#: kernel's copies cycle through: with 128 buffers a 100 KiB echo wrote into
#: 12.5 MiB before reusing a buffer, which no longer sits in the CPU's cache
#: (server CPU per round trip over uvloop's 1.32-1.36 with 128 buffers,
#: 1.21-1.26 with 32, paired rounds; docs/networking.md).  A burst from more
#: connections than buffers costs a re-armed recv (-ENOBUFS), not data.
POOL_BUFFERS = 32
POOL_BUFFER_SIZE = 128 * 1024


class RingStreamTransport(RingSocketTransportBase):
    """A stream socket transport on the ring (asyncio.Transport)."""

    max_size = 256 * 1024  # bytes per recv for a plain Protocol

    _start_tls_compatible = True
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE

    def __init__(
        self,
        loop: Any,
        sock: socket.socket,
        protocol: Any,
        waiter: Any = None,
        extra: dict | None = None,
        server: Any = None,
    ) -> None:
        self._read_buffer: Any = None  # what the recv in flight fills
        self._read_pin: Any = None  # its pin, when a bytearray's pin may be reused
        self._buffer_owner: Any = None  # the protocol that lent it
        # The op in flight per direction (a recv/send, or the readiness poll
        # that stands in for one after -EAGAIN); None when idle.
        self._recv_op: int | None = None
        self._recv_is_multishot = False
        self._at_eof = False  # the peer's FIN was delivered: nothing more to read
        self._send_op: int | None = None
        super().__init__(loop, sock, protocol, extra, server)
        self._own_buffer: Any = None  # made when a single-shot recv needs it
        # Reads that completed while paused, in order: bytes (multishot) or
        # (count, buffer) (single shot).
        self._held: list[Any] = []
        self._write_queue: collections.deque[Any] = collections.deque()
        self._buffer_size = 0  # queued plus in flight
        self._sending: list[Any] | None = None
        self._flush_pending = False  # _flush_writes is registered with the ring
        self._eof = False
        self._empty_waiter: Any = None
        self._silent_data: Any = None  # what the last silent send sent, until the next one
        if hasattr(socket, "TCP_NODELAY") and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._loop.call_soon(self._protocol.connection_made, self)
        # The first read is armed one iteration later, behind what
        # connection_made schedules: as with the stock loop, whose first read
        # callback follows the readiness event of the next iteration.  A
        # server that starts TLS in its handler's first step (start_tls pauses
        # reading) then gets the client's hello, not the plain protocol.
        self._loop.call_soon(self._loop.call_soon, self._arm_read)
        if waiter is not None:
            self._loop.call_soon(futures._set_result_unless_cancelled, waiter, None)

    def set_protocol(self, protocol: Any) -> None:
        self._buffered = isinstance(protocol, protocols.BufferedProtocol)
        if self._buffered and self._recv_is_multishot and self._recv_op is not None:
            # A BufferedProtocol reads into its own buffers: end the multishot
            # recv; its last completion arms a single-shot one.
            self._cancel(self._recv_op)
        super().set_protocol(protocol)

    # -- reading --------------------------------------------------------------

    def _arm_read(self) -> None:
        if self._paused or self._closing or self._recv_op is not None or self._at_eof:
            return
        if self._buffered:
            self._recv_into_protocol_buffer()
            return
        ring = self._ring
        buffers = None if ring.no_multishot_recv else ring.buffer_ring(POOL_BUFFERS, POOL_BUFFER_SIZE)
        if buffers is not None:
            # One multishot recv serves every read until pause or close;
            # the kernel picks buffers from the loop's shared pool.
            self._take = buffers.take
            self._recv_op = ring.recv_multishot(self._sock_fd, self._on_recv_multishot)
            self._recv_is_multishot = True
            return
        if self._own_buffer is None:
            self._own_buffer = page_aligned(self.max_size)
        self._read_buffer = self._own_buffer
        self._buffer_owner = self._protocol
        self._recv_op = ring.recv(self._sock_fd, self._own_buffer, 0, self._on_recv)
        self._recv_is_multishot = False

    def _recv_into_protocol_buffer(self) -> None:
        """Arm a single-shot recv into the BufferedProtocol's get_buffer()."""
        protocol = self._protocol
        try:
            buf = protocol.get_buffer(-1)
            size = len(buf)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
            return
        self._recv_into_lent_buffer(buf, size, protocol, None)

    def _recv_into_lent_buffer(self, buf: Any, size: int, protocol: Any, last_pin: Any) -> None:
        """Arm a single-shot recv into ``buf`` (``size`` bytes), which ``protocol``'s get_buffer() returned.

        ``last_pin`` is the pin of the recv that just completed into a
        bytearray (None otherwise): when get_buffer() hands out that same
        bytearray again, as most protocols do, the pin is reused, saving a
        from_buffer per read.  It has pinned the bytearray without a break
        (the ring held it until the completion's handler returned), so its
        memory and size are still the bytearray's.
        """
        if not size:
            self._fatal_error(RuntimeError("get_buffer() returned an empty buffer"),
                              "Fatal error: protocol.get_buffer() call failed.")
            return
        if type(buf) is not bytearray:
            buf = _pinned_part(buf)
        if last_pin is None or buf is not self._read_buffer:
            # Only a bytearray's pin is kept (see _pinned_part: a view the
            # transport kept pinned could fail a garbage collection).
            last_pin = pin(buf, writable=True) if type(buf) is bytearray else None
        self._read_buffer = buf
        self._buffer_owner = protocol
        if last_pin is None:
            self._recv_op = self._ring.recv(self._sock_fd, buf, 0, self._on_recv)
        else:
            self._recv_op = self._ring.recv_pinned(self._sock_fd, last_pin, len(buf), 0, self._on_recv)
        self._read_pin = last_pin
        self._recv_is_multishot = False

    def _on_recv_multishot(self, res: int, flags: int) -> None:
        # Take the bytes first in every case: that is what recycles the buffer.
        data = self._take(res, flags) if flags & CQE_F_BUFFER else b""
        if res > 0 and flags & CQE_F_MORE and not (
            self._paused or self._held or self._closing or self._conn_lost or self._buffered
        ):
            self._protocol.data_received(data)  # the hot path: bytes for a plain protocol, more to come
            return
        ended = not flags & CQE_F_MORE
        if ended:
            self._recv_op = None
        ring = self._ring
        if self._conn_lost or (self._closing and res != CANCELED):
            return  # after close(), no more data_received
        if res < 0:
            if res == CANCELED:
                # Cancelled by pause, close or a switch to a BufferedProtocol;
                # only the last one wants reading to go on.
                if ended:
                    self._arm_read()
            elif res == -errno.ENOBUFS:
                self._arm_read()  # the pool ran dry; buffers return before the next submit
            elif res == -errno.EINVAL:
                ring.no_multishot_recv = True  # a kernel with buffer rings but no multishot recv
                self._arm_read()
            elif -res in RETRY_ERRNOS:
                self._recv_op = ring.poll_add(self._sock_fd, select.POLLIN, self._on_readable)
            else:
                self._fatal_error(os_error(res), "Fatal read error on socket transport")
            return
        if self._paused or self._held:
            self._held.append(data)
            return
        self._deliver_bytes(data)
        if ended and data:
            # The kernel may end a multishot recv after any completion (CQ
            # overflow, its own limits): keep reading with a new one.
            self._arm_read()

    def _on_recv(self, res: int, flags: int) -> None:
        self._recv_op = None
        last_pin, self._read_pin = self._read_pin, None
        buf = self._read_buffer
        protocol = self._protocol
        if res > 0 and buf is not self._own_buffer and self._buffer_owner is protocol and not (
            self._conn_lost or self._closing or self._paused
        ):
            # The hot path: bytes in the buffer a BufferedProtocol lent, then
            # a recv into the one it lends next (_buffer_updated,
            # _arm_read and _recv_into_protocol_buffer spelled out, without
            # their frames, down to the common case of the same bytearray).
            try:
                protocol.buffer_updated(res)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")
                return
            if self._paused or self._closing or self._recv_op is not None or self._at_eof:
                return
            if self._protocol is not protocol:
                self._arm_read()  # buffer_updated() called set_protocol(): read as the new protocol reads
                return
            try:
                buf_next = protocol.get_buffer(-1)
                size = len(buf_next)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
                return
            if buf_next is buf and last_pin is not None and size:
                # The bytearray just read into, still pinned: see _recv_into_lent_buffer.
                self._read_pin = last_pin
                self._recv_op = self._ring.recv_pinned(self._sock_fd, last_pin, size, 0, self._on_recv)
            else:
                self._recv_into_lent_buffer(buf_next, size, protocol, last_pin)
            return
        if res == CANCELED or self._conn_lost or self._closing:
            return
        if res < 0:
            if -res in RETRY_ERRNOS:
                self._recv_op = self._ring.poll_add(self._sock_fd, select.POLLIN, self._on_readable)
                return
            self._fatal_error(os_error(res), "Fatal read error on socket transport")
            return
        if self._paused:
            self._held.append((res, self._read_buffer))
            return
        self._deliver(res, self._read_buffer)

    def _on_readable(self, res: int, flags: int) -> None:
        self._recv_op = None
        if res != CANCELED and not self._conn_lost:
            self._arm_read()

    def _deliver(self, nbytes: int, buf: Any) -> None:
        """Hand over what a single-shot recv put into ``buf``, then read on."""
        if nbytes and buf is not self._own_buffer and self._buffer_owner is self._protocol:
            if self._buffer_updated(nbytes):
                self._arm_read()
            return
        # Our own buffer, or one lent by a protocol that start_tls or
        # set_protocol replaced while the recv was in flight: copy it out.
        data = bytes(memoryview(buf)[:nbytes])
        # Re-arm before running the protocol: the bytes are copied out, and
        # the next recv can already be waiting in the kernel.  Not after EOF.
        if data:
            self._arm_read()
        self._deliver_bytes(data)

    def _deliver_bytes(self, data: bytes) -> None:
        if not data:
            self._read_eof()
        elif self._buffered:
            self._feed_buffered(data)
        else:
            self._protocol.data_received(data)

    def _feed_buffered(self, data: bytes) -> None:
        """Hand bytes read for a plain protocol to a BufferedProtocol (after set_protocol)."""
        view = memoryview(data)
        while view:
            try:
                buf = self._protocol.get_buffer(len(view))
                n = min(len(buf), len(view))
                if not n:
                    raise RuntimeError("get_buffer() returned an empty buffer")
                buf[:n] = view[:n]
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
                return
            if not self._buffer_updated(n):
                return
            view = view[n:]

    def _buffer_updated(self, nbytes: int) -> bool:
        """Tell a BufferedProtocol that ``nbytes`` landed in its buffer; False if that failed (transport ended)."""
        try:
            self._protocol.buffer_updated(nbytes)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")
            return False
        return True

    def _read_eof(self) -> None:
        self._at_eof = True
        if self._loop.get_debug():
            logger.debug("%r received EOF", self)
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if not keep_open:
            self.close()

    def _reading_paused(self) -> None:
        if self._recv_is_multishot:
            # A multishot recv would keep taking data: stop it; what it
            # delivers before the kernel confirms is held for resume.
            self._cancel(self._recv_op)

    def _reading_resumed(self) -> None:
        self._loop.call_soon(self._resume)

    def _resume(self) -> None:
        held = self._held
        while held and not self._paused and not self._closing:
            item = held.pop(0)
            if isinstance(item, bytes):
                self._deliver_bytes(item)
            else:
                self._deliver(*item)
        self._arm_read()

    # -- writing --------------------------------------------------------------

    def write(self, data: Any) -> None:
        kind = type(data)
        if kind is not bytes or not data or self._eof or self._conn_lost or self._empty_waiter is not None:
            if not ((kind is memoryview or kind is bytearray) and data and not (
                self._eof or self._conn_lost or self._empty_waiter is not None
            )):
                # asyncpg writes every message as a memoryview of its buffer,
                # a BufferedProtocol often a bytearray slice of its own: they
                # skip the checks' frame (copied below unless sent at once).
                data = self._write_checked(data)
                if data is None:
                    return
        size = len(data)
        if size >= _SEND_AT_ONCE and self._sending is None and not self._write_queue and not self._closing:
            data = self._send_at_once(data)
            if data is None:
                return
            size = len(data)
        elif kind is not bytes:
            data = bytes(data)  # the caller may reuse a mutable buffer as soon as write() returns
            size = len(data)  # a view's len() counts its items
        self._buffer_size += size
        self._write_queue.append(data)
        if self._sending is None and not self._flush_pending:
            # The first write since the last send: it leaves with every later
            # one of this iteration, at the start of the next wait
            # (_schedule_flush, spelled out on this hot path).
            self._flush_pending = True
            self._ring.before_submit(self._flush_writes)
        if self._buffer_size > self._high_water:
            self._maybe_pause_protocol()

    def _send_at_once(self, data: Any) -> Any:
        """Send ``data`` with one non-blocking send(2) now; the bytes it left (never a view of a mutable buffer), or None.

        None also when the send failed: the transport is then closing.
        """
        try:
            sent = self._sock.send(data, _SEND_AT_ONCE_FLAGS)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal write error on socket transport")
            return None
        if type(data) is bytes:
            if sent == len(data):
                return None
            return memoryview(data)[sent:] if sent else data
        # send(2) counts bytes, a view's slices count its items.
        rest = memoryview(data).cast("B")[sent:]
        return bytes(rest) if rest else None

    def _write_checked(self, data: Any) -> Any:
        """write()'s argument and state checks: the buffer to send, or None when there is nothing to do."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._empty_waiter is not None:
            raise RuntimeError("unable to write; sendfile is in progress")
        if not data:
            return None
        if self._conn_lost:
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return None
        return data

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _schedule_flush(self) -> None:
        self._flush_pending = True
        self._ring.before_submit(self._flush_writes)

    def _flush_writes(self) -> None:
        """Send what was written since the last send, as one op, unless a send is in flight.

        Only the ring calls this, at the start of its next wait (see write
        and _schedule_flush), which is also the only place a silent send may
        be queued.
        """
        self._flush_pending = False
        queue = self._write_queue
        if self._sending is not None or not queue or self._conn_lost:
            return
        try:
            if len(queue) == 1:
                data = queue.popleft()
            else:
                chunks = [queue.popleft() for _ in range(min(len(queue), IOV_MAX))]
                if sum(map(len, chunks)) > _JOIN_LIMIT:
                    self._sending = chunks
                    self._send_op = self._ring.sendmsg(self._sock_fd, chunks, None, _SEND_FLAGS, self._on_sent)
                    return
                data = b"".join(chunks)
            if self._ring.silent_sends and not (
                self._protocol_paused or self._closing or self._eof or self._empty_waiter is not None
            ):
                # Counted as sent now: should the socket not take it all,
                # _on_silent_send_failed runs before any other handler.
                self._ring.send_silent(self._sock_fd, data, _SEND_FLAGS, self._on_silent_send_failed)
                self._silent_data = data
                self._buffer_size -= len(data)
                return
            self._sending = [data]
            self._send_op = self._ring.send(self._sock_fd, data, _SEND_FLAGS, self._on_sent)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # the ring refused the op: closed, or its SQ stuck full
            self._fatal_error(exc, "Fatal write error on socket transport")

    def _on_sent(self, res: int, flags: int) -> None:
        chunks = self._sending
        self._send_op = self._sending = None
        if res == self._buffer_size and not (
            self._protocol_paused or self._closing or self._eof or self._conn_lost or self._empty_waiter is not None
        ):
            # The hot path: the send took every byte written so far (the
            # buffer size counts queued and in-flight bytes, so nothing is
            # queued), and no one waits to hear it.
            self._buffer_size = 0
            return
        if res == CANCELED or self._conn_lost:
            return
        if res < 0:
            if -res in RETRY_ERRNOS:
                self._write_queue.extendleft(reversed(chunks))
                self._wait_until_writable()
                return
            exc = os_error(res)
            if self._empty_waiter is not None:
                self._empty_waiter.set_exception(exc)
            self._fatal_error(exc, "Fatal write error on socket transport")
            return
        self._buffer_size -= res
        if len(chunks) > 1 or res < len(chunks[0]):
            self._write_queue.extendleft(reversed(_unsent(chunks, res)))
        if self._protocol_paused:
            self._maybe_resume_protocol()  # may write more
        if self._sending is not None:
            return
        if self._write_queue:
            if not self._flush_pending:  # with what the rest of this iteration writes
                self._schedule_flush()
            return
        if self._empty_waiter is not None:
            self._empty_waiter.set_result(None)
        if self._closing:
            self._call_connection_lost(None)
        elif self._eof:
            self._shutdown_write()

    def _on_silent_send_failed(self, res: int, flags: int) -> None:
        """A silent send did not go out whole: ``res`` bytes did (> 0), or none (-errno).

        Runs before any other completion handler of its wait, so nothing
        has been written or flushed since it was queued but what now sits
        behind it in the write queue: the unsent part goes back in front.
        """
        data, self._silent_data = self._silent_data, None
        if self._conn_lost:
            return
        if res < 0 and -res not in RETRY_ERRNOS:
            self._fatal_error(os_error(res), "Fatal write error on socket transport")
            return
        rest = memoryview(data)[res:] if res > 0 else data
        self._write_queue.appendleft(rest)
        self._buffer_size += len(rest)
        self._wait_until_writable()
        if self._buffer_size > self._high_water:
            self._maybe_pause_protocol()

    def _wait_until_writable(self) -> None:
        """The socket is full: hold every write back (no flush sends) until a POLLOUT poll says it has room."""
        self._sending = []
        self._send_op = self._ring.poll_add(self._sock_fd, select.POLLOUT, self._on_writable)

    def _on_writable(self, res: int, flags: int) -> None:
        self._send_op = None
        self._sending = None
        if res != CANCELED and not self._flush_pending:
            # At the next wait, with what this iteration writes: a silent
            # send may be queued only there (Ring.send_silent).
            self._schedule_flush()

    def _clear_write_buffer(self) -> None:
        self._write_queue.clear()
        self._buffer_size = 0

    def _cancel_all(self) -> None:
        self._cancel(self._recv_op)
        self._cancel(self._send_op)

    def _stop_reading_for_good(self) -> None:
        self._at_eof = True  # _arm_read's test: nothing more to read

    def _writes_unfinished(self) -> bool:
        return self._sending is not None or bool(self._write_queue)

    def get_write_buffer_size(self) -> int:
        return self._buffer_size

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._closing or self._eof:
            return
        self._eof = True
        if self._sending is None and not self._write_queue:
            self._shutdown_write()

    def _shutdown_write(self) -> None:
        self._ring.shutdown(self._sock_fd, socket.SHUT_WR, ignore_completion)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            super()._call_connection_lost(exc)
        finally:
            # The ring keeps this transport (the handler of a cancelled recv)
            # until that completion is harvested, which may be after the loop
            # stopped: it must not keep the protocol that lent a buffer alive.
            self._buffer_owner = None


    # -- sendfile support (loop._sendfile_native) -----------------------------

    def _make_empty_waiter(self) -> Any:
        if self._empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        self._empty_waiter = self._loop.create_future()
        if self._sending is None and not self._write_queue:
            self._empty_waiter.set_result(None)
        return self._empty_waiter

    def _reset_empty_waiter(self) -> None:
        self._empty_waiter = None


def _pinned_part(buf: Any) -> Any:
    """What the ring pins for a protocol's read buffer: the bytearray a writable view spans whole, else the view.

    A bytearray costs less to pin than a view.  And a view the ring pins can
    fail a garbage collection: an exception raised under a completion handler
    and stored (an SSL handshake error) keeps the ring's dispatch frame and,
    in it, the pin; when that cycle is collected, clearing the view while the
    pin still exports it prints "Exception ignored in tp_clear" (BufferError).
    A bytearray is never cleared by the collector.
    """
    if type(buf) is memoryview and not buf.readonly and buf.c_contiguous:
        whole = buf.obj
        if type(whole) is bytearray and buf.nbytes == len(whole):
            return whole
    return buf


def _unsent(chunks: list[Any], sent: int) -> list[Any]:
    """The part of ``chunks`` past the first ``sent`` bytes."""
    for index, chunk in enumerate(chunks):
        if sent < len(chunk):
            rest = chunks[index:]
            if sent:
                rest[0] = memoryview(chunk)[sent:]
            return rest
        sent -= len(chunk)
    return []
