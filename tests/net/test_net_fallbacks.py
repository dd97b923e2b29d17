"""The sockets' -EAGAIN fallbacks (wait with a ring poll, then try again), driven for real.

On this kernel a ring recv or send on a non-blocking socket waits instead of
answering -EAGAIN, so the fallbacks in the stream transport, the sock_* calls
and the datagram transport never run by themselves.  ``EagainKernel`` makes
the loop's real Ring answer as a kernel that does: a thin wrapper on the Ring
instance replaces an op on one fd, queued while the fd is not ready for it
(poll(2), timeout 0), by a no-op whose completion reaches the op's own handler
as -EAGAIN through the ring's normal dispatch.  Each test checks that a poll
for the right readiness followed every -EAGAIN (not an immediate retry), that
the poll completed, and that the data still arrived, in order.  A silent send
(MSG_DONTWAIT) is the exception: the kernel answers it -EAGAIN itself, and
the stream transport's own failure path runs unaided.
"""
import asyncio
import errno
import os
import select
import socket
import tempfile

import pytest
import ringloop
from checking_protocols import DatagramReceiver
from helpers import fill_send_buffer, run_checked
from injection import EagainKernel, round_trips_until


def nonblocking_pair(kind=socket.SOCK_STREAM):
    a, b = socket.socketpair(socket.AF_UNIX, kind)
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def udp_pair():
    """Two UDP sockets bound on loopback: (receiver, sender)."""
    pair = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for sock in pair:
        sock.bind(("127.0.0.1", 0))
    return pair


async def recv_exactly(loop, sock, size):
    got = bytearray()
    while len(got) < size:
        data = await asyncio.wait_for(loop.sock_recv(sock, size - len(got)), 10)
        assert data, "unexpected end of stream"
        got += data
    return bytes(got)


@pytest.fixture
def closing():
    """``closing(*socks)``: the sockets, closed when the test ends (pass or fail)."""
    opened = []

    def keep(*socks):
        opened.extend(socks)
        return socks if len(socks) > 1 else socks[0]

    yield keep
    for sock in opened:
        sock.close()


async def waits_with_a_poll(loop, fd, op, call, make_ready):
    """The scenario of a call whose ring op ``op`` on ``fd`` the kernel answers -EAGAIN: its result.

    ``call`` (an awaitable) must not finish while ``fd`` is not ready; once a
    poll is queued ``make_ready()`` makes it ready.  Checks that the events on
    ``fd`` were exactly: -EAGAIN, one poll for the op's readiness, which
    completed, then the op again.
    """
    mask = select.POLLIN if op in EagainKernel.INBOUND else select.POLLOUT
    with EagainKernel(loop._ring, fd, [op]) as kernel:
        pending = asyncio.ensure_future(call)
        assert await round_trips_until(loop, lambda: kernel.polls)
        assert not pending.done()
        make_ready()
        result = await asyncio.wait_for(pending, 10)
        assert kernel.log == [("eagain", op), ("poll", mask), ("op", op)]
        assert kernel.completed_polls(mask)
    return result


async def sends_into_a_full_socket(loop, a, b, ops, start, expected, while_waiting=None):
    """The scenario of a send on ``a`` that meets it full; ``start()``'s awaitable (or None) and ``expected``.

    ``a``'s buffers are filled first (``b`` reads nothing yet) and ``ops`` on
    ``a`` are answered -EAGAIN while it is not writable.  ``start()`` begins
    sending ``expected`` (returning the sending call's awaitable, or None); its first op must be refused and followed by a
    POLLOUT poll (not a retry at once); ``while_waiting()`` then runs.  ``b``
    must read the filler, then exactly ``expected``; every -EAGAIN must have
    been followed by a poll, a poll must have completed and an op must have
    gone to the kernel after it.  Returns what ``start()``'s awaitable gave.
    """
    filler = fill_send_buffer(a)
    with EagainKernel(loop._ring, a.fileno(), ops) as kernel:
        sending = start()
        if sending is not None:
            sending = asyncio.ensure_future(sending)
        assert await round_trips_until(loop, lambda: kernel.polls)
        assert kernel.log == [("eagain", ops[0]), ("poll", select.POLLOUT)]
        if while_waiting is not None:
            while_waiting()
        got = await recv_exactly(loop, b, len(filler) + len(expected))
        result = None if sending is None else await asyncio.wait_for(sending, 10)
        assert await kernel.settled(loop)
        assert kernel.each_eagain_followed_by_a_poll(select.POLLOUT)
        assert kernel.completed_polls(select.POLLOUT) and kernel.passed, (kernel.log, kernel.polls)
    assert got == filler + expected
    return result


