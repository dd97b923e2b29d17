"""Stream writes over silent sends (Ring.send_silent) when the socket fills: nothing lost, nothing reordered.

A silent send is counted as sent when it is queued; the kernel reports only
one the socket did not take whole, with how much it took.  Each scenario
writes distinct chunks, iteration after iteration, into a socket whose peer
does not read, until sends fail: entirely (-EAGAIN), and over TCP with the
16,000 bytes an iteration joins into one send, first partway (a short send
whose rest goes back to the head of the queue).  The peer then reads
everything.  The bytes must be
exactly what was written, flow control must have paused and resumed the
protocol, and the write buffer must end empty.  Run on the stock loop and on
ringloop; both must give the same.
"""
import asyncio
import socket

import pytest
from helpers import on_stock_and_ringloop

CHUNK = 1000  # not a divisor of any socket buffer size: the fill ends partway into a chunk


class FlowRecorder(asyncio.Protocol):
    def __init__(self, loop):
        self.paused = False
        self.pauses = 0
        self.resumed = loop.create_future()

    def pause_writing(self):
        self.paused = True
        self.pauses += 1

    def resume_writing(self):
        self.paused = False
        if not self.resumed.done():
            self.resumed.set_result(None)


def chunk(i):
    return i.to_bytes(4, "big") * (CHUNK // 4)


def connected_pair(family):
    """(writer, reader); over TCP with small buffers, where a send the socket cannot take whole is cut short."""
    if family == "unix":
        return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        writer = socket.socket()
        writer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        writer.connect(listener.getsockname())
        return writer, listener.accept()[0]


async def fill_then_read(loop, family, *, per_iteration):
    a, b = connected_pair(family)
    b.setblocking(False)
    try:
        transport, proto = await loop.create_connection(lambda: FlowRecorder(loop), sock=a)
        written = bytearray()
        i = 0
        while not proto.paused:  # until flow control says the socket and the buffer are full
            for _ in range(per_iteration):
                transport.write(chunk(i))
                written += chunk(i)
                i += 1
            await asyncio.sleep(0)
        buffered = transport.get_write_buffer_size()
        got = bytearray()
        while len(got) < len(written):
            got += await asyncio.wait_for(loop.sock_recv(b, 1 << 16), 10)
        await asyncio.wait_for(proto.resumed, 10)
        assert transport.get_write_buffer_size() == 0
        transport.close()
        return bytes(got) == bytes(written), proto.pauses, buffered > 0
    finally:
        b.close()


@pytest.mark.parametrize("family", ["unix", "tcp"])
def test_one_write_per_iteration_into_a_filling_socket(family):
    stock, ours = on_stock_and_ringloop(lambda loop: fill_then_read(loop, family, per_iteration=1))
    assert ours == stock == (True, 1, True)


@pytest.mark.parametrize("family", ["unix", "tcp"])
def test_joined_writes_into_a_filling_socket(family):
    stock, ours = on_stock_and_ringloop(lambda loop: fill_then_read(loop, family, per_iteration=16))
    assert ours == stock == (True, 1, True)
