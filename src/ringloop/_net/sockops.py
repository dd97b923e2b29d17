"""The loop's low-level socket API (sock_*), every byte moved by a ring operation.

Argument checks and exceptions follow asyncio's selector loop; where that loop
waits for readiness and then makes the syscall, these queue the operation
itself and await its op-future.
"""
from __future__ import annotations

import asyncio
import errno
import functools
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
from .._ring.errors import RETRY_ERRNOS, os_error
from .._ring.memory import page_aligned, pin
from .._ring.options import RingOptions
from . import closewatch, sockaddr

# Smallest scratch buffer sock_recv keeps for reuse.
_SCRATCH_MIN = 1 << 16

# Bytes moved per splice when sending a file; the pipe in between is sized to it.
_SPLICE_CHUNK = 1 << 16

_ECANCELED = errno.ECANCELED
_Future = asyncio.Future
_partial = functools.partial

# A scratch buffer for sock_recv and its pin (see Ring.recv_pinned).
_Scratch = tuple[Any, Any]
_MSG_NOSIGNAL = socket.MSG_NOSIGNAL


def _check_socket(loop: Any, sock: Any) -> None:
    if type(sock) is not socket.socket:  # an SSLSocket is a subclass: plain sockets skip the check
        base_events._check_ssl_socket(sock)
    if loop._debug:
        if sock.gettimeout() != 0:
            raise ValueError("the socket must be non-blocking")
        loop._check_thread()  # what _op checks in debug mode, for the calls that queue without it


def _writable_len(buf: Any) -> int:
    with memoryview(buf) as view:
        if view.readonly:
            raise TypeError(f"expected a writable bytes-like object, not {type(buf).__name__}")
        return view.nbytes


def _stash(waits: _SockOps, buffer: Any, nbytes: int) -> None:
    """Keep the first ``nbytes`` of ``buffer``, what a cancelled receive got anyway, for the next one."""
    waits.received += memoryview(buffer).cast("B")[:nbytes].tobytes()


class _SockOps(set[int]):
    """The ops in flight on one socket (their ring tokens), which ``sock`` (a weak reference) names.

    Kept by fd in a plain dict, with the socket checked by identity: a weak
    dictionary keyed by the socket costs four times as much per lookup.
    ``received``, ``datagrams`` and ``connections`` hold what cancelled
    receives (sock_recv*, sock_recvfrom*, sock_accept) got anyway: the kernel
    finished before the cancel reached it.  The next call on the socket
    returns that first.  Kept here, not in weak dictionaries, because every
    call looks there (a weak dictionary's ``pop`` cost about 0.9 µs), and it
    goes when the socket closes, with its ops.
    """

    __slots__ = ("sock", "solo", "received", "datagrams", "connections")

    sock: weakref.ref[socket.socket]
    # One op of sock_recv's or sock_sendall's fast path, kept out of the set
    # (0: none): a slot store and a clear cost a fifth of a set subclass's
    # add and discard.  Any other op in flight meanwhile goes in the set.
    solo: int
    received: bytes
    datagrams: deque[tuple[bytes, Any]]
    connections: deque[socket.socket]


def _settle(waiter: asyncio.Future[int], waits: _SockOps, buffer: Any, res: int, flags: int) -> None:
    """The completion handler of a sock_recv or sock_sendall op, whose caller awaits ``waiter``.

    ``waiter`` gets the result, or the OSError.  When it was cancelled first
    (the kernel finished as the cancel came), what a receive into ``buffer``
    got anyway is kept in ``waits`` for the socket's next receive; a send's
    result (``buffer`` None) is dropped, as its caller has given up.
    """
    try:
        if res < 0:
            waiter.set_exception(os_error(res))
        else:
            waiter.set_result(res)
    except asyncio.InvalidStateError:
        if res > 0 and buffer is not None:
            _stash(waits, buffer, res)


def accepted_socket(listener: socket.socket, fd: int) -> socket.socket:
    """A Python socket for ``fd``, a connection accepted (non-blocking) on ``listener``."""
    conn = socket.socket(listener.family, listener.type, listener.proto, fileno=fd)
    conn.setblocking(False)  # the fd already is; this tells the Python object
    return conn


