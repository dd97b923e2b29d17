"""UDP (and other datagram socket) transports over recvmsg/sendmsg ring ops.

One recvmsg is in flight at a time; each sendto is its own sendmsg op, so a
burst of datagrams reaches the kernel in one submission.  The sends of a
burst are linked (IOSQE_IO_LINK): the kernel runs them in order, and one
that fails cancels those behind it, so a datagram refused for want of room
is never overtaken by a later one that found room.

Sends carry MSG_DONTWAIT: the kernel answers -EAGAIN at once when the socket
has no room (a full peer queue on AF_UNIX, a full send buffer) instead of
retrying the send itself.  Its own retry of a datagram send is not safe: on
AF_UNIX it can deliver an empty datagram, and retried sends finish in any
order.  A datagram refused that way waits here, in order, with every later
one, until a ring poll says the socket is writable, as the stock transport
keeps its buffer.  A receive answered -EAGAIN likewise waits for a poll.
"""
from __future__ import annotations

import errno
import operator
import socket
from asyncio import constants, futures
import select
from collections import deque
from typing import Any

from .._ring.errors import CANCELED, RETRY_ERRNOS, logger, os_error
from .._ring.memory import page_aligned
from . import sockaddr
from .transport import RingSocketTransportBase

_MAX_DATAGRAM = 256 * 1024
# Errors that say the socket itself is unusable, not that a datagram failed.
_FATAL_ERRNOS = frozenset((errno.EBADF, errno.ENOTSOCK, errno.EINVAL))


_DONTWAIT = socket.MSG_DONTWAIT


class _Send:
    """Completion handler of one sendto: its datagram and address, kept for a resend; ``seq`` is its place in order."""

    __slots__ = ("transport", "data", "address", "token", "seq")

    def __init__(self, transport: RingDatagramTransport, data: bytes, address: bytes | None, seq: int) -> None:
        self.transport = transport
        self.data = data
        self.address = address
        self.token = 0
        self.seq = seq

    def __call__(self, res: int, flags: int) -> None:
        self.transport._on_sent(self, res)


_by_seq = operator.attrgetter("seq")


