"""Servers, transports and Unix-socket entry points of the loop, on the ring.

BaseEventLoop implements create_connection, create_server, start_tls,
create_datagram_endpoint and sendfile on top of a handful of hooks; this mixin
provides those hooks (transport factories, _start_serving with a multishot
accept, _sendfile_native) plus the Unix-socket methods BaseEventLoop leaves
out.
"""
from __future__ import annotations

import errno
import os
import socket
import stat
from asyncio import base_events, constants, sslproto, tasks
from typing import Any

from .._core.base import LoopCore
from .._ring.errors import CANCELED, logger, os_error
from .._ring.options import RingOptions
from .._ring.ring import CQE_F_MORE
from . import closewatch
from .datagram import RingDatagramTransport
from .sockops import accepted_socket
from .stream import RingStreamTransport

_ACCEPT_FLAGS = socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
# Errors that mean "out of resources for now": stop accepting for a while
# (as the selector loop does) instead of spinning on them.
_ACCEPT_BACKOFF_ERRNOS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))
_ACCEPT_BACKOFF_DELAY = 1.0


class Networking(LoopCore):
    """Transport factories, serving and Unix sockets: a part of :class:`ringloop.Loop`."""

    def __init__(self, options: RingOptions) -> None:
        super().__init__(options)
        # Listening socket -> token of its multishot accept.
        self._accepting: dict[socket.socket, int] = {}

    # -- sockets leave through the ring -------------------------------------------

    def _close_socket(self, sock: socket.socket | None) -> None:
        """Close ``sock`` with a ring op queued after every op already queued on it.

        A plain close(2) now could free the fd number before queued SQEs that
        name it are submitted, and a reused number would send them elsewhere.
        """
        if sock is not None:
            fd = sock.detach()
            if fd >= 0:
                self._close_fd(fd)

    # -- transports -----------------------------------------------------------------

    def _make_socket_transport(
        self, sock: socket.socket, protocol: Any, waiter: Any = None, *, extra: dict | None = None, server: Any = None
    ) -> RingStreamTransport:
        return RingStreamTransport(self, sock, protocol, waiter, extra, server)

    def _make_ssl_transport(
        self,
        rawsock: socket.socket,
        protocol: Any,
        sslcontext: Any,
        waiter: Any = None,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        extra: dict | None = None,
        server: Any = None,
        ssl_handshake_timeout: float | None = constants.SSL_HANDSHAKE_TIMEOUT,
        ssl_shutdown_timeout: float | None = constants.SSL_SHUTDOWN_TIMEOUT,
    ) -> Any:
        ssl_protocol = sslproto.SSLProtocol(
            self,
            protocol,
            sslcontext,
            waiter,
            server_side,
            server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
        )
        RingStreamTransport(self, rawsock, ssl_protocol, extra=extra, server=server)
        return ssl_protocol._app_transport

    def _make_datagram_transport(
        self, sock: socket.socket, protocol: Any, address: Any = None, waiter: Any = None, extra: dict | None = None
    ) -> RingDatagramTransport:
        return RingDatagramTransport(self, sock, protocol, address, waiter, extra)

    async def _sendfile_native(self, transp: Any, file: Any, offset: int, count: int | None) -> int:
        resume_reading = transp.is_reading()
        transp.pause_reading()
        await transp._make_empty_waiter()
        try:
            return await self.sock_sendfile(transp._sock, file, offset, count, fallback=False)
        finally:
            transp._reset_empty_waiter()
            if resume_reading:
                transp.resume_reading()

    # -- serving ----------------------------------------------------------------------

    def _start_serving(
        self,
        protocol_factory: Any,
        sock: socket.socket,
        sslcontext: Any = None,
        server: Any = None,
        backlog: int = 100,
        ssl_handshake_timeout: float | None = constants.SSL_HANDSHAKE_TIMEOUT,
        ssl_shutdown_timeout: float | None = constants.SSL_SHUTDOWN_TIMEOUT,
    ) -> None:
        """Accept connections on ``sock`` with one multishot accept op until _stop_serving."""
        if sock in self._accepting:
            return

        def on_accept(res: int, flags: int) -> None:
            more = flags & CQE_F_MORE
            if not more:
                self._accepting.pop(sock, None)
            if res == CANCELED:
                return
            if sock.fileno() < 0:  # serving stopped while this connection came in
                if res >= 0:
                    self._close_fd(res)
                return
            if res >= 0:
                self._accepted(res, sock, protocol_factory, sslcontext, server, ssl_handshake_timeout, ssl_shutdown_timeout)
            elif -res in _ACCEPT_BACKOFF_ERRNOS:
                self.call_exception_handler(
                    {"message": "socket.accept() out of system resource", "exception": os_error(res),
                     "socket": sock}
                )
                self._cancel_accept(sock)
                self.call_later(_ACCEPT_BACKOFF_DELAY, rearm)
                return
            elif self._debug:
                logger.debug("accept on %r failed: %s", sock, os.strerror(-res))
            if not more:
                rearm()

        def rearm() -> None:
            if sock.fileno() >= 0 and sock not in self._accepting and not self.is_closed():
                self._accepting[sock] = self._ring.accept(sock.fileno(), _ACCEPT_FLAGS, on_accept, multishot=True)

        # The accept op holds the listening socket open in the kernel: if the
        # program closes it, cancel the op, so that new connections are
        # refused at once, as with the stock loop.
        closewatch.watch(sock, self._listener_closed)
        rearm()

    def _listener_closed(self, sock: socket.socket) -> None:
        closewatch.on_loop_thread(self, self._stop_accepting_closed, sock)

    def _stop_accepting_closed(self, sock: socket.socket) -> None:
        if self._cancel_accept(sock):
            closewatch.release_now(self._ring)

    def _accepted(
        self,
        fd: int,
        listener: socket.socket,
        protocol_factory: Any,
        sslcontext: Any,
        server: Any,
        ssl_handshake_timeout: float | None,
        ssl_shutdown_timeout: float | None,
    ) -> None:
        conn = accepted_socket(listener, fd)
        try:
            peer = conn.getpeername()
        except OSError:
            peer = None
        extra = {"peername": peer}
        if sslcontext:
            self.create_task(
                self._accept_tls(
                    protocol_factory, conn, extra, sslcontext, server, ssl_handshake_timeout, ssl_shutdown_timeout
                )
            )
            return
        try:
            protocol = protocol_factory()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._close_socket(conn)
            self.call_exception_handler(
                {"message": "Error on transport creation for incoming connection", "exception": exc}
            )
            return
        self._make_socket_transport(conn, protocol, extra=extra, server=server)

    async def _accept_tls(
        self,
        protocol_factory: Any,
        conn: socket.socket,
        extra: dict,
        sslcontext: Any,
        server: Any,
        ssl_handshake_timeout: float | None,
        ssl_shutdown_timeout: float | None,
    ) -> None:
        protocol = transport = None
        try:
            protocol = protocol_factory()
            waiter = self.create_future()
            transport = self._make_ssl_transport(
                conn,
                protocol,
                sslcontext,
                waiter=waiter,
                server_side=True,
                extra=extra,
                server=server,
                ssl_handshake_timeout=ssl_handshake_timeout,
                ssl_shutdown_timeout=ssl_shutdown_timeout,
            )
            try:
                await waiter
            except BaseException:
                transport.close()
                raise
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            if transport is None:
                self._close_socket(conn)
            if self._debug:
                context = {"message": "Error on transport creation for incoming connection", "exception": exc}
                if protocol is not None:
                    context["protocol"] = protocol
                if transport is not None:
                    context["transport"] = transport
                self.call_exception_handler(context)

    def _cancel_accept(self, sock: socket.socket) -> bool:
        token = self._accepting.pop(sock, None)
        return token is not None and self._ring.cancel(token)

    def _stop_serving(self, sock: socket.socket) -> None:
        closewatch.unwatch(sock, self._listener_closed)
        self._cancel_accept(sock)
        # The accept op in flight holds the socket open until its cancel is
        # processed; shutting it down refuses new connections right now, as
        # the close of the selector loop does.
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._close_socket(sock)

    # -- Unix sockets -------------------------------------------------------------------

    async def create_unix_connection(
        self,
        protocol_factory: Any,
        path: Any = None,
        *,
        ssl: Any = None,
        sock: socket.socket | None = None,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> tuple[Any, Any]:
        """Connect to a Unix stream socket at ``path`` (or use ``sock``): (transport, protocol)."""
        if server_hostname is not None and not isinstance(server_hostname, str):
            raise TypeError("server_hostname must be a str")
        if ssl:
            if server_hostname is None:
                raise ValueError("you have to pass server_hostname when using ssl")
        else:
            if server_hostname is not None:
                raise ValueError("server_hostname is only meaningful with ssl")
            if ssl_handshake_timeout is not None:
                raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
            if ssl_shutdown_timeout is not None:
                raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            path = os.fspath(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0)
            try:
                sock.setblocking(False)
                await self.sock_connect(sock, path)
            except BaseException:
                sock.close()
                raise
        else:
            if sock is None:
                raise ValueError("no path and sock were specified")
            _check_unix_stream(sock)
            sock.setblocking(False)
        return await self._create_connection_transport(
            sock,
            protocol_factory,
            ssl,
            server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
        )

    async def create_unix_server(
        self,
        protocol_factory: Any,
        path: Any = None,
        *,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        start_serving: bool = True,
    ) -> base_events.Server:
        """Serve a Unix stream socket at ``path`` (a stale socket file there is replaced) or ``sock``."""
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        if ssl_handshake_timeout is not None and not ssl:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if ssl_shutdown_timeout is not None and not ssl:
            raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            path = os.fspath(path)
            sock = _bound_unix_socket(path)
        else:
            if sock is None:
                raise ValueError("path was not specified, and no sock specified")
            _check_unix_stream(sock)
        sock.setblocking(False)
        server = base_events.Server(
            self, [sock], protocol_factory, ssl, backlog, ssl_handshake_timeout, ssl_shutdown_timeout
        )
        if start_serving:
            server._start_serving()
            await tasks.sleep(0)  # let the accept op reach the kernel
        return server


def _check_unix_stream(sock: socket.socket) -> None:
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")


def _bound_unix_socket(path: Any) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if path[0] not in (0, "\x00"):  # not an abstract name: clear a stale socket file
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.remove(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            logger.error("Unable to check or remove stale UNIX socket %r: %r", path, err)
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise OSError(errno.EADDRINUSE, f"Address {path!r} is already in use") from None
        raise
    except BaseException:
        sock.close()
        raise
    return sock
