"""What stream and datagram socket transports on the ring have in common.

Semantics follow asyncio's selector transports (close waits for the write
buffer, abort does not, connection_lost exactly once, the server's
attach/detach count, flow control through _FlowControlMixin); the mechanics
differ: reads and writes are ring operations in flight, so closing cancels
them first and closes the socket through the ring, after every operation
queued on it has reached the kernel.
"""
from __future__ import annotations

import errno
import os
import socket
import sys
from asyncio import transports, trsock
from typing import Any

from .._core.transport import PausableReading, RingTransportBase, register_transport
from . import closewatch


# From Python 3.13 a Server tracks its client transports (close_clients,
# abort_clients): _attach/_detach take the transport; before, only a count.
if sys.version_info >= (3, 13):

    def _attach_to(server: Any, transport: Any) -> None:
        server._attach(transport)

    def _detach_from(server: Any, transport: Any) -> None:
        server._detach(transport)

else:

    def _attach_to(server: Any, transport: Any) -> None:
        server._attach()

    def _detach_from(server: Any, transport: Any) -> None:
        server._detach()


class RingSocketTransportBase(RingTransportBase, PausableReading, transports._FlowControlMixin, transports.Transport):
    """Base of the socket transports: lifecycle, extra info, closing."""

    _recv_op: int | None  # the receive in flight, which close() cancels

    def __init__(self, loop: Any, sock: socket.socket, protocol: Any, extra: dict | None = None, server: Any = None):
        super().__init__(extra, loop)
        # Kept past connection_lost (which drops the loop): late completions
        # of cancelled ops still arrive and may have buffers to give back.
        self._ring = loop._ring
        self._extra["socket"] = trsock.TransportSocket(sock)
        try:
            self._extra["sockname"] = sock.getsockname()
        except OSError:
            self._extra["sockname"] = None
        if "peername" not in self._extra:
            try:
                self._extra["peername"] = sock.getpeername()
            except OSError:
                self._extra["peername"] = None
        self._sock = sock
        self._sock_fd = sock.fileno()
        register_transport(loop, self._sock_fd, self)  # add_reader refuses this fd from now on
        self._protocol_connected = False
        self.set_protocol(protocol)
        self._server = server
        self._conn_lost = 0
        self._closing = False
        self._paused = False
        if server is not None:
            _attach_to(server, self)
        else:
            # The program may hold this socket and close it under us; a
            # connection a Server accepted is reachable only through us.
            closewatch.watch(sock, self._sock_closed)

    def __repr__(self) -> str:
        info = [self.__class__.__name__]
        if self._sock is None:
            info.append("closed")
        elif self._closing:
            info.append("closing")
        info.append(f"fd={self._sock_fd}")
        return "<{}>".format(" ".join(info))

    def set_protocol(self, protocol: Any) -> None:
        # The new protocol never saw pause_writing(), so it must not get a
        # resume_writing() for its predecessor's pause (SSLProtocol asserts).
        # Flow control starts afresh and pauses it on its own next write.
        self._protocol_paused = False
        self._protocol = protocol
        self._protocol_connected = True

    def close(self) -> None:
        """Stop reading; connection_lost(None) follows once what was written has gone out."""
        if self._closing:
            return
        self._closing = True
        self._cancel(self._recv_op)
        if not self._writes_unfinished():
            self._conn_lost += 1
            self._loop.call_soon(self._call_connection_lost, None)

    def abort(self) -> None:
        self._force_close(None)

    def _file(self) -> socket.socket | None:
        return self._sock

    def _sock_closed(self, sock: socket.socket) -> None:
        if self._loop is not None:
            closewatch.on_loop_thread(self._loop, self._stop_using_fd)

    def _stop_using_fd(self) -> None:
        """The program closed our socket itself: stop using its fd, as the stock transport does.

        The ops in flight are cancelled before the fd goes (the kernel lets the
        socket go, and the peer sees the close at once).  Reading stops
        without a word, as epoll forgets the fd; later ops name fd -1 and fail
        with EBADF, as the stock transport's syscalls on the closed socket do,
        so none reaches a file that reuses the number.
        """
        if self._loop is None:  # connection_lost has run
            return
        self._sock_fd = -1
        self._stop_reading_for_good()
        if self._writes_unfinished():
            # Bytes the closed socket will never take: the error the stock
            # transport's next send gets.
            self._fatal_error(OSError(errno.EBADF, os.strerror(errno.EBADF)), "Fatal write error on socket transport")
        else:
            self._cancel_all()
        closewatch.release_now(self._ring)

    def _stop_reading_for_good(self) -> None:
        """No read is to be armed again (the socket is gone)."""
        raise NotImplementedError

    def _writes_unfinished(self) -> bool:
        """Whether written bytes are still on their way to the kernel."""
        raise NotImplementedError

    def _cancel(self, token: int | None) -> None:
        """Cancel the ring op ``token`` if one is in flight; its completion still comes."""
        if token is not None:
            self._ring.cancel(token)

    # -- endings ------------------------------------------------------------

    def _close_after_error(self, exc: BaseException) -> None:
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        self._clear_write_buffer()
        self._closing = True
        self._cancel_all()
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            closewatch.unwatch(self._sock, self._sock_closed)
            self._loop._close_socket(self._sock)
            self._sock = None
            self._protocol = None
            self._loop = None
            server = self._server
            if server is not None:
                _detach_from(server, self)
                self._server = None

    def _clear_write_buffer(self) -> None:
        raise NotImplementedError

    def _cancel_all(self) -> None:
        raise NotImplementedError
