"""A sock_recv cancelled while the kernel completes it loses no bytes."""
import asyncio
import socket

import pytest

import ringloop


@pytest.fixture
def racy_loop():
    # Without DEFER_TASKRUN the kernel posts the recv's completion as soon as
    # the data arrives (at the sender's syscall exit), before the cancel can
    # reach it: the race below then happens every time.
    loop = ringloop.new_event_loop(single_issuer=False)
    yield loop
    loop.close()


@pytest.mark.parametrize("into", [False, True], ids=["sock_recv", "sock_recv_into"])
def test_bytes_received_by_a_cancelled_recv_come_back_on_the_next(racy_loop, into):
    loop = racy_loop
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)

    async def receive(n):
        if not into:
            return await loop.sock_recv(b, n)
        buf = bytearray(n)
        got = await loop.sock_recv_into(b, buf)
        return bytes(buf[:got])

    async def main():
        task = loop.create_task(receive(100))
        await asyncio.sleep(0)  # the task queues its recv
        await asyncio.sleep(0)  # the recv reaches the kernel and waits
        a.send(b"raced")  # the kernel now completes the recv...
        task.cancel()  # ...while the awaiter gives up on it
        with pytest.raises(asyncio.CancelledError):
            await task
        await loop.ring_nop()  # the recv's own completion has arrived by now
        assert loop._sock_waits[b.fileno()].received == b"raced"  # the race happened: the kernel completed the cancelled recv
        a.send(b" later")
        received = b""
        while len(received) < len(b"raced later"):
            received += await asyncio.wait_for(receive(3), 5)
        return received

    try:
        assert loop.run_until_complete(main()) == b"raced later"
    finally:
        a.close()
        b.close()
