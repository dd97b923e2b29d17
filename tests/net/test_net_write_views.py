"""A stream transport's write() of a memoryview or bytearray copies it: the caller may reuse the buffer at once.

asyncpg writes every message as a memoryview of a buffer it refills, and the
send leaves only at the start of the next ring wait, so a write that kept the
view would send what the buffer holds by then.  Several writes in one step
also check that the copies keep their order.
"""
import asyncio
import socket

import pytest
from helpers import run_checked

MESSAGES = [bytes([65 + i]) * (100 + i) for i in range(5)]


async def write_reused_buffer(loop, wrap):
    """Write each of MESSAGES through one reused buffer (as ``wrap`` of it) in one step; what the peer got."""
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    try:
        buffer = bytearray(max(map(len, MESSAGES)))
        for message in MESSAGES:
            buffer[:len(message)] = message
            transport.write(wrap(buffer)[:len(message)])
        buffer[:] = b"\0" * len(buffer)  # overwritten before the send leaves
        want = sum(map(len, MESSAGES))
        got = b""
        while len(got) < want:
            got += await loop.sock_recv(peer, want - len(got))
        return got
    finally:
        transport.close()
        peer.close()


@pytest.mark.parametrize("wrap", [memoryview, bytearray], ids=["memoryview", "bytearray"])
def test_write_copies_a_buffer_the_caller_reuses(loop, wrap):
    got = run_checked(loop, write_reused_buffer(loop, wrap))
    assert got == b"".join(MESSAGES)


def test_write_of_a_multibyte_format_view_counts_bytes(loop):
    """A view of 4-byte items has len() in items: the buffer size counts its bytes."""

    async def main():
        ours, peer = socket.socketpair()
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
        try:
            data = memoryview(bytearray(range(16))).cast("I")
            transport.write(data)
            assert transport.get_write_buffer_size() == 16
        finally:
            transport.close()
            peer.close()

    run_checked(loop, main())
