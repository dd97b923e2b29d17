"""Stream transport behaviour CPython's suites leave out: half-close, abort with
writes pending, peer reset, pause/resume of a multishot recv, write ordering
under flow control."""
import asyncio
import os
import socket
import struct

import pytest
from checking_protocols import Receiver
from helpers import open_fds, run_checked
from injection import round_trips_until


class Recorder(asyncio.Protocol):
    """Records every callback; futures for the ones a test waits on."""

    def __init__(self, loop, *, keep_open_on_eof=True):
        self.loop = loop
        self.events = []
        self.data = bytearray()
        self.keep_open_on_eof = keep_open_on_eof
        self.made = loop.create_future()
        self.eof = loop.create_future()
        self.lost = loop.create_future()
        self.paused_writing = loop.create_future()
        self.want = None
        self.got_enough = None

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")
        self.made.set_result(transport)

    def data_received(self, data):
        self.events.append("data")
        self.data += data
        if self.want is not None and len(self.data) >= self.want and not self.got_enough.done():
            self.got_enough.set_result(None)

    async def until(self, size):
        if len(self.data) >= size:
            return
        self.want = size
        self.got_enough = self.loop.create_future()
        await self.got_enough

    def eof_received(self):
        self.events.append("eof")
        self.eof.set_result(None)
        return self.keep_open_on_eof

    def pause_writing(self):
        self.events.append("pause_writing")
        if not self.paused_writing.done():
            self.paused_writing.set_result(None)

    def resume_writing(self):
        self.events.append("resume_writing")

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)


async def _tcp_pair(loop, client_proto, server_proto):
    """A connected (client transport, server transport) pair on loopback, both on ``loop``."""
    server = await loop.create_server(lambda: server_proto, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()
    client, _ = await loop.create_connection(lambda: client_proto, host, port)
    accepted = await server_proto.made
    server.close()  # no more connections; the accepted one lives on
    return client, accepted, server


# -- 3. half-close -----------------------------------------------------------------------


def test_write_eof_from_client_server_keeps_writing(loop):
    async def main():
        cproto, sproto = Recorder(loop), Recorder(loop)
        client, accepted, server = await _tcp_pair(loop, cproto, sproto)
        assert client.can_write_eof()
        client.write(b"request")
        client.write_eof()
        await sproto.eof
        assert bytes(sproto.data) == b"request"
        assert not accepted.is_closing()  # eof_received returned True
        # Our write side is shut; the server's is not: it answers after EOF.
        with pytest.raises(RuntimeError):
            client.write(b"more")
        reply = [b"%04d|" % i * 100 for i in range(50)]
        for chunk in reply:
            accepted.write(chunk)
        accepted.write_eof()
        await cproto.eof
        assert bytes(cproto.data) == b"".join(reply)
        accepted.close()
        client.close()
        assert await sproto.lost is None
        assert await cproto.lost is None
        await server.wait_closed()
        assert sproto.events == ["made", "data", "eof", "lost"] or sproto.events[-2:] == ["eof", "lost"]
        assert cproto.events[0] == "made" and cproto.events[-2:] == ["eof", "lost"]

    run_checked(loop, main())


def test_eof_received_false_closes_after_draining_writes(loop):
    """eof_received returning False closes the transport; what was written still goes out."""
    async def main():
        cproto, sproto = Recorder(loop), Recorder(loop, keep_open_on_eof=False)
        client, accepted, server = await _tcp_pair(loop, cproto, sproto)
        accepted.write(b"x" * (1 << 20))  # larger than the socket buffers take at once
        client.write_eof()
        assert await sproto.lost is None
        await cproto.eof
        assert len(cproto.data) == 1 << 20
        client.close()
        await cproto.lost
        await server.wait_closed()

    run_checked(loop, main())


def test_streams_half_close_both_directions(loop):
    async def main():
        got_eof = asyncio.Event()
        server_read = []

        async def handle(reader, writer):
            # Server half-closes first, then keeps reading from the client.
            writer.write(b"greeting " * 1000)
            writer.write_eof()
            server_read.append(await reader.read())  # until the client's EOF
            got_eof.set()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
        assert await reader.read() == b"greeting " * 1000  # server's EOF reached us
        assert reader.at_eof()
        # The connection is half-open: we still write, the server still reads.
        for i in range(100):
            writer.write(b"late %03d;" % i)
        await writer.drain()
        writer.write_eof()
        await got_eof.wait()
        assert server_read == [b"".join(b"late %03d;" % i for i in range(100))]
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run_checked(loop, main())


def test_unix_half_close(loop, tmp_path):
    path = str(tmp_path / "half.sock")

    async def main():
        async def handle(reader, writer):
            data = await reader.read()
            writer.write(data[::-1])
            writer.write_eof()
            await writer.drain()
            writer.close()

        server = await asyncio.start_unix_server(handle, path)
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"abcdef" * 10000)
        writer.write_eof()
        assert await reader.read() == (b"abcdef" * 10000)[::-1]
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run_checked(loop, main())


