"""The loop's low-level socket API (sock_*), every byte moved by a ring operation.

Argument checks and exceptions follow asyncio's selector loop; where that loop
waits for readiness and then makes the syscall, these queue the operation
itself and await its op-future.
"""
from __future__ import annotations

import asyncio
import errno
import os
import select
import socket
import stat
import weakref
from asyncio import base_events, exceptions
from collections import deque
from typing import Any, Callable

from .._core.base import LoopCore
from .._core.opfuture import OpFuture
from .._ring.errors import RETRY_ERRNOS
from .._ring.memory import page_aligned
from .._ring.options import RingOptions
from . import closewatch, sockaddr

# Smallest scratch buffer sock_recv keeps for reuse.
_SCRATCH_MIN = 1 << 16

# Bytes moved per splice when sending a file; the pipe in between is sized to it.
_SPLICE_CHUNK = 1 << 16

_ECANCELED = errno.ECANCELED


def _check_socket(loop: Any, sock: Any) -> None:
    if type(sock) is not socket.socket:  # an SSLSocket is a subclass: plain sockets skip the check
        base_events._check_ssl_socket(sock)
    if loop._debug and sock.gettimeout() != 0:
        raise ValueError("the socket must be non-blocking")


def _writable_len(buf: Any) -> int:
    with memoryview(buf) as view:
        if view.readonly:
            raise TypeError(f"expected a writable bytes-like object, not {type(buf).__name__}")
        return view.nbytes


class _SockOps(set[OpFuture]):
    """The ops in flight on one socket, which ``sock`` (a weak reference) names.

    Kept by fd in a plain dict, with the socket checked by identity: a weak
    dictionary keyed by the socket costs four times as much per lookup.
    ``received``, ``datagrams`` and ``connections`` hold what cancelled
    receives (sock_recv*, sock_recvfrom*, sock_accept) got anyway: the kernel
    finished before the cancel reached it.  The next call on the socket
    returns that first.  Kept here, not in weak dictionaries, because every
    call looks there (a weak dictionary's ``pop`` cost about 0.9 µs), and it
    goes when the socket closes, with its ops.
    """

    __slots__ = ("sock", "received", "datagrams", "connections")

    sock: weakref.ref[socket.socket]
    received: bytes
    datagrams: deque[tuple[bytes, Any]]
    connections: deque[socket.socket]


def accepted_socket(listener: socket.socket, fd: int) -> socket.socket:
    """A Python socket for ``fd``, a connection accepted (non-blocking) on ``listener``."""
    conn = socket.socket(listener.family, listener.type, listener.proto, fileno=fd)
    conn.setblocking(False)  # the fd already is; this tells the Python object
    return conn