# -- the stream transport -------------------------------------------------------------


class Collect(asyncio.Protocol):
    def __init__(self, loop):
        self.loop = loop
        self.data = bytearray()
        self.grew = None
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.data += data
        if self.grew is not None and not self.grew.done():
            self.grew.set_result(None)

    def connection_lost(self, exc):
        self.lost.set_result(exc)

    async def until(self, size):
        while len(self.data) < size:
            self.grew = self.loop.create_future()
            await asyncio.wait_for(self.grew, 10)


class BufferedCollect(Collect, asyncio.BufferedProtocol):
    def __init__(self, loop):
        super().__init__(loop)
        self.buf = bytearray(4096)

    def get_buffer(self, sizehint):
        return self.buf

    def buffer_updated(self, nbytes):
        self.data_received(bytes(self.buf[:nbytes]))


@pytest.mark.parametrize("mode", ["multishot", "single-shot", "buffered"])
def test_stream_recv_eagain_waits_with_a_poll_and_loses_nothing(loop, closing, mode):
    a, b = nonblocking_pair()
    closing(b)
    # A BufferedProtocol's bytearray is pinned once and received into with recv_pinned.
    op = {"multishot": "recv_multishot", "single-shot": "recv", "buffered": "recv_pinned"}[mode]
    chunks = [b"one", b"two" * 100, b"three" * 3000]

    async def main():
        if mode == "single-shot":
            loop._ring.no_multishot_recv = True
        with EagainKernel(loop._ring, a.fileno(), [op]) as kernel:
            factory = BufferedCollect if mode == "buffered" else Collect
            transport, proto = await loop.create_connection(lambda: factory(loop), sock=a)
            assert await round_trips_until(loop, lambda: kernel.polls)
            assert kernel.log == [("eagain", op), ("poll", select.POLLIN)]
            assert kernel.polls == [[select.POLLIN, None]]  # waiting, nothing delivered
            assert proto.data == b""
            expected = b""
            for chunk in chunks:
                b.send(chunk)
                expected += chunk
                await proto.until(len(expected))
            assert bytes(proto.data) == expected
            assert await kernel.settled(loop)
            assert kernel.each_eagain_followed_by_a_poll(select.POLLIN)
            assert all(res & select.POLLIN for res in kernel.completed_polls(select.POLLIN))
            assert op in kernel.passed
            if mode == "multishot":
                # The multishot recv armed after the poll kept serving every chunk.
                assert kernel.injected == [op] and kernel.passed == [op]
                assert transport._recv_is_multishot
            else:
                # A single-shot recv per chunk, each first answered -EAGAIN.
                assert kernel.injected == [op] * (len(chunks) + 1)
                assert not transport._recv_is_multishot
            transport.close()
            await asyncio.wait_for(proto.lost, 10)

    run_checked(loop, main())


