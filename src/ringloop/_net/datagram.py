"""UDP (and other datagram socket) transports over recvmsg/sendmsg ring ops.

One recvmsg is in flight at a time; each sendto is its own sendmsg op, so a
burst of datagrams reaches the kernel in one submission.
"""
from __future__ import annotations

import errno
import socket
from asyncio import constants, futures
from typing import Any

from .._ring.errors import CANCELED, RETRY_ERRNOS, logger, os_error
from .._ring.memory import page_aligned
from . import sockaddr
from .transport import RingSocketTransportBase

_MAX_DATAGRAM = 256 * 1024
# Errors that say the socket itself is unusable, not that a datagram failed.
_FATAL_ERRNOS = frozenset((errno.EBADF, errno.ENOTSOCK, errno.EINVAL))


class _Send:
    """Completion handler of one sendto: knows its datagram's token and size."""

    __slots__ = ("transport", "size", "token")

    def __init__(self, transport: RingDatagramTransport, size: int) -> None:
        self.transport = transport
        self.size = size
        self.token = 0

    def __call__(self, res: int, flags: int) -> None:
        self.transport._on_sent(self, res)


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
        if self._paused or self._closing or self._recv_op is not None or self._sock_gone:
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
            if -res not in RETRY_ERRNOS:
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
        chunk = data if isinstance(data, bytes) else bytes(data)
        send = _Send(self, len(chunk))
        send.token = self._ring.sendmsg(self._sock_fd, [chunk], raw, 0, send)
        self._sends[send.token] = send.size
        self._buffer_size += send.size
        self._maybe_pause_protocol()

    def _raw_address(self, addr: Any) -> bytes:
        try:
            return sockaddr.encode(self._sock.family, addr)
        except OSError:  # a host name: resolve it as socket.sendto would
            info = socket.getaddrinfo(addr[0], addr[1], self._sock.family, socket.SOCK_DGRAM)
            return sockaddr.encode(self._sock.family, info[0][4])

    def _on_sent(self, send: _Send, res: int) -> None:
        self._buffer_size -= self._sends.pop(send.token)
        if res == CANCELED or self._conn_lost:
            return
        if res < 0:
            self._protocol.error_received(os_error(res))
        self._maybe_resume_protocol()
        if self._closing and not self._sends:
            self._call_connection_lost(None)

    def _clear_write_buffer(self) -> None:
        self._buffer_size = 0

    def _cancel_all(self) -> None:
        self._cancel(self._recv_op)
        for token in list(self._sends):
            self._cancel(token)

    def _stop_reading_for_good(self) -> None:
        self._sock_gone = True

    def _writes_unfinished(self) -> bool:
        return bool(self._sends)
