"""Cancelling sock_* operations that are in flight in the kernel."""
import asyncio
import socket

import pytest
from helpers import run_checked


async def _in_kernel(loop):
    """Return once every op queued so far has been submitted (two full iterations)."""
    await loop.ring_nop()
    await loop.ring_nop()


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_cancel_sock_recv_in_flight_then_socket_works(loop, pair):
    a, b = pair

    async def main():
        for round_ in range(50):
            task = loop.create_task(loop.sock_recv(a, 1024))
            await _in_kernel(loop)  # the recv waits in the kernel: no data yet
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            message = b"after cancel %d" % round_
            await loop.sock_sendall(b, message)
            assert await loop.sock_recv(a, 1024) == message

    run_checked(loop, main())


def test_cancel_sock_recv_into_in_flight_then_socket_works(loop, pair):
    a, b = pair

    async def main():
        old = bytearray(64)
        task = loop.create_task(loop.sock_recv_into(a, old))
        await _in_kernel(loop)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await loop.sock_sendall(b, b"fresh")
        new = bytearray(64)
        assert await loop.sock_recv_into(a, new) == 5
        assert new[:5] == b"fresh"
        assert old == bytearray(64)  # the cancelled recv wrote nothing

    run_checked(loop, main())


def test_sock_recv_timeout_then_socket_works(loop, pair):
    a, b = pair

    async def main():
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(loop.sock_recv(a, 100), 0.05)
        await loop.sock_sendall(b, b"late")
        assert await loop.sock_recv(a, 100) == b"late"
        # The other direction was never disturbed.
        await loop.sock_sendall(a, b"reply")
        assert await loop.sock_recv(b, 100) == b"reply"

    run_checked(loop, main())


def test_cancel_sock_accept_in_flight_then_accept_works(loop):
    async def main():
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.setblocking(False)
            task = loop.create_task(loop.sock_accept(listener))
            await _in_kernel(loop)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            client = socket.socket()
            client.setblocking(False)
            with client:
                await loop.sock_connect(client, listener.getsockname())
                conn, _addr = await loop.sock_accept(listener)
                with conn:
                    await loop.sock_sendall(client, b"hi")
                    assert await loop.sock_recv(conn, 10) == b"hi"

    run_checked(loop, main())


@pytest.mark.parametrize("into", [False, True], ids=["sock_recv", "sock_recv_into"])
def test_cancel_sock_recv_with_data_already_waiting_loses_nothing(loop, pair, into):
    """The data is in the socket before the recv is submitted, and the task is
    cancelled in the iteration that started the recv.  On the stock loop the
    recv returns at once (the task finishes first); on either loop the next
    receive must return every byte."""
    a, b = pair

    async def receive(n):
        if not into:
            return await loop.sock_recv(a, n)
        buf = bytearray(n)
        got = await loop.sock_recv_into(a, buf)
        return bytes(buf[:got])

    async def main():
        lost = []
        for round_ in range(20):
            message = b"m%02d" % round_
            b.send(message)
            task = loop.create_task(receive(100))
            await asyncio.sleep(0)  # the task has queued its recv
            task.cancel()
            try:
                got = await task
            except asyncio.CancelledError:
                try:
                    got = await asyncio.wait_for(receive(100), 2)
                except TimeoutError:
                    got = b""
            if got != message:
                lost.append((message, got))
        assert not lost, f"{len(lost)} of 20 messages lost or mangled: {lost[:5]}"

    run_checked(loop, main())