class SocketOps(LoopCore):
    """sock_recv … sock_sendfile on the ring: a part of :class:`ringloop.Loop`."""

    def __init__(self, options: RingOptions) -> None:
        super().__init__(options)
        # Views of exactly the size last asked for, over page-aligned buffers.
        self._scratch_pool: list[memoryview] = []
        # The ops in flight per socket, by fd, for when the program closes it under them.
        self._sock_waits: dict[int, _SockOps] = {}

    def _close_features(self) -> None:
        """Close connections accepted for cancelled sock_accept calls and never taken."""
        for waits in self._sock_waits.values():
            for conn in waits.connections:
                conn.close()
        self._sock_waits.clear()
        super()._close_features()

    def _unstash(self, waits: _SockOps, n: int) -> bytes:
        """Up to ``n`` of the bytes cancelled receives left in ``waits``."""
        data = waits.received
        waits.received = data[n:]
        return data[:n]

    def _stasher(self, waits: _SockOps, target: Any) -> Callable[[int], None]:
        def stash(nbytes: int) -> None:
            waits.received += memoryview(target).cast("B")[:nbytes].tobytes()

        return stash

    # -- sockets closed under their ops ------------------------------------------

    def _waits_on(self, sock: socket.socket, fd: int) -> _SockOps:
        """The ops in flight on ``sock`` (fd ``fd``); the first makes the loop watch for its close."""
        waits = self._sock_waits.get(fd)
        if waits is None or waits.sock() is not sock:
            waits = self._sock_waits[fd] = _SockOps()
            waits.sock = weakref.ref(sock)
            waits.received = b""
            waits.datagrams = deque()
            waits.connections = deque()
            closewatch.watch(sock, self._sock_closed)
        return waits

    def _sock_closed(self, sock: socket.socket) -> None:
        # Taken out now, by the fd that still names them (the close may come
        # from another thread, and the number may name another socket by the
        # time the loop's thread cancels them).
        fd = sock.fileno()
        waits = self._sock_waits.get(fd)
        if waits is not None and waits.sock() is sock:
            del self._sock_waits[fd]
            closewatch.on_loop_thread(self, self._cancel_sock_ops, sock, waits)

    def _cancel_sock_ops(self, sock: socket.socket, waits: _SockOps) -> None:
        """Cancel the ring ops on ``sock``, which the program is closing (see closewatch).

        The kernel then lets the socket go and the peer sees the close at once,
        as with the stock loop.  The awaiters are not woken: the stock loop
        never wakes a readiness wait whose fd was closed, so they wait until
        cancelled (see _await_op).  What cancelled calls had received is dropped
        with the socket (with ``waits``, which _sock_closed has let go);
        connections accepted for them are closed.
        """
        cancelled = False
        for fut in waits:
            if not fut.done():
                cancelled |= self._ring.cancel(fut._token)
        if cancelled:
            closewatch.release_now(self._ring)
        for conn in waits.connections:
            conn.close()

    async def _await_op(self, waits: _SockOps, fut: OpFuture) -> int:
        """Await ``fut``, an op on the socket whose in-flight ops are ``waits``."""
        waits.add(fut)
        try:
            return await fut
        except OSError as exc:
            await self._if_closed_under(exc)
            raise
        finally:
            waits.discard(fut)

    async def _if_closed_under(self, exc: OSError) -> None:
        # Only _cancel_sock_ops cancels an op whose future still waits: its
        # socket was closed.  Wait, as the stock loop's waiter does, until
        # the caller is cancelled.
        if exc.errno == _ECANCELED:
            await self.create_future()

    def _waits(self, sock: socket.socket) -> _SockOps:
        """The ops in flight on ``sock`` (see _waits_on)."""
        return self._waits_on(sock, sock.fileno())

    async def _ring_io(
        self, waits: _SockOps, sock: socket.socket, events: int, queue: Callable[..., int], *args: Any, late: Any = None
    ) -> int:
        """Await one ring op ``queue(fd, *args, handler)`` on ``sock``; on -EAGAIN wait for ``events``, retry.

        ``waits`` is ``self._waits(sock)``, which the callers have at hand.
        The fd is read afresh for each op: once the program has closed the
        socket it is -1 (EBADF, as the stock loop's syscall would say), never a
        number the kernel may have given to another file since.  ``late``
        receives the result of an op that completes after a cancel.
        """
        fd = sock.fileno()
        while True:
            fut = self._op(OpFuture, queue, fd, *args)
            fut._late = late
            # _await_op spelled out: sock_recv and sock_sendall come through here.
            waits.add(fut)
            try:
                return await fut
            except OSError as exc:
                if exc.errno not in RETRY_ERRNOS:
                    await self._if_closed_under(exc)
                    raise
            finally:
                waits.discard(fut)
            await self._await_op(waits, self._op(OpFuture, self._ring.poll_add, sock.fileno(), events))
            fd = sock.fileno()

    def _take_scratch(self, n: int) -> Any:
        """A writable view of ``n`` bytes over a page-aligned buffer (``view.obj``)."""
        # A fresh buffer per call costs an mmap, page faults and munmap
        # for the large sizes programs ask for (256 KiB is common): reuse.
        # Programs ask for the same size call after call, so the view itself
        # is kept too (making one costs about 0.2 µs).
        pool = self._scratch_pool
        while pool:
            view = pool.pop()
            if len(view) == n:
                return view
            if len(view.obj) >= n:  # type: ignore[arg-type]  # obj is the mmap
                return memoryview(view.obj)[:n]
        return memoryview(page_aligned(max(n, _SCRATCH_MIN)))[:n]

    async def sock_recv(self, sock: socket.socket, n: int) -> bytes:
        """Receive up to ``n`` bytes from ``sock``; b"" at end of stream."""
        _check_socket(self, sock)
        if n < 0:
            raise ValueError("negative buffersize in recv")
        waits = self._waits(sock)
        if waits.received:
            return self._unstash(waits, n)
        target = self._take_scratch(n)
        got = await self._ring_io(
            waits, sock, select.POLLIN, self._ring.recv, target, 0, late=self._stasher(waits, target)
        )
        # Back to the pool only after a completed recv: after a cancel the
        # kernel may still write into it, so it is left to the ring's pin.
        self._scratch_pool.append(target)
        data: bytes = target.obj[:got]  # an mmap's slice is bytes: one copy, no view in between
        return data

    async def sock_recv_into(self, sock: socket.socket, buf: Any) -> int:
        """Receive into the writable ``buf``; returns the byte count."""
        _check_socket(self, sock)
        size = _writable_len(buf)
        waits = self._waits(sock)
        if waits.received:
            stashed = self._unstash(waits, size)
            memoryview(buf).cast("B")[: len(stashed)] = stashed
            return len(stashed)
        return await self._ring_io(waits, sock, select.POLLIN, self._ring.recv, buf, 0, late=self._stasher(waits, buf))

    async def sock_recvfrom(self, sock: socket.socket, bufsize: int) -> tuple[bytes, Any]:
        """Receive one datagram of up to ``bufsize`` bytes: (data, sender address)."""
        _check_socket(self, sock)
        if bufsize < 0:
            raise ValueError("negative buffersize in recvfrom")
        waits = self._waits(sock)
        if waits.datagrams:
            data, sender = waits.datagrams.popleft()
            return data[:bufsize], sender  # as recvfrom: the excess is discarded
        buf = bytearray(bufsize)
        got, address = await self._recvmsg(waits, sock, buf)
        del buf[got:]
        return bytes(buf), address

    async def sock_recvfrom_into(self, sock: socket.socket, buf: Any, nbytes: int = 0) -> tuple[int, Any]:
        """Receive one datagram into ``buf`` (at most ``nbytes`` if given): (count, sender)."""
        _check_socket(self, sock)
        size = _writable_len(buf)
        if nbytes < 0:
            raise ValueError("negative buffersize in recvfrom_into")
        if nbytes > size:
            raise ValueError("nbytes is greater than the length of the buffer")
        target = memoryview(buf).cast("B")[: nbytes or size]
        waits = self._waits(sock)
        if waits.datagrams:
            data, sender = waits.datagrams.popleft()
            data = data[: len(target)]
            target[: len(data)] = data
            return len(data), sender
        return await self._recvmsg(waits, sock, target)

    async def _recvmsg(self, waits: _SockOps, sock: socket.socket, buf: Any) -> tuple[int, Any]:
        name = bytearray(sockaddr.SOCKADDR_STORAGE_SIZE)
        while True:
            self._check_closed()
            fd = sock.fileno()  # afresh each time, as in _ring_io
            fut = OpFuture(loop=self)
            token, msg = self._ring.recvmsg(fd, buf, name, 0, fut._complete)
            fut._attach(self._ring, token)

            def keep_datagram(nbytes: int, msg: Any = msg) -> None:
                datagram = memoryview(buf).cast("B")[:nbytes].tobytes()
                sender = sockaddr.decode(name[: msg.msg_namelen])
                waits.datagrams.append((datagram, sender))

            fut._late = keep_datagram
            try:
                got = await self._await_op(waits, fut)
            except OSError as exc:
                if exc.errno not in RETRY_ERRNOS:
                    raise
                await self._await_op(waits, self._op(OpFuture, self._ring.poll_add, sock.fileno(), select.POLLIN))
                continue
            return got, sockaddr.decode(name[: msg.msg_namelen])

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        """Send all of ``data``; returns None once the kernel has taken every byte."""
        _check_socket(self, sock)
        waits = self._waits(sock)
        # Bytes go as they are (Ring.send takes them without a pin or a view);
        # a view only for what a partial send left.
        rest = data if type(data) is bytes else memoryview(data).cast("B")
        while rest:
            sent = await self._ring_io(waits, sock, select.POLLOUT, self._ring.send, rest, socket.MSG_NOSIGNAL)
            if sent == len(rest):
                return
            rest = memoryview(rest)[sent:]

    async def sock_sendto(self, sock: socket.socket, data: Any, address: Any) -> int:
        """Send one datagram to ``address``; returns the byte count."""
        _check_socket(self, sock)
        raw = sockaddr.encode(sock.family, address)
        # MSG_DONTWAIT: with no room the kernel answers -EAGAIN and _ring_io
        # polls, instead of io_uring retrying the send itself, which on AF_UNIX
        # can deliver an empty datagram (see _net/datagram.py).
        return await self._ring_io(
            self._waits(sock), sock, select.POLLOUT, self._ring.sendmsg, [data], raw, socket.MSG_NOSIGNAL | socket.MSG_DONTWAIT
        )

    async def sock_connect(self, sock: socket.socket, address: Any) -> None:
        """Connect ``sock`` to ``address`` (host names resolved through getaddrinfo)."""
        _check_socket(self, sock)
        if sock.family == socket.AF_INET or (base_events._HAS_IPv6 and sock.family == socket.AF_INET6):
            resolved = await self._ensure_resolved(
                address, family=sock.family, type=sock.type, proto=sock.proto, loop=self
            )
            address = resolved[0][4]
        raw = sockaddr.encode(sock.family, address)
        waits = self._waits_on(sock, sock.fileno())
        connecting = self._op(OpFuture, self._ring.connect, sock.fileno(), raw)
        # Start the handshake now, as connect(2) in the selector loop does:
        # callers may accept on the other side before the loop runs again.
        self._ring.submit()
        try:
            await self._await_op(waits, connecting)
        except OSError as exc:
            if exc.errno == errno.EISCONN:
                # The kernel retries a connect once the socket is writable; if
                # an earlier attempt (e.g. a cancelled one) won the race, the
                # socket is connected and that is what the caller asked for.
                return
            if exc.errno not in (errno.EINPROGRESS, errno.EALREADY, errno.EAGAIN):
                raise OSError(exc.errno, f"Connect call failed {address}") from None
            # An older kernel handed the non-blocking connect back: finish it.
            await self._await_op(waits, self._op(OpFuture, self._ring.poll_add, sock.fileno(), select.POLLOUT))
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, f"Connect call failed {address}") from None

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, Any]:
        """Accept one connection: (non-blocking socket, peer address)."""
        _check_socket(self, sock)
        waits = self._waits(sock)
        if waits.connections:
            conn = waits.connections.popleft()
        else:
            flags = socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK

            def keep_connection(fd: int) -> None:
                conn = accepted_socket(sock, fd)
                if sock.fileno() == -1:  # the listener is closed (its ops cancelled): nobody will take it
                    conn.close()
                else:
                    waits.connections.append(conn)

            fd = await self._ring_io(waits, sock, select.POLLIN, self._ring.accept, flags, late=keep_connection)
            conn = accepted_socket(sock, fd)
        try:
            address = conn.getpeername()
        except OSError:  # the peer may already be gone
            address = None
        return conn, address

    async def _sock_sendfile_native(self, sock: socket.socket, file: Any, offset: int, count: int | None) -> int:
        """Send a regular file's bytes with ring splices: file → pipe → socket."""
        try:
            fileno = file.fileno()
        except (AttributeError, OSError) as exc:  # io.UnsupportedOperation is an OSError
            raise exceptions.SendfileNotAvailableError("not a regular file") from exc
        try:
            info = os.fstat(fileno)
        except OSError as exc:
            raise exceptions.SendfileNotAvailableError("not a regular file") from exc
        if not stat.S_ISREG(info.st_mode):
            raise exceptions.SendfileNotAvailableError("not a regular file")
        if not (count if count else info.st_size):
            return 0
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        ring = self._ring
        # Bytes the peer got: the socket splices' results, and the result of
        # one that finished as it was cancelled (the kernel won the race).
        # Bytes still in the pipe were never sent: the file position ends
        # after exactly what the socket took, as asyncio documents.
        total = 0
        # The splice into the socket until its final completion: after a
        # cancel the kernel may still be moving its bytes to the peer.
        unsettled: asyncio.Future[None] | None = None

        def splice_out(out_fd: int, nbytes: int, handler: Any) -> int:  # _ring_io's fd comes first
            nonlocal unsettled
            settled = self.create_future()

            def done(res: int, flags: int) -> None:
                settled.set_result(None)
                handler(res, flags)

            token = ring.splice(read_end, -1, out_fd, -1, nbytes, done)
            unsettled = settled  # queued: its completion will come
            return token

        def count_late(nbytes: int) -> None:
            nonlocal total
            total += nbytes

        try:
            while not count or total < count:
                want = min(_SPLICE_CHUNK, (count - total) if count else _SPLICE_CHUNK)
                got = await self._op(OpFuture, self._ring.splice, fileno, offset + total, write_end, -1, want)
                if got == 0:
                    break  # end of file
                end = total + got
                while total < end:
                    total += await self._ring_io(
                        self._waits(sock), sock, select.POLLOUT, splice_out, end - total, late=count_late
                    )
        finally:
            if unsettled is not None and not unsettled.done():  # cancelled: a few microseconds
                await _unstoppable(unsettled)
            self._close_fd(read_end)
            self._close_fd(write_end)
            if total > 0:
                file.seek(offset + total)
        return total


async def _unstoppable(fut: asyncio.Future[None]) -> None:
    """Wait for ``fut``, holding off further cancels of the caller (the one being handled goes on afterwards)."""
    while not fut.done():
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            continue