@pytest.mark.parametrize("silent", [True, False], ids=["silent-send", "send"])
def test_stream_send_eagain_waits_with_a_poll_and_keeps_write_order(closing, silent):
    # Silent sends need a DEFER_TASKRUN ring; single_issuer=False rules it out.
    loop = ringloop.new_event_loop(single_issuer=silent)
    assert loop._ring.silent_sends is silent
    a, b = nonblocking_pair()
    closing(b)
    ops = ["send_silent", "send", "sendmsg"] if silent else ["send", "sendmsg"]

    async def main():
        transport, proto = await loop.create_connection(lambda: Collect(loop), sock=a)
        await loop.ring_nop()

        def write_more():  # queued behind the poll, in order
            transport.write(b"B" * 1000)
            transport.writelines([b"C" * 10, b"D" * 10])
            assert transport.get_write_buffer_size() == 2020

        expected = b"A" * 1000 + b"B" * 1000 + b"C" * 10 + b"D" * 10
        await sends_into_a_full_socket(loop, a, b, ops, lambda: transport.write(b"A" * 1000), expected, write_more)
        assert transport.get_write_buffer_size() == 0
        transport.close()
        await asyncio.wait_for(proto.lost, 10)

    try:
        run_checked(loop, main())
    finally:
        loop.close()


# -- sock_* ------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["sock_recv", "sock_recv_into"])
def test_sock_recv_eagain_waits_with_a_poll(loop, closing, call):
    a, b = closing(*nonblocking_pair())
    buf = bytearray(100)
    receive = loop.sock_recv(a, 100) if call == "sock_recv" else loop.sock_recv_into(a, buf)

    async def main():
        # sock_recv receives into a scratch buffer pinned once (Ring.recv_pinned).
        op = "recv_pinned" if call == "sock_recv" else "recv"
        result = await waits_with_a_poll(loop, a.fileno(), op, receive, lambda: b.send(b"after the poll"))
        assert (result if call == "sock_recv" else bytes(buf[:result])) == b"after the poll"

    run_checked(loop, main())


def test_sock_recvfrom_eagain_waits_with_a_poll(loop, closing):
    receiver, sender = closing(*udp_pair())
    receiver.setblocking(False)

    async def main():
        got = await waits_with_a_poll(loop, receiver.fileno(), "recvmsg", loop.sock_recvfrom(receiver, 100),
                                      lambda: sender.sendto(b"datagram", receiver.getsockname()))
        assert got == (b"datagram", sender.getsockname())

    run_checked(loop, main())


def test_sock_accept_eagain_waits_with_a_poll(loop, closing):
    listener = closing(socket.socket())
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)

    async def main():
        clients = []
        conn, address = await waits_with_a_poll(
            loop, listener.fileno(), "accept", loop.sock_accept(listener),
            lambda: clients.append(closing(socket.create_connection(listener.getsockname(), timeout=10))))
        closing(conn)
        assert address == clients[0].getsockname()
        clients[0].sendall(b"hi")
        assert await recv_exactly(loop, conn, 2) == b"hi"

    run_checked(loop, main())


def test_sock_sendall_eagain_waits_with_a_poll(loop, closing):
    a, b = closing(*nonblocking_pair())
    payload = os.urandom(300_000)

    async def main():
        await sends_into_a_full_socket(loop, a, b, ["send"], lambda: loop.sock_sendall(a, payload), payload)

    run_checked(loop, main())


def test_sock_sendto_eagain_waits_with_a_poll(loop, closing):
    receiver, sender = closing(*udp_pair())
    sender.setblocking(False)

    async def main():
        with EagainKernel(loop._ring, sender.fileno(), ["sendmsg"], force=1) as kernel:
            sent = await asyncio.wait_for(loop.sock_sendto(sender, b"once", receiver.getsockname()), 10)
            assert sent == 4
            assert kernel.log == [("eagain", "sendmsg"), ("poll", select.POLLOUT), ("op", "sendmsg")]
            assert kernel.completed_polls(select.POLLOUT)
        receiver.settimeout(10)
        assert receiver.recvfrom(100) == (b"once", sender.getsockname())

    run_checked(loop, main())