class RingDatagramTransport(RingSocketTransportBase):
    """A datagram socket transport on the ring (asyncio.DatagramTransport)."""

    def __init__(
        self,
        loop: Any,
        sock: socket.socket,
        protocol: Any,
        address: Any = None,
        waiter: Any = None,
        extra: dict | None = None,
    ) -> None:
        super().__init__(loop, sock, protocol, extra)
        self._address = address
        self._recv_buf = page_aligned(_MAX_DATAGRAM)
        self._name_buf = bytearray(sockaddr.SOCKADDR_STORAGE_SIZE)
        self._recv_op: int | None = None
        self._recv_msg: Any = None
        self._sends: dict[int, int] = {}  # token -> datagram size, for flow control
        # Not in flight: refused for want of room, cancelled behind one that
        # was, or held back behind sends in flight it could not be linked to.
        self._waiting: deque[_Send] = deque()
        self._last_token = 0  # the send queued last, which the next one is linked behind
        self._seq = 0
        self._writable_poll: int | None = None
        self._readable_poll: int | None = None
        self._buffer_size = 0
        self._held: tuple[int, bytes, Any] | None = None  # completion that arrived while paused
        self._sock_gone = False  # the program closed the socket under us
        self._loop.call_soon(self._protocol.connection_made, self)
        self._loop.call_soon(self._arm_read)
        if waiter is not None:
            self._loop.call_soon(futures._set_result_unless_cancelled, waiter, None)

    def get_write_buffer_size(self) -> int:
        return self._buffer_size

    # -- receiving ------------------------------------------------------------------

    def _arm_read(self) -> None:
        if (self._paused or self._closing or self._recv_op is not None or self._readable_poll is not None
                or self._sock_gone):
            return
        self._recv_op, self._recv_msg = self._ring.recvmsg(
            self._sock_fd, self._recv_buf, self._name_buf, 0, self._on_recv
        )

    def _on_recv(self, res: int, flags: int) -> None:
        self._recv_op = None
        if res == CANCELED or self._conn_lost:
            return
        if res < 0:
            if -res in _FATAL_ERRNOS:
                self._fatal_error(os_error(res), "Fatal read error on datagram transport")
                return
            if -res in RETRY_ERRNOS:  # nothing there after all: wait for a datagram
                if not (self._closing or self._sock_gone):
                    self._readable_poll = self._ring.poll_add(self._sock_fd, select.POLLIN, self._on_readable)
                return
            self._protocol.error_received(os_error(res))
            self._arm_read()
            return
        data = bytes(memoryview(self._recv_buf)[:res])
        address = sockaddr.decode(memoryview(self._name_buf)[: self._recv_msg.msg_namelen])
        if self._paused:
            self._held = (res, data, address)
            return
        self._arm_read()
        self._protocol.datagram_received(data, address)

    def _on_readable(self, res: int, flags: int) -> None:
        self._readable_poll = None
        if res != CANCELED and not self._conn_lost:
            self._arm_read()

    def _reading_resumed(self) -> None:
        self._loop.call_soon(self._resume)

    def _resume(self) -> None:
        if self._paused or self._closing:
            return
        held, self._held = self._held, None
        self._arm_read()
        if held is not None:
            self._protocol.datagram_received(held[1], held[2])

    # -- sending ----------------------------------------------------------------------

    def sendto(self, data: Any, addr: Any = None) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if not data:
            return
        if self._address:
            if addr not in (None, self._address):
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = None  # connected: the kernel knows the peer
        if self._conn_lost and self._address:
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if self._closing:
            return
        raw = None if addr is None else self._raw_address(addr)
        self._seq += 1
        send = _Send(self, data if isinstance(data, bytes) else bytes(data), raw, self._seq)
        self._buffer_size += len(send.data)
        self._enqueue(send)
        self._maybe_pause_protocol()

    def _enqueue(self, send: _Send) -> None:
        if self._waiting:  # earlier datagrams wait: this one goes after them
            self._waiting.append(send)
            return
        if self._sends:
            # Earlier ones are in flight, and one of them may yet be refused:
            # this one goes only linked behind the last (a refusal then
            # cancels it too), else it waits until they are done.
            token = self._ring.sendmsg_linked(self._sock_fd, [send.data], send.address, _DONTWAIT, send,
                                              self._last_token)
            if token is None:
                self._waiting.append(send)
                return
        else:
            token = self._ring.sendmsg(self._sock_fd, [send.data], send.address, _DONTWAIT, send)
        send.token = self._last_token = token
        self._sends[token] = len(send.data)

    def _raw_address(self, addr: Any) -> bytes:
        try:
            return sockaddr.encode(self._sock.family, addr)
        except OSError:  # a host name: resolve it as socket.sendto would
            info = socket.getaddrinfo(addr[0], addr[1], self._sock.family, socket.SOCK_DGRAM)
            return sockaddr.encode(self._sock.family, info[0][4])

    def _on_sent(self, send: _Send, res: int) -> None:
        size = self._sends.pop(send.token)
        if self._conn_lost:  # aborted: _clear_write_buffer has already zeroed the size
            return
        if -res in RETRY_ERRNOS or res == CANCELED:
            # Refused for want of room, or cancelled because one linked
            # before it failed (a transport's own cancels come with
            # _conn_lost): kept, in order, for when the socket is writable.
            self._waiting.append(send)
            if -res in RETRY_ERRNOS and self._writable_poll is None:
                self._writable_poll = self._ring.poll_add(self._sock_fd, select.POLLOUT, self._on_writable)
        else:
            self._buffer_size -= size
            if res < 0:
                self._protocol.error_received(os_error(res))
            self._maybe_resume_protocol()
        if not self._sends and self._writable_poll is None and self._waiting:
            self._resend()
        if self._closing and not self._writes_unfinished():
            self._call_connection_lost(None)

    def close(self) -> None:
        self._cancel(self._readable_poll)  # a poll waiting for a datagram would hold the socket open
        super().close()

    def _on_writable(self, res: int, flags: int) -> None:
        self._writable_poll = None
        if res == CANCELED or self._conn_lost or self._sock_gone:
            return
        if not self._sends:  # else the last completion resends
            self._resend()

    def _resend(self) -> None:
        """Queue the waiting datagrams again, in the order they were written."""
        waiting = sorted(self._waiting, key=_by_seq)
        self._waiting = deque()
        for send in waiting:
            self._enqueue(send)

    def _clear_write_buffer(self) -> None:
        self._buffer_size = 0
        self._waiting.clear()

    def _cancel_all(self) -> None:
        self._cancel(self._recv_op)
        self._cancel(self._readable_poll)
        self._cancel(self._writable_poll)
        for token in list(self._sends):
            self._cancel(token)

    def _stop_reading_for_good(self) -> None:
        self._sock_gone = True

    def _writes_unfinished(self) -> bool:
        return bool(self._sends or self._waiting)