# -- 4. abort with writes pending --------------------------------------------------------


async def _connect_to_a_peer(loop, proto):
    """A client transport with ``proto`` connected to a plain socket on loopback: (transport, that socket)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        transport, _ = await loop.create_connection(lambda: proto, *listener.getsockname())
        peer, _ = await loop.sock_accept(listener)
    return transport, peer


def test_abort_during_pending_writes(loop):
    async def main():
        proto = Recorder(loop)
        total = 64 << 20
        transport, peer = await _connect_to_a_peer(loop, proto)
        with peer:
            fd = transport.get_extra_info("socket").fileno()
            # The peer does not read: most of this stays in the transport.
            transport.write(b"\xab" * total)
            await proto.paused_writing
            assert transport.get_write_buffer_size() > 0
            transport.abort()
            assert transport.is_closing()
            assert transport.get_write_buffer_size() == 0  # buffers dropped at once
            assert await proto.lost is None
            transport.abort()  # again: nothing more happens
            transport.close()
            # The socket is closed: the peer reads what the kernel had taken, then EOF.
            received = 0
            while True:
                try:
                    chunk = await loop.sock_recv(peer, 1 << 20)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                received += len(chunk)
            assert received < total
            assert fd not in open_fds()
        for _ in range(3):
            await loop.ring_nop()  # late completions of the cancelled send arrive
        assert proto.events.count("lost") == 1
        assert proto.events[-1] == "lost"
        assert "resume_writing" not in proto.events

    run_checked(loop, main())


def test_abort_on_server_side_with_pending_writes(loop):
    async def main():
        cproto, sproto = Recorder(loop, keep_open_on_eof=False), Recorder(loop)
        client, accepted, server = await _tcp_pair(loop, cproto, sproto)
        client.pause_reading()  # the peer stops reading
        accepted.write(b"z" * (32 << 20))
        await sproto.paused_writing
        accepted.abort()
        assert await sproto.lost is None
        client.resume_reading()
        exc = await cproto.lost  # client sees EOF (or a reset) and closes
        assert exc is None or isinstance(exc, ConnectionResetError)
        assert len(cproto.data) < 32 << 20
        assert sproto.events.count("lost") == 1
        await server.wait_closed()

    run_checked(loop, main())


# -- 6. peer reset -----------------------------------------------------------------------


def _reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_peer_reset_reaches_connection_lost(loop):
    async def main():
        sproto = Recorder(loop)
        server = await loop.create_server(lambda: sproto, "127.0.0.1", 0)
        peer = socket.socket()
        peer.setblocking(False)
        await loop.sock_connect(peer, server.sockets[0].getsockname())
        await loop.sock_sendall(peer, b"hello")
        await sproto.until(5)
        transport = sproto.transport
        _reset(peer)  # SO_LINGER 0: close sends RST
        exc = await sproto.lost
        assert isinstance(exc, ConnectionResetError), exc
        assert transport.is_closing()
        transport.write(b"after reset")  # does not raise
        transport.write(b"after reset")
        assert sproto.events.count("lost") == 1
        server.close()
        await server.wait_closed()

    run_checked(loop, main())


def test_peer_reset_while_writing(loop):
    """A reset that lands while a large write is in flight: an error, once, no exception raised."""
    async def main():
        proto = Recorder(loop)
        transport, peer = await _connect_to_a_peer(loop, proto)
        transport.write(b"w" * (32 << 20))
        await proto.paused_writing
        _reset(peer)
        exc = await proto.lost
        assert isinstance(exc, (ConnectionResetError, BrokenPipeError)), exc
        transport.write(b"more")  # no exception
        assert proto.events.count("lost") == 1

    run_checked(loop, main())


def test_peer_reset_with_streams(loop):
    async def main():
        accepted = loop.create_future()

        async def handle(reader, writer):
            accepted.set_result((reader, writer))

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        peer = socket.socket()
        peer.setblocking(False)
        await loop.sock_connect(peer, server.sockets[0].getsockname())
        reader, writer = await accepted
        _reset(peer)
        with pytest.raises(ConnectionResetError):
            await reader.read()
        writer.write(b"ignored")  # no exception
        writer.close()
        server.close()
        await server.wait_closed()

    run_checked(loop, main())


# -- 7. pause_reading / resume_reading with a multishot recv ------------------------------


def test_pause_reading_holds_data_until_resume(loop):
    async def main():
        proto = Receiver(loop, keep=True)
        server = await loop.create_server(lambda: proto, "127.0.0.1", 0)
        peer = socket.socket()
        peer.setblocking(False)
        await loop.sock_connect(peer, server.sockets[0].getsockname())
        transport = await proto.made
        payload = os.urandom(512 << 10)
        await loop.sock_sendall(peer, payload[:1000])
        assert await round_trips_until(loop, lambda: len(proto.data) >= 1000)
        proto.pause()
        assert not transport.is_reading()
        before = len(proto.data)
        await loop.sock_sendall(peer, payload[1000:200_000])
        for _ in range(20):  # twenty full loop iterations with data waiting
            await loop.ring_nop()
        assert len(proto.data) == before
        transport.pause_reading()  # idempotent
        proto.resume()
        assert transport.is_reading()
        await loop.sock_sendall(peer, payload[200_000:])
        peer.shutdown(socket.SHUT_WR)
        await proto.eof
        assert proto.violations == 0
        assert bytes(proto.data) == payload
        transport.close()
        peer.close()
        server.close()
        await server.wait_closed()

    run_checked(loop, main())


def test_pause_resume_every_chunk_keeps_order(loop):
    """Pause in every data_received, resume three loop iterations later (across completions), for 8 MiB."""
    async def main():
        # Closed at EOF (EOF while paused: see the *_delivered_once tests).
        proto = Receiver(loop, pause_every=1, resume_after=3, keep=True, close_at_eof=True)
        server = await loop.create_server(lambda: proto, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()
        payload = os.urandom(8 << 20)

        def send():
            with socket.create_connection((host, port)) as sock:
                sock.sendall(payload)
                sock.shutdown(socket.SHUT_WR)
                sock.recv(1)

        sending = asyncio.ensure_future(asyncio.to_thread(send))
        await proto.eof
        assert proto.violations == 0
        assert bytes(proto.data) == payload
        proto.transport.close()
        await sending
        server.close()
        await server.wait_closed()

    run_checked(loop, main())


class CountEof(asyncio.Protocol):
    """Pauses reading in data_received and resumes one callback later; counts EOFs."""

    def __init__(self, loop, buffered=False):
        self.loop = loop
        self.data = bytearray()
        self.eofs = 0
        self.eof = loop.create_future()
        self.made = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.made.set_result(transport)

    def data_received(self, data):
        self.data += data
        self.transport.pause_reading()
        self.loop.call_soon(self.transport.resume_reading)

    def eof_received(self):
        self.eofs += 1
        if not self.eof.done():
            self.eof.set_result(None)
        return True  # keep the connection open (half-closed)


class BufferedCountEof(CountEof, asyncio.BufferedProtocol):
    def get_buffer(self, sizehint):
        self._buf = bytearray(65536)
        return self._buf

    def buffer_updated(self, nbytes):
        self.data_received(bytes(self._buf[:nbytes]))


@pytest.mark.parametrize("protocol_class", [CountEof, BufferedCountEof], ids=["Protocol", "BufferedProtocol"])
def test_eof_arriving_while_paused_is_delivered_once(loop, protocol_class):
    """Data and FIN land together; the protocol pauses on the data, so the EOF
    completion is held; resume must hand it over once and not read again."""
    async def main():
        proto = protocol_class(loop)
        server = await loop.create_server(lambda: proto, "127.0.0.1", 0)
        peer = socket.socket()
        peer.setblocking(False)
        await loop.sock_connect(peer, server.sockets[0].getsockname())
        transport = await proto.made
        for _ in range(3):
            await loop.ring_nop()  # the transport's recv is in the kernel
        peer.send(b"last words")
        peer.shutdown(socket.SHUT_WR)
        await proto.eof
        for _ in range(20):  # room for a second, wrong EOF
            await loop.ring_nop()
        assert bytes(proto.data) == b"last words"
        assert proto.eofs == 1
        assert not transport.is_closing()
        transport.write(b"still open")  # half-closed: our direction works
        assert await loop.sock_recv(peer, 100) == b"still open"
        transport.close()
        peer.close()
        server.close()
        await server.wait_closed()

    run_checked(loop, main())


@pytest.mark.parametrize("protocol_class", [CountEof, BufferedCountEof], ids=["Protocol", "BufferedProtocol"])
def test_eof_arriving_after_pause_reading_is_delivered_once(loop, protocol_class):
    """pause_reading with a recv in flight, then the peer's FIN, then resume_reading."""
    async def main():
        proto = protocol_class(loop)
        server = await loop.create_server(lambda: proto, "127.0.0.1", 0)
        peer = socket.socket()
        peer.setblocking(False)
        await loop.sock_connect(peer, server.sockets[0].getsockname())
        transport = await proto.made
        for _ in range(3):
            await loop.ring_nop()  # the transport's recv is in the kernel
        transport.pause_reading()
        peer.shutdown(socket.SHUT_WR)
        for _ in range(5):
            await loop.ring_nop()
        assert proto.eofs == 0  # paused: nothing delivered
        transport.resume_reading()
        await proto.eof
        for _ in range(20):  # room for a second, wrong EOF
            await loop.ring_nop()
        assert proto.eofs == 1
        transport.close()
        peer.close()
        server.close()
        await server.wait_closed()

    run_checked(loop, main())


