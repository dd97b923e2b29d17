"""sock_accept / sock_recvfrom cancelled while the kernel completes them: no
connection or datagram lost, no fd leaked.  (sock_recv/sock_recv_into: see
tests/test_sock_cancel.py.)"""
import asyncio
import gc
import socket
import warnings

import pytest

import ringloop
from helpers import open_fds


@pytest.fixture
def racy_loop():
    # Without DEFER_TASKRUN the kernel posts an op's completion as soon as the
    # peer acts (at the peer's syscall exit), before the cancel can reach it:
    # the race below then happens every time.
    loop = ringloop.new_event_loop(single_issuer=False)
    yield loop
    loop.close()


def test_cancelled_sock_accept_loses_no_connection_and_leaks_no_fd(racy_loop):
    loop = racy_loop

    async def main():
        listener = socket.create_server(("127.0.0.1", 0))
        listener.setblocking(False)
        clients, lost, late = [], 0, 0
        before = open_fds()
        try:
            for _ in range(10):
                task = loop.create_task(loop.sock_accept(listener))
                await loop.ring_nop()
                await loop.ring_nop()  # the accept waits in the kernel
                clients.append(socket.create_connection(listener.getsockname()))  # the kernel accepts now...
                task.cancel()  # ...while the awaiter gives up
                try:
                    conn, _ = await task
                except asyncio.CancelledError:
                    await loop.ring_nop()  # the accept's own completion has arrived by now
                    late += bool(loop._sock_waits[listener.fileno()].connections)  # the kernel won the race
                    try:
                        # Generous: a lost connection would never come, a kept one comes at once.
                        conn, _ = await asyncio.wait_for(loop.sock_accept(listener), 10)
                    except TimeoutError:
                        lost += 1
                        continue
                conn.close()
            for client in clients:
                client.close()
            for _ in range(3):
                await loop.ring_nop()
            leaked = open_fds() - before
        finally:
            listener.close()
        assert late >= 1, "the race never happened: no cancelled sock_accept had accepted a connection"
        assert lost == 0, f"{lost} of 10 connections accepted by a cancelled sock_accept vanished"
        assert not leaked, f"fds leaked: {sorted(leaked)}"

    loop.run_until_complete(asyncio.wait_for(main(), 60))


def test_connection_accepted_for_a_cancelled_sock_accept_on_a_closed_listener_is_closed(racy_loop):
    loop = racy_loop

    async def main():
        listener = socket.create_server(("127.0.0.1", 0))
        listener.setblocking(False)
        task = loop.create_task(loop.sock_accept(listener))
        await loop.ring_nop()
        await loop.ring_nop()  # the accept waits in the kernel
        with socket.create_connection(listener.getsockname()) as client:  # the kernel accepts now...
            task.cancel()  # ...while the awaiter gives up
            listener.close()  # and the program closes the listener: nobody can take the connection
            with pytest.raises(asyncio.CancelledError):
                await task
            await loop.ring_nop()  # the accept's own completion has arrived by now
            client.settimeout(10)
            assert client.recv(1) == b""  # closed by the loop, not left to the garbage collector

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        loop.run_until_complete(asyncio.wait_for(main(), 60))
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_cancelled_sock_recvfrom_loses_no_datagram(racy_loop):
    loop = racy_loop

    async def main():
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        lost, late = [], 0
        try:
            for sock in (a, b):
                sock.bind(("127.0.0.1", 0))
                sock.setblocking(False)
            for round_ in range(10):
                task = loop.create_task(loop.sock_recvfrom(b, 100))
                await loop.ring_nop()
                await loop.ring_nop()
                message = b"d%02d" % round_
                a.sendto(message, b.getsockname())
                task.cancel()
                try:
                    got, _ = await task
                except asyncio.CancelledError:
                    await loop.ring_nop()  # the receive's own completion has arrived by now
                    late += bool(loop._sock_waits[b.fileno()].datagrams)  # the kernel won the race
                    try:
                        got, _ = await asyncio.wait_for(loop.sock_recvfrom(b, 100), 10)
                    except TimeoutError:
                        got = None
                if got != message:
                    lost.append(message)
        finally:
            a.close()
            b.close()
        assert late >= 1, "the race never happened: no cancelled sock_recvfrom had received a datagram"
        assert not lost, f"{len(lost)} of 10 datagrams received by a cancelled sock_recvfrom vanished"

    loop.run_until_complete(asyncio.wait_for(main(), 60))
