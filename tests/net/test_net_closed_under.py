"""A socket the program closes while the loop still uses it (issues #11 and #18).

Through sock_* calls, transports, a server's listener and add_reader /
add_writer watches; each scenario runs on asyncio's own loop and on ringloop,
and the two must agree.  The stock loop waits for readiness with epoll, which
forgets a closed fd: the socket closes in the kernel at once (the peer sees
EOF, a listener refuses connections), a waiter on it is never woken (it waits
until cancelled), a watch is found by its socket object after the close, and
nothing the loop does afterwards reaches a new file that got the same fd
number.  ringloop's ring operations hold the socket's file, so it cancels them
when the program closes the socket, and it reads a socket's fd afresh for
each operation.
"""
import asyncio
import errno
import select
import socket
import time

import pytest
from helpers import on_stock_and_ringloop

import ringloop

KINDS = ["tcp", "unix", "dgram"]


def socket_pair(kind):
    """Two connected non-blocking sockets: "tcp", "unix" (stream), "dgram" (Unix datagram) or "udp"."""
    if kind == "tcp":
        with socket.create_server(("127.0.0.1", 0)) as listener:
            a = socket.create_connection(listener.getsockname())
            b, _ = listener.accept()
    elif kind == "udp":
        a, b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        a.connect(b.getsockname())
        b.connect(a.getsockname())
    elif kind == "unix":
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.setblocking(False)
    b.setblocking(False)
    return a, b


async def in_the_kernel(loop):
    """Return once the ops of tasks already scheduled are submitted: two ring round trips, or two stock iterations.

    (The first lets a task created just before queue its op; the second submits it.)
    """
    if isinstance(loop, ringloop.Loop):
        await loop.ring_nop()
        await loop.ring_nop()
    else:
        await asyncio.sleep(0)
        await asyncio.sleep(0)


