"""A large write with nothing pending before it is sent inside write(), as the stock transport sends every write.

Such a write is tried with one non-blocking send(2): what the socket takes
never counts as buffered, so a write above the high-water mark that the
kernel takes whole does not call pause_writing (a 100 KiB echo used to pause
and resume its protocol on every round trip).  What the socket does not take
is queued as any write is, a copy when the caller's buffer is mutable.
Each scenario runs on the stock loop and on ringloop and must give the same.
"""
import array
import asyncio
import socket
import sys

from helpers import on_stock_and_ringloop, run_checked

LARGE = 80 * 1024  # above the 64 KiB high-water mark, within a Unix socket's send buffer
HUGE = 4 << 20  # far above what a socket buffer holds


class FlowRecorder(asyncio.Protocol):
    def __init__(self):
        self.pauses = 0
        self.resumes = 0

    def pause_writing(self):
        self.pauses += 1

    def resume_writing(self):
        self.resumes += 1


async def _receive(loop, peer, want):
    got = bytearray()
    while len(got) < want:
        got += await loop.sock_recv(peer, want - len(got))
    return bytes(got)


def _pattern(size):
    return bytes(range(256)) * (size // 256)


def test_large_write_the_socket_takes_whole_is_not_buffered():
    async def scenario(loop):
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        transport, protocol = await loop.create_connection(FlowRecorder, sock=ours)
        try:
            data = _pattern(LARGE)
            transport.write(data)
            buffered = transport.get_write_buffer_size()
            got = await _receive(loop, peer, LARGE)
            return buffered, protocol.pauses, got == data
        finally:
            transport.close()
            peer.close()

    stock, ring = on_stock_and_ringloop(scenario)
    assert stock == ring == (0, 0, True)


def test_what_the_socket_does_not_take_is_copied_queued_and_flow_controlled():
    """A reused bytearray far larger than the socket buffer: the rest is the caller's bytes as written."""

    async def scenario(loop):
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        transport, protocol = await loop.create_connection(FlowRecorder, sock=ours)
        try:
            original = _pattern(HUGE)
            buffer = bytearray(original)
            transport.write(buffer)
            buffered = transport.get_write_buffer_size()
            paused = protocol.pauses
            buffer[:] = bytes(len(buffer))  # the caller reuses its buffer at once
            got = await _receive(loop, peer, HUGE)
            await asyncio.sleep(0)  # the last send's completion
            return 0 < buffered < HUGE, paused, got == original, protocol.resumes, transport.get_write_buffer_size()
        finally:
            transport.close()
            peer.close()

    stock, ring = on_stock_and_ringloop(scenario)
    assert ring == (True, 1, True, 1, 0)
    # The stock transport of CPython 3.12 and 3.13 queues a memoryview of the
    # caller's buffer, so what it sends depends on the reuse; all else agrees.
    assert stock[:2] + stock[3:] == ring[:2] + ring[3:]
    if sys.version_info < (3, 12):
        assert stock == ring


def test_large_write_behind_a_queued_small_one_keeps_its_place():
    async def scenario(loop):
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
        try:
            small, large = b"head:", _pattern(LARGE)
            transport.write(small)
            transport.write(large)
            return await _receive(loop, peer, len(small) + LARGE) == small + large
        finally:
            transport.close()
            peer.close()

    assert on_stock_and_ringloop(scenario) == [True, True]


class LossRecorder(asyncio.Protocol):
    def __init__(self, loop):
        self.lost = loop.create_future()

    def connection_lost(self, exc):
        self.lost.set_result(exc)


def test_large_write_to_a_reset_connection_ends_the_transport_without_raising():
    async def scenario(loop):
        ours, peer = socket.socketpair()
        transport, protocol = await loop.create_connection(lambda: LossRecorder(loop), sock=ours)
        peer.close()
        transport.write(_pattern(LARGE))  # the send fails inside write(): no exception here
        exc = await protocol.lost
        transport.write(_pattern(LARGE))  # after connection_lost: ignored, as the stock transport does
        return isinstance(exc, OSError), transport.is_closing()

    stock, ring = on_stock_and_ringloop(scenario)
    assert stock == ring == (True, True)


def test_large_view_of_wide_items_is_sent_and_counted_in_bytes(loop):
    """A memoryview of 4-byte items: what the socket takes is counted in bytes, the rest queued from there.

    ringloop only: the stock transport slices the view by the byte count
    send(2) returned, in items, and loses the rest (the peer waits forever).
    """

    async def scenario(loop):
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
        try:
            items = array.array("i", range(HUGE // 4))
            transport.write(memoryview(items))
            buffered = transport.get_write_buffer_size()
            got = await _receive(loop, peer, HUGE)
            await asyncio.sleep(0)  # the last send's completion
            return 0 < buffered < HUGE, got == items.tobytes(), transport.get_write_buffer_size()
        finally:
            transport.close()
            peer.close()

    assert run_checked(loop, scenario(loop)) == (True, True, 0)
