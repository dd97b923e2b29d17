"""sock_recv's reused scratch buffers: concurrent receives never share one, and
the bytes returned stay as received after the buffer is reused."""
import asyncio
import socket

import pytest
from helpers import run_checked


@pytest.fixture
def pairs():
    made = [socket.socketpair() for _ in range(3)]
    for pair in made:
        for sock in pair:
            sock.setblocking(False)
    yield made
    for pair in made:
        for sock in pair:
            sock.close()


async def _in_kernel(loop):
    """Return once every op queued so far has been submitted (two full iterations)."""
    await loop.ring_nop()
    await loop.ring_nop()


def test_concurrent_sock_recv_on_several_sockets_each_get_their_own_bytes(loop, pairs):
    async def main():
        received, expected = [], []
        for round_ in range(30):
            size = (1000, 5000, 70_000)[round_ // 2 % 3]  # views kept for a size, then re-cut
            receivers = [loop.create_task(loop.sock_recv(b, size)) for _a, b in pairs]
            await _in_kernel(loop)  # every recv waits in the kernel, each with a scratch buffer of its own
            messages = [bytes([65 + i + round_ % 20]) * (100 * (i + 1)) for i in range(len(pairs))]
            for (a, _b), message in zip(pairs, messages):
                a.send(message)
            received += await asyncio.gather(*receivers)
            expected += messages
        # Checked at the end: the bytes of early rounds outlive their buffers' reuse.
        assert received == expected

    run_checked(loop, main())


def test_sock_recv_returns_at_most_n_bytes_and_the_rest_next(loop, pairs):
    (a, b), _, _ = pairs

    async def main():
        a.send(b"0123456789")
        await _in_kernel(loop)
        first = await loop.sock_recv(b, 4)
        second = await loop.sock_recv(b, 100)
        return first, second

    assert run_checked(loop, main()) == (b"0123", b"456789")