def peer_sees_the_close(peer, timeout=10.0):
    """Whether ``peer`` learns within ``timeout`` s that its other end is closed: EOF, or a refused datagram."""
    if peer.type == socket.SOCK_DGRAM:
        try:
            peer.send(b"anyone there?")  # a Unix datagram socket refuses at once
            # UDP: the ICMP "port unreachable" comes back as an error pending on the socket.
            select.select([peer], [], [], timeout)
            peer.recv(100)
        except ConnectionRefusedError:
            return True
        except BlockingIOError:
            pass  # nothing pending: the other end still takes datagrams
        return False
    deadline = time.monotonic() + timeout
    while True:  # read past what was sent before the close
        readable, _, _ = select.select([peer], [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            return False
        try:
            if not peer.recv(1 << 16):
                return True
        except ConnectionResetError:
            return True


async def cancelled(task):
    """Cancel ``task``; True if it ends cancelled (not with an error of its own)."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return True
    return False


def fill(sock):
    """Fill ``sock``'s send buffer, so that the next send waits."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    try:
        while True:
            sock.send(b"x" * 4096)
    except BlockingIOError:
        pass


def inflight(loop):
    """Ring operations in flight (ringloop), for 'nothing left behind' checks; None on the stock loop."""
    return loop._ring.inflight if isinstance(loop, ringloop.Loop) else None


# -- a sock_* call waiting on the socket ----------------------------------------------------------


def waiting_call(loop, kind, name, sock):
    if name == "sock_recv":
        return loop.sock_recv(sock, 100)
    if name == "sock_recv_into":
        return loop.sock_recv_into(sock, bytearray(100))
    if name == "sock_recvfrom":
        return loop.sock_recvfrom(sock, 100)
    fill(sock)
    return loop.sock_sendall(sock, b"y" * (1 << 20 if kind != "dgram" else 1000))


CALLS = [
    (kind, name)
    for kind in KINDS
    for name in ("sock_recv", "sock_recv_into", "sock_sendall") + (("sock_recvfrom",) if kind == "dgram" else ())
]


@pytest.mark.parametrize(("kind", "name"), CALLS)
def test_closing_a_socket_under_a_waiting_sock_call(kind, name):
    """The peer sees the close at once; the waiter keeps waiting (as the stock loop's) until cancelled."""
    async def scenario(loop):
        a, b = socket_pair(kind)
        before = inflight(loop)
        task = loop.create_task(waiting_call(loop, kind, name, a))
        await in_the_kernel(loop)
        a.close()
        closed = await asyncio.to_thread(peer_sees_the_close, b)
        await in_the_kernel(loop)
        still_waiting = not task.done()
        ended_by_cancel = await cancelled(task)
        await in_the_kernel(loop)
        b.close()
        assert inflight(loop) == before  # nothing left in the ring
        return closed, still_waiting, ended_by_cancel

    assert on_stock_and_ringloop(scenario) == [(True, True, True)] * 2


def test_closing_a_socket_from_another_thread_under_a_waiting_sock_recv():
    """The close comes from a thread while the loop runs: the loop's thread cancels the recv, the peer sees EOF."""
    async def scenario(loop):
        a, b = socket_pair("unix")
        task = loop.create_task(loop.sock_recv(a, 100))
        await in_the_kernel(loop)
        await asyncio.to_thread(a.close)
        closed = await asyncio.to_thread(peer_sees_the_close, b)
        b.close()
        return closed, not task.done(), await cancelled(task)

    assert on_stock_and_ringloop(scenario) == [(True, True, True)] * 2


def refuses_connections(address):
    """Whether a TCP connect to ``address`` is refused."""
    try:
        socket.create_connection(address, timeout=10).close()
    except ConnectionRefusedError:
        return True
    return False


def test_closing_a_listener_under_sock_accept_refuses_connections():
    async def scenario(loop):
        listener = socket.create_server(("127.0.0.1", 0))
        listener.setblocking(False)
        address = listener.getsockname()
        task = loop.create_task(loop.sock_accept(listener))
        await in_the_kernel(loop)
        listener.close()
        return refuses_connections(address), not task.done(), await cancelled(task)

    assert on_stock_and_ringloop(scenario) == [(True, True, True)] * 2


def reused(number, kind="unix"):
    """A new socket pair, one of whose ends got fd ``number``: (that end, its peer)."""
    c, d = socket_pair(kind)
    assert number in (c.fileno(), d.fileno()), "the kernel did not reuse the fd number"
    return (c, d) if c.fileno() == number else (d, c)


@pytest.mark.parametrize("kind", ["unix", "dgram"])
def test_a_recv_queued_on_a_closed_socket_never_reads_a_socket_that_reuses_its_number(kind):
    """sock_recv queued (not yet submitted), the socket closed, a new socket gets the number and data.

    The new socket's own sock_recv must get that data.
    """
    async def scenario(loop):
        a, b = socket_pair(kind)
        task = loop.create_task(loop.sock_recv(a, 100))
        await asyncio.sleep(0)  # the task has queued its recv; no ring wait since
        number = a.fileno()
        a.close()
        if isinstance(loop, ringloop.Loop):  # the case under test: the recv had not reached the kernel
            assert loop._ring._unqueued, "the recv was already submitted"
        c, d = reused(number, kind)
        d.send(b"for the new socket")
        got = await asyncio.wait_for(loop.sock_recv(c, 100), 10)
        waiting = not task.done()
        ended_by_cancel = await cancelled(task)
        for sock in (b, c, d):
            sock.close()
        return got, waiting, ended_by_cancel

    assert on_stock_and_ringloop(scenario) == [(b"for the new socket", True, True)] * 2


def test_a_recv_cancelled_then_its_socket_closed_leaves_nothing_behind():
    """Cancel, then close (issue #11): no error anywhere, no op left in the ring, the peer sees EOF."""
    async def scenario(loop):
        a, b = socket_pair("tcp")
        before = inflight(loop)
        task = loop.create_task(loop.sock_recv(a, 100))
        await in_the_kernel(loop)
        task.cancel()
        a.close()
        ended_by_cancel = await cancelled(task)
        closed = await asyncio.to_thread(peer_sees_the_close, b)
        await in_the_kernel(loop)
        b.close()
        assert inflight(loop) == before
        return ended_by_cancel, closed

    assert on_stock_and_ringloop(scenario) == [(True, True)] * 2


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_a_stream_read_cancelled_then_the_stream_closed_in_a_task_group(kind):
    """Cancel, then close, with streams: no ExceptionGroup, nothing left in the ring once wait_closed returns."""
    async def scenario(loop):
        a, b = socket_pair(kind)
        before = inflight(loop)
        reader, writer = await asyncio.open_connection(sock=a)
        async with asyncio.TaskGroup() as group:
            task = group.create_task(reader.read(100))
            await in_the_kernel(loop)
            task.cancel()
            writer.close()
            await writer.wait_closed()
        closed = await asyncio.to_thread(peer_sees_the_close, b)
        b.close()
        await in_the_kernel(loop)
        assert inflight(loop) == before
        return task.cancelled(), closed

    assert on_stock_and_ringloop(scenario) == [(True, True)] * 2


def test_an_already_closed_socket_gives_the_ordinary_error():
    async def scenario(loop):
        a, b = socket_pair("tcp")
        a.close()
        b.close()
        try:
            await loop.sock_recv(a, 10)
        except OSError as exc:
            return exc.errno

    assert on_stock_and_ringloop(scenario) == [errno.EBADF] * 2


# -- a transport on a socket the program closes ------------------------------------------------


class Recorder(asyncio.DatagramProtocol, asyncio.Protocol):
    def __init__(self, loop):
        self.received = []
        self.errors = []
        self.lost = loop.create_future()

    def data_received(self, data):
        self.received.append(data)

    def datagram_received(self, data, addr):
        self.received.append(data)

    def error_received(self, exc):
        self.errors.append(type(exc).__name__)

    def connection_lost(self, exc):
        self.lost.set_result(type(exc).__name__ if exc else None)


async def transport_on(loop, kind, sock):
    if kind == "udp":
        return await loop.create_datagram_endpoint(lambda: Recorder(loop), sock=sock)
    return await loop.create_connection(lambda: Recorder(loop), sock=sock)


# The stock datagram transport cannot send on an unnamed Unix datagram socket
# (its peername is "", so it calls sendto(data, None)): UDP stands for datagrams.
TRANSPORT_KINDS = ["tcp", "unix", "udp"]


@pytest.mark.parametrize("kind", TRANSPORT_KINDS)
def test_closing_a_transports_socket_under_it(kind):
    """The program closes the socket it gave a transport: the peer sees it at once, reading stops quietly,
    and the next write fails with EBADF (stream: connection_lost(OSError); datagram: error_received)."""
    async def scenario(loop):
        a, b = socket_pair(kind)
        transport, protocol = await transport_on(loop, kind, a)
        await in_the_kernel(loop)
        a.close()
        closed = await asyncio.to_thread(peer_sees_the_close, b)
        if kind == "udp":
            transport.sendto(b"after the close")
            for _ in range(3):
                await in_the_kernel(loop)
            transport.close()
        else:
            transport.write(b"after the close")
        lost = await asyncio.wait_for(protocol.lost, 10)
        b.close()
        return closed, protocol.received, protocol.errors, lost

    stock, ours = on_stock_and_ringloop(scenario)
    assert stock == ours
    assert ours[0] is True and ours[1] == []


@pytest.mark.parametrize("kind", ["unix", "udp"])
def test_a_transport_whose_socket_was_closed_never_touches_a_socket_that_reuses_its_number(kind):
    """Closed under a transport, then the number reused: the transport neither reads nor writes the new socket."""
    async def scenario(loop):
        a, b = socket_pair(kind)
        transport, protocol = await transport_on(loop, kind, a)
        await in_the_kernel(loop)
        number = a.fileno()
        a.close()
        c, d = reused(number, kind)
        d.send(b"for the new socket")
        (transport.sendto if kind == "udp" else transport.write)(b"from the old transport")
        await in_the_kernel(loop)
        await in_the_kernel(loop)
        got_by_new = await asyncio.wait_for(loop.sock_recv(c, 100), 10)
        c.send(b"probe")
        got_by_peer = await asyncio.wait_for(loop.sock_recv(d, 100), 10)
        transport.abort()
        await asyncio.wait_for(protocol.lost, 10)
        for sock in (b, c, d):
            sock.close()
        return protocol.received, got_by_new, got_by_peer

    assert on_stock_and_ringloop(scenario) == [([], b"for the new socket", b"probe")] * 2


def test_closing_a_servers_listening_socket_refuses_connections():
    async def scenario(loop):
        listener = socket.create_server(("127.0.0.1", 0))
        address = listener.getsockname()
        await loop.create_server(asyncio.Protocol, sock=listener)  # closed with the loop
        await in_the_kernel(loop)
        listener.close()
        return refuses_connections(address)

    assert on_stock_and_ringloop(scenario) == [True] * 2


# -- add_reader / add_writer on a socket the program closes ---------------------------------------


def outcome(call, *args):
    """``call(*args)``'s result, or the name of the exception it raised."""
    try:
        return call(*args)
    except Exception as exc:
        return type(exc).__name__


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("direction", ["reader", "writer"])
def test_remove_with_a_closed_socket_object_finds_the_watch(kind, direction):
    """remove_reader(sock) after sock.close() finds the watch by the object, removes it, returns True."""
    async def scenario(loop):
        a, b = socket_pair(kind)
        add, remove = getattr(loop, f"add_{direction}"), getattr(loop, f"remove_{direction}")
        add(a, print)
        await in_the_kernel(loop)
        a.close()
        removed = remove(a)
        b.close()
        # Unregistered, a closed object can no longer be looked up: ValueError.
        return removed, outcome(remove, a)

    assert on_stock_and_ringloop(scenario) == [(True, "ValueError")] * 2


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_peer_sees_eof_when_a_watched_socket_is_closed(kind):
    """Closing a socket with a reader on it closes it in the kernel at once: the peer reads EOF."""
    async def scenario(loop):
        a, b = socket_pair(kind)
        loop.add_reader(a, print)
        await in_the_kernel(loop)
        a.close()  # no remove_reader: the watch must not keep the socket open
        eof = await asyncio.to_thread(peer_sees_the_close, b)
        removed = outcome(loop.remove_reader, a)
        b.close()
        return eof, removed

    assert on_stock_and_ringloop(scenario) == [(True, True)] * 2


@pytest.mark.parametrize("kind", KINDS)
def test_waiter_woken_by_the_closer_unregisters_and_gets_the_ordinary_error(kind):
    """A library's wait (add_reader + future) that the closing task wakes, as anyio 3 does.

    The waiter's done callback calls remove_reader(sock) after the close, and
    its retried recv raises the ordinary OSError (EBADF), on both loops.
    """
    async def scenario(loop):
        a, b = socket_pair(kind)
        waiting = loop.create_future()

        def stop_watching(_fut):
            loop.remove_reader(a)  # a is closed by now: found by the object

        async def receive():
            while True:
                try:
                    return a.recv(10)
                except BlockingIOError:
                    pass
                fut = loop.create_future()
                fut.add_done_callback(stop_watching)
                loop.add_reader(a, fut.set_result, None)
                waiting.set_result(fut)
                await fut

        async def close():
            fut = await waiting
            fut.set_result(None)
            a.close()

        results = await asyncio.gather(receive(), close(), return_exceptions=True)
        b.close()
        return [type(item).__name__ if isinstance(item, BaseException) else item for item in results]

    assert on_stock_and_ringloop(scenario) == [["OSError", None]] * 2


@pytest.mark.parametrize("kind", KINDS)
def test_cancel_then_close_in_a_task_group(kind):
    """A wait is cancelled and the socket closed in the same step: no ExceptionGroup, nothing left registered."""
    async def scenario(loop):
        a, b = socket_pair(kind)

        async def wait_readable():
            fut = loop.create_future()
            loop.add_reader(a, fut.set_result, None)
            try:
                await fut
            finally:
                loop.remove_reader(a)  # runs after the close below

        async with asyncio.TaskGroup() as group:
            task = group.create_task(wait_readable())
            await in_the_kernel(loop)
            task.cancel()
            a.close()
        b.close()
        return task.cancelled(), outcome(loop.remove_reader, a)

    assert on_stock_and_ringloop(scenario) == [(True, "ValueError")] * 2


def test_a_closed_watch_never_follows_its_fd_number():
    """A reader left on a closed socket never runs, not even when a new socket gets the same fd number.

    The old socket's peer writes after the close (which could complete a poll
    holding the old file), and the new socket is readable too.  A watch on a
    third, always-readable socket runs meanwhile: each of its calls is a
    round of readiness, so three of them show the stale watch had its chances.
    """
    async def scenario(loop):
        a, b = socket_pair("unix")
        control, control_peer = socket_pair("unix")
        stale, rounds = [], []
        loop.add_reader(a, stale.append, "old socket")
        await in_the_kernel(loop)
        number = a.fileno()
        a.close()
        try:
            b.send(b"x")  # the old file becomes readable, if anything still holds it open
        except BrokenPipeError:
            pass  # nothing does: the close reached the kernel
        new, new_peer = reused(number)
        new_peer.send(b"y")
        control_peer.send(b"z")
        done = loop.create_future()

        def count_round():
            rounds.append(1)
            if len(rounds) == 3:
                loop.remove_reader(control)
                done.set_result(None)

        loop.add_reader(control, count_round)
        await done
        stale_calls = list(stale)
        # Unregistered through the closed object, the number is free for the new socket.
        removed = outcome(loop.remove_reader, a)
        fresh = loop.create_future()
        loop.add_reader(new, fresh.set_result, "new socket")
        got = await fresh
        loop.remove_reader(new)
        for sock in (b, new, new_peer, control, control_peer):
            sock.close()
        return stale_calls, removed, got

    assert on_stock_and_ringloop(scenario) == [([], True, "new socket")] * 2
