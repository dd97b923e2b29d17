"""A BufferedProtocol's buffer between reads: the transport's reused pin never outlives the read it served.

The stream transport reuses the pin of a bytearray that get_buffer() hands
out again (see RingStreamTransport._recv_into_lent_buffer).  A protocol
may still resize its bytearray whenever no read is in flight (reading
paused), may hand out a different buffer on any read, and may hand the
transport to a plain Protocol from buffer_updated(): both loops must
deliver every byte the same way.
"""
import asyncio
import socket

from helpers import on_stock_and_ringloop

CHUNKS = [bytes([48 + i]) * (1000 + 37 * i) for i in range(8)]


class ResizingProtocol(asyncio.BufferedProtocol):
    """Pauses after every read, grows its one bytearray while paused, then resumes."""

    def __init__(self, loop):
        self.loop = loop
        self.buffer = bytearray(64)
        self.received = bytearray()
        self.resizes = 0
        self.done = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def get_buffer(self, sizehint):
        return self.buffer

    def buffer_updated(self, nbytes):
        self.received += self.buffer[:nbytes]
        self.transport.pause_reading()
        self.loop.call_soon(self.grow_and_resume)

    def grow_and_resume(self):
        self.buffer.extend(bytes(64))  # BufferError if the transport still pinned it
        self.resizes += 1
        self.transport.resume_reading()

    def eof_received(self):
        self.done.set_result(bytes(self.received))


class FreshBufferProtocol(asyncio.BufferedProtocol):
    """Hands out a new bytearray, or a memoryview of one, on every read."""

    def __init__(self, loop):
        self.received = bytearray()
        self.calls = 0
        self.done = loop.create_future()

    def get_buffer(self, sizehint):
        self.calls += 1
        self.buffer = bytearray(100 + self.calls % 7)
        return self.buffer if self.calls % 2 else memoryview(self.buffer)

    def buffer_updated(self, nbytes):
        self.received += self.buffer[:nbytes]

    def eof_received(self):
        self.done.set_result(bytes(self.received))


async def _echo_into(loop, make_protocol):
    ours, peer = socket.socketpair()
    protocol = make_protocol(loop)
    transport, _ = await loop.create_connection(lambda: protocol, sock=ours)
    try:
        for chunk in CHUNKS:
            await loop.sock_sendall(peer, chunk)
        peer.shutdown(socket.SHUT_WR)
        return await protocol.done, protocol
    finally:
        transport.close()
        peer.close()


def test_a_paused_protocol_may_resize_its_buffer():
    async def scenario(loop):
        got, protocol = await _echo_into(loop, ResizingProtocol)
        return got, protocol.resizes > 0

    stock, ours = on_stock_and_ringloop(scenario)
    assert stock == ours == (b"".join(CHUNKS), True)


def test_a_new_buffer_on_every_read():
    async def scenario(loop):
        got, _ = await _echo_into(loop, FreshBufferProtocol)
        return got

    stock, ours = on_stock_and_ringloop(scenario)
    assert stock == ours == b"".join(CHUNKS)


class Collector(asyncio.Protocol):
    """A plain protocol: what data_received got, until EOF."""

    def __init__(self, loop):
        self.received = bytearray()
        self.done = loop.create_future()

    def data_received(self, data):
        self.received += data

    def eof_received(self):
        self.done.set_result(bytes(self.received))


class HandingOverProtocol(asyncio.BufferedProtocol):
    """Reads once into its buffer, then hands the transport to a Collector."""

    def __init__(self, loop):
        self.buffer = bytearray(4096)
        self.first = b""
        self.next = Collector(loop)
        self.handed_over = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def get_buffer(self, sizehint):
        return self.buffer

    def buffer_updated(self, nbytes):
        self.first = bytes(self.buffer[:nbytes])
        self.transport.set_protocol(self.next)
        self.handed_over.set_result(None)


def test_a_protocol_may_hand_the_transport_to_a_plain_protocol_from_buffer_updated():
    async def scenario(loop):
        ours, peer = socket.socketpair()
        protocol = HandingOverProtocol(loop)
        transport, _ = await loop.create_connection(lambda: protocol, sock=ours)
        try:
            await loop.sock_sendall(peer, CHUNKS[0])
            await protocol.handed_over
            for chunk in CHUNKS[1:]:
                await loop.sock_sendall(peer, chunk)
            peer.shutdown(socket.SHUT_WR)
            return protocol.first, await protocol.next.done
        finally:
            transport.close()
            peer.close()

    stock, ours = on_stock_and_ringloop(scenario)
    assert stock == ours == (CHUNKS[0], b"".join(CHUNKS[1:]))