class SocketOps(LoopCore):
    """sock_recv … sock_sendfile on the ring: a part of :class:`ringloop.Loop`."""

    def __init__(self, options: RingOptions) -> None:
        super().__init__(options)
        # Page-aligned buffers with their pins, for sock_recv.
        self._scratch_pool: list[_Scratch] = []
        # The ops in flight per socket, by fd, for when the program closes it under them.
        self._sock_waits: dict[int, _SockOps] = {}
        # (waiter, token) of the sock_recv and sock_sendall ops queued since
        # the ring last submitted: see _unqueue_cancelled.
        self._sock_queued: list[tuple[asyncio.Future[int], int]] = []

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

    # -- sockets closed under their ops ------------------------------------------

    def _waits_on(self, sock: socket.socket, fd: int) -> _SockOps:
        """The ops in flight on ``sock`` (fd ``fd``); the first makes the loop watch for its close."""
        waits = self._sock_waits.get(fd)
        if waits is None or waits.sock() is not sock:
            waits = self._sock_waits[fd] = _SockOps()
            waits.sock = weakref.ref(sock)
            waits.solo = 0
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
        for token in [*waits, waits.solo] if waits.solo else waits:
            cancelled |= self._ring.cancel(token)  # False for one already final
        if cancelled:
            closewatch.release_now(self._ring)
        for conn in waits.connections:
            conn.close()

    async def _await_op(self, waits: _SockOps, fut: OpFuture) -> int:
        """Await ``fut``, an op on the socket whose in-flight ops are ``waits``."""
        waits.add(fut._token)
        try:
            return await fut
        except OSError as exc:
            await self._if_closed_under(exc)
            raise
        finally:
            waits.discard(fut._token)

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
            # _await_op spelled out: sock_recv_into, sock_sendto and sock_accept come through here.
            waits.add(fut._token)
            try:
                return await fut
            except OSError as exc:
                if exc.errno not in RETRY_ERRNOS:
                    await self._if_closed_under(exc)
                    raise
            finally:
                waits.discard(fut._token)
            await self._await_op(waits, self._op(OpFuture, self._ring.poll_add, sock.fileno(), events))
            fd = sock.fileno()

    def _unqueue_cancelled(self) -> None:
        """Just before the ring submits: the ops of calls cancelled since they queued them never happen.

        sock_recv and sock_sendall await a plain asyncio Future (a Task
        handles one in C, an OpFuture through Python-level calls: about 3,300
        user-space instructions more per op), so cancelling the caller cannot
        cancel the op at once, as an OpFuture's cancel does; the caller does
        when it resumes, after the ring's next wait.  Here, before that wait submits, an op
        whose caller was cancelled meanwhile becomes a no-op, as it would have
        under OpFuture.cancel: a receive cancelled before it reached the
        kernel takes no bytes from the socket.
        """
        queued = self._sock_queued
        self._sock_queued = []
        for waiter, token in queued:
            if waiter.cancelled():
                self._cancel_op(token)

    def _cancel_op(self, token: int) -> None:
        """Stop op ``token``, whose caller was cancelled (what OpFuture.cancel does for its op)."""
        try:
            self._ring.cancel(token)
        except OSError:
            pass  # the cancel could not be queued (SQ stuck full): the op finishes on its own, its pins kept

    async def _after_failure(
        self, exc: OSError, waits: _SockOps, sock: socket.socket, events: int, queue: Callable[..., int], *args: Any,
        late: Any = None,
    ) -> int:
        """What follows the failure ``exc`` of the first op ``queue(fd, *args, handler)`` of a call on ``sock``.

        For the calls that queue and await their first op themselves, in
        their own frame (sock_recv, sock_sendall), and hand the rare rest to
        _ring_io: ``exc`` raised (after waiting as _await_op does, for a
        socket closed under it), or on -EAGAIN and -EINTR the op retried
        once ``events`` are ready; its result.
        """
        if exc.errno not in RETRY_ERRNOS:
            await self._if_closed_under(exc)
            raise exc
        await self._await_op(waits, self._op(OpFuture, self._ring.poll_add, sock.fileno(), events))
        return await self._ring_io(waits, sock, events, queue, *args, late=late)

    def _take_scratch(self, n: int) -> _Scratch:
        """A page-aligned buffer of at least ``n`` bytes and its pin, from the pool or new."""
        # A fresh buffer per call costs an mmap, page faults and munmap
        # for the large sizes programs ask for (256 KiB is common): reuse.
        # Pinned once: a pin per call costs more than the rest of queueing
        # the recv.
        pool = self._scratch_pool
        while pool:
            scratch = pool.pop()
            if len(scratch[0]) >= n:
                return scratch
        buffer = page_aligned(max(n, _SCRATCH_MIN))
        return buffer, pin(buffer, writable=True)

    async def sock_recv(self, sock: socket.socket, n: int) -> bytes:
        """Receive up to ``n`` bytes from ``sock``; b"" at end of stream."""
        # The common case in one coroutine frame, the per-call helpers
        # (_check_socket, _waits, _take_scratch, _ring_io, _op) spelled out
        # for it: sock_recv and sock_sendall are each program's hot path.
        # The op's caller awaits a plain Future, resolved by _settle, and
        # cancels the op itself (see _unqueue_cancelled).
        if type(sock) is not socket.socket or self._debug:
            _check_socket(self, sock)
        if n < 0:
            raise ValueError("negative buffersize in recv")
        fd = sock.fileno()
        waits = self._sock_waits.get(fd)
        if waits is None or waits.sock() is not sock:
            waits = self._waits_on(sock, fd)
        if waits.received:
            return self._unstash(waits, n)
        if self._closed:
            raise RuntimeError("Event loop is closed")
        pool = self._scratch_pool
        scratch = pool.pop() if pool and len(pool[-1][0]) >= n else self._take_scratch(n)
        buffer, cbuf = scratch
        ring = self._ring
        waiter = _Future(loop=self)
        token = ring.recv_pinned(fd, cbuf, n, 0, _partial(_settle, waiter, waits, buffer))
        queued = self._sock_queued  # see _unqueue_cancelled
        if not queued:
            ring.before_submit(self._unqueue_cancelled)
        queued.append((waiter, token))
        if waits.solo:  # see _SockOps.solo
            waits.add(token)
        else:
            waits.solo = token
        try:
            got = await waiter
        except OSError as exc:
            late = functools.partial(_stash, waits, buffer)
            got = await self._after_failure(exc, waits, sock, select.POLLIN, ring.recv_pinned, cbuf, n, 0, late=late)
        except BaseException:  # cancelled
            self._cancel_op(token)
            raise
        finally:
            if waits.solo == token:
                waits.solo = 0
            else:
                waits.discard(token)
        # Back to the pool only after a completed recv: after a cancel the
        # kernel may still write into it, so it is left to the ring's pin.
        pool.append(scratch)
        data: bytes = buffer[:got]  # an mmap's slice is bytes: one copy, no view in between
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
        late = functools.partial(_stash, waits, buf)
        return await self._ring_io(waits, sock, select.POLLIN, self._ring.recv, buf, 0, late=late)

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
        # As in sock_recv: the common case, one send that takes everything,
        # in this frame.
        if type(sock) is not socket.socket or self._debug:
            _check_socket(self, sock)
        fd = sock.fileno()
        waits = self._sock_waits.get(fd)
        if waits is None or waits.sock() is not sock:
            waits = self._waits_on(sock, fd)
        # Bytes go as they are (Ring.send takes them without a pin or a view);
        # a view only for what a partial send left.
        rest = data if type(data) is bytes else memoryview(data).cast("B")
        if not rest:
            return
        if self._closed:
            raise RuntimeError("Event loop is closed")
        ring = self._ring
        waiter = _Future(loop=self)
        token = ring.send(fd, rest, _MSG_NOSIGNAL, _partial(_settle, waiter, waits, None))
        queued = self._sock_queued  # see _unqueue_cancelled
        if not queued:
            ring.before_submit(self._unqueue_cancelled)
        queued.append((waiter, token))
        if waits.solo:  # see _SockOps.solo
            waits.add(token)
        else:
            waits.solo = token
        try:
            sent = await waiter
        except OSError as exc:
            sent = await self._after_failure(exc, waits, sock, select.POLLOUT, ring.send, rest, _MSG_NOSIGNAL)
        except BaseException:  # cancelled
            self._cancel_op(token)
            raise
        finally:
            if waits.solo == token:
                waits.solo = 0
            else:
                waits.discard(token)
        while sent < len(rest):
            rest = memoryview(rest)[sent:]
            sent = await self._ring_io(waits, sock, select.POLLOUT, ring.send, rest, _MSG_NOSIGNAL)

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