# -- 8. ordering under flow control --------------------------------------------------------


class FlowWriter(asyncio.Protocol):
    """Writes numbered records; more of them from inside resume_writing."""

    def __init__(self, loop, total):
        self.loop = loop
        self.total = total
        self.next = 0
        self.paused = False
        self.pauses = 0
        self.resumes = 0
        self.finished = loop.create_future()
        self.first_pause = loop.create_future()
        self.lost = loop.create_future()

    def record(self, i):
        return b"<%08d:" % i + b"." * (i % 97) + b">"

    def connection_made(self, transport):
        self.transport = transport
        # Small kernel buffers: sends go out in many partial pieces.
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        transport.set_write_buffer_limits(high=4096, low=1024)
        self.write_some()

    def write_some(self):
        while self.next < self.total and not self.paused:
            i = self.next
            self.next += 1
            kind = i % 4
            if kind == 0:
                self.transport.write(self.record(i))
            elif kind == 1:
                buf = bytearray(self.record(i))
                self.transport.write(buf)
                buf[:] = b"X" * len(buf)  # the transport must have taken a copy
            elif kind == 2:
                self.transport.write(memoryview(self.record(i)))
            else:
                rec = self.record(i)
                self.transport.writelines([rec[:3], rec[3:]])
        if self.next == self.total and not self.finished.done():
            self.transport.write_eof()
            self.finished.set_result(None)

    def pause_writing(self):
        assert not self.paused
        self.paused = True
        self.pauses += 1
        if not self.first_pause.done():
            self.first_pause.set_result(None)

    def resume_writing(self):
        assert self.paused
        self.paused = False
        self.resumes += 1
        self.write_some()

    def connection_lost(self, exc):
        self.lost.set_result(exc)