def test_sock_connect_handed_back_in_progress_finishes_with_a_poll(loop, closing):
    """A kernel that answers a ring connect with -EINPROGRESS: the loop waits for POLLOUT and checks SO_ERROR."""
    listener, client = closing(socket.socket(), socket.socket())
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client.setblocking(False)
    ring = loop._ring
    polls = []

    async def main():
        real_connect, real_poll = ring.connect, ring.poll_add

        def connect(fd, address, handler):  # the real connect; its success reported as "in progress"
            return real_connect(fd, address, lambda res, flags: handler(-errno.EINPROGRESS if res == 0 else res, flags))

        def poll_add(fd, mask, handler, **kwargs):
            entry = [fd, mask, None]
            polls.append(entry)

            def done(res, flags):
                entry[2] = res
                handler(res, flags)

            return real_poll(fd, mask, done, **kwargs)

        ring.connect, ring.poll_add = connect, poll_add
        try:
            await asyncio.wait_for(loop.sock_connect(client, listener.getsockname()), 10)
        finally:
            del ring.connect, ring.poll_add
        conn, _ = listener.accept()
        conn.sendall(b"connected")
        assert await recv_exactly(loop, client, 9) == b"connected"
        conn.close()
        assert len(polls) == 1
        fd, mask, res = polls[0]
        assert (fd, mask) == (client.fileno(), select.POLLOUT) and res & select.POLLOUT

    run_checked(loop, main())


def test_sock_sendfile_eagain_waits_with_a_poll(loop, closing):
    a, b = closing(*nonblocking_pair())
    payload = os.urandom(1 << 20)

    async def main():
        with tempfile.TemporaryFile() as file:
            file.write(payload)
            file.flush()
            sent = await sends_into_a_full_socket(loop, a, b, ["splice"], lambda: loop.sock_sendfile(a, file, 0), payload)
            assert sent == len(payload)
            assert file.tell() == len(payload)

    run_checked(loop, main())


# -- the datagram transport ---------------------------------------------------------------


def test_datagram_recv_eagain_waits_with_a_poll(loop, closing):
    a, b = nonblocking_pair(socket.SOCK_DGRAM)
    closing(b)

    async def main():
        with EagainKernel(loop._ring, a.fileno(), ["recvmsg"]) as kernel:
            transport, proto = await loop.create_datagram_endpoint(lambda: DatagramReceiver(loop), sock=a)
            for _ in range(50):  # an idle socket: 50 loop iterations
                await loop.ring_nop()
            spins = len(kernel.injected)
            b.send(b"datagram")
            await proto.until(1)
            assert await kernel.settled(loop)  # the receive armed after the datagram waits with a poll too
            assert kernel.each_eagain_followed_by_a_poll(select.POLLIN)
            transport.close()
            await asyncio.sleep(0)  # connection_lost runs: the transport lets its socket go
            assert proto.received == [b"datagram"]
            assert spins == 1, f"{spins} recvmsg answered -EAGAIN while the socket stayed empty"

    run_checked(loop, main())


def test_datagram_send_eagain_keeps_the_datagram(loop, closing):
    a, b = nonblocking_pair(socket.SOCK_DGRAM)
    closing(b)

    async def main():
        with EagainKernel(loop._ring, a.fileno(), ["sendmsg", "sendmsg_linked"], force=1) as kernel:
            transport, proto = await loop.create_datagram_endpoint(lambda: DatagramReceiver(loop), sock=a)
            transport.sendto(b"first")
            transport.sendto(b"second")
            assert await round_trips_until(loop, lambda: transport.get_write_buffer_size() == 0)
            assert kernel.injected == ["sendmsg"]
            await loop.ring_nop()
            got = []
            while True:
                try:
                    got.append(b.recv(100))
                except BlockingIOError:
                    break
            transport.close()
            await asyncio.sleep(0)  # connection_lost runs: the transport lets its socket go
            assert proto.errors == []
            assert got == [b"first", b"second"]

    run_checked(loop, main())