def test_writes_in_order_under_flow_control(loop):
    total = 50_000

    async def main():
        writer = FlowWriter(loop, total)
        reader = Recorder(loop)
        server = await loop.create_server(lambda: reader, "127.0.0.1", 0)
        client, _ = await loop.create_connection(lambda: writer, *server.sockets[0].getsockname())
        accepted = await reader.made
        # The reader holds back until the writer has been paused once.
        accepted.pause_reading()
        await writer.first_pause
        accepted.resume_reading()
        await writer.finished
        await reader.eof
        expected = b"".join(writer.record(i) for i in range(total))
        assert bytes(reader.data) == expected
        assert writer.pauses > 0 and writer.resumes > 0, "flow control never kicked in"
        client.close()
        reader.transport.close()
        await writer.lost
        server.close()
        await server.wait_closed()

    run_checked(loop, main())


def test_many_writes_while_send_in_flight(loop):
    """Thousands of small writes in one callback, then more from later callbacks."""
    async def main():
        reader = Recorder(loop)
        server = await loop.create_server(lambda: reader, "127.0.0.1", 0)
        wproto = Recorder(loop)
        client, _ = await loop.create_connection(lambda: wproto, *server.sockets[0].getsockname())
        chunks = [b"%06d," % i for i in range(20000)]
        client.write(b"x" * (4 << 20))  # a big send goes in flight first
        for chunk in chunks[:10000]:
            client.write(chunk)
        await loop.ring_nop()
        client.writelines(chunks[10000:15000])
        await loop.ring_nop()
        for chunk in chunks[15000:]:
            loop.call_soon(client.write, chunk)
        loop.call_soon(client.write_eof)
        await reader.eof
        assert bytes(reader.data) == b"x" * (4 << 20) + b"".join(chunks)
        client.close()
        reader.transport.close()
        server.close()
        await server.wait_closed()

    run_checked(loop, main())
