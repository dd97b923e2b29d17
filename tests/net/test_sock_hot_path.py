"""sock_recv and sock_sendall queue and await their first op in their own frame.

What the general path (_ring_io) does, they must still do: read the fd afresh
for each op, check their arguments and the loop as it does, and let a recv
buffer pinned once serve any size up to its own.
"""
import asyncio
import errno
import socket
import threading

import pytest
from helpers import run_checked
from test_net_closed_under import fill


def unix_pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def first_step(loop, call, sock):
    """Start ``call`` ("sock_recv" or "sock_sendall") on ``sock``: the exception it raises before it waits, or None."""
    coro = loop.sock_recv(sock, 10) if call == "sock_recv" else loop.sock_sendall(sock, b"data")
    try:
        coro.send(None)
    except RuntimeError as exc:
        return exc
    finally:
        coro.close()
    return None


def test_a_sendall_whose_socket_is_closed_after_a_short_send_fails_with_ebadf_and_sends_nothing_more(loop):
    """The first send completes short; the program closes the socket before sock_sendall resumes.

    The rest must not go to the fd number, which a new socket has taken by
    then: EBADF, as the stock loop's send on the closed socket object says.
    The close is slipped in by the completion handler of the first send, after
    its future is resolved and before the sending task runs again.
    """
    a, b = unix_pair()
    fill(a)
    number = a.fileno()
    state = {}
    ring = loop._ring
    real_send = ring.send

    def send_then_close_after_it(fd, data, flags, handler):
        if fd != number or "new" in state:
            return real_send(fd, data, flags, handler)

        def done(res, cqe_flags):
            handler(res, cqe_flags)
            assert 0 < res < len(data)  # short: sock_sendall has more to send
            a.close()
            c, d = unix_pair()
            state["new"] = (c, d) if c.fileno() == number else (d, c)

        return real_send(fd, data, flags, done)

    async def main():
        ring.send = send_then_close_after_it
        try:
            task = loop.create_task(loop.sock_sendall(a, b"secret" * 100_000))
            await loop.ring_nop()
            await loop.ring_nop()  # the first send waits in the kernel for room
            b.setblocking(True)
            await asyncio.to_thread(b.recv, 1 << 16)  # room: it completes, short
            with pytest.raises(OSError) as raised:
                await asyncio.wait_for(task, 10)
        finally:
            del ring.send
        c, d = state["new"]
        assert c.fileno() == number, "the kernel did not reuse the fd number"
        await loop.ring_nop()
        await loop.ring_nop()
        try:
            leaked = d.recv(1 << 20)
        except BlockingIOError:
            leaked = b""
        for sock in (b, c, d):
            sock.close()
        return raised.value.errno, leaked[:12]

    assert run_checked(loop, main()) == (errno.EBADF, b"")


def test_one_pinned_scratch_buffer_serves_smaller_sizes_and_a_larger_size_gets_its_own(loop):
    a, b = unix_pair()
    sizes = [70_000, 5, 1000, 70_000, 200_000, 3, 200_000]

    async def main():
        got = []
        for round_, size in enumerate(sizes):
            message = bytes([65 + round_]) * min(size, 150_000)
            await loop.sock_sendall(b, message)
            received = b""
            while len(received) < len(message):
                received += await loop.sock_recv(a, size)
            got.append(received == message)
            # One scratch buffer at a time here: reused while big enough.
            assert len(loop._scratch_pool) == 1 and len(loop._scratch_pool[0][0]) >= size
        return got

    try:
        assert run_checked(loop, main()) == [True] * len(sizes)
    finally:
        a.close()
        b.close()


def test_sock_recv_of_zero_bytes_returns_empty_at_once(loop):
    a, b = unix_pair()
    b.send(b"kept")

    async def main():
        return await loop.sock_recv(a, 0), await loop.sock_recv(a, 10)

    try:
        assert run_checked(loop, main()) == (b"", b"kept")
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("call", ["sock_recv", "sock_sendall"])
def test_the_calls_on_a_closed_loop_raise_runtime_error(loop, call):
    a, b = unix_pair()
    loop.close()
    try:
        assert str(first_step(loop, call, a)) == "Event loop is closed"
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("call", ["sock_recv", "sock_sendall"])
def test_in_debug_mode_the_calls_from_another_thread_raise(loop, call):
    a, b = unix_pair()
    loop.set_debug(True)
    raised = []

    async def main():  # the calls are made while the loop runs in this thread
        thread = threading.Thread(target=lambda: raised.append(first_step(loop, call, a)))
        thread.start()
        await asyncio.to_thread(thread.join)

    try:
        run_checked(loop, main())
        assert "thread" in str(raised[0])
    finally:
        a.close()
        b.close()


def test_a_pinned_recv_past_the_buffer_is_refused(loop):
    from ringloop._ring.memory import pin

    a, b = unix_pair()
    cbuf = pin(bytearray(16), writable=True)
    try:
        with pytest.raises(ValueError, match="17 bytes into a buffer of 16"):
            loop._ring.recv_pinned(a.fileno(), cbuf, 17, 0, lambda res, flags: None)
        assert loop._ring.inflight == 1  # only the loop's own wake-up read: nothing was queued
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("call", ["sock_recv", "sock_sendall"])
def test_a_call_cancelled_before_the_ring_submits_its_op_moves_no_byte(loop, call):
    """Cancelled in the iteration that queued it, the op never reaches the kernel, as with OpFuture.cancel.

    Data waits on the socket (room, for the send): a recv that ran would take
    the bytes (kept for the next sock_recv, but gone for a plain recv), a send
    would deliver them.
    """
    a, b = unix_pair()
    b.send(b"waiting")

    async def main():
        task = loop.create_task(loop.sock_recv(a, 100) if call == "sock_recv" else loop.sock_sendall(a, b"sent"))
        await asyncio.sleep(0)  # the task queues its op; the ring has not submitted it
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await loop.ring_nop()
        await loop.ring_nop()  # anything queued has reached the kernel and completed by now
        peer = a if call == "sock_recv" else b
        try:
            return peer.recv(100)
        except BlockingIOError:
            return b""

    try:
        expected = b"waiting" if call == "sock_recv" else b""
        assert run_checked(loop, main()) == expected
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("first", ["sock_recv", "sock_sendall"])
def test_closing_a_socket_under_a_recv_and_a_sendall_at_once_cancels_both(loop, first):
    """One waits in the socket's slot for a single op, the other in its set: the close reaches both.

    Either op left in the kernel would hold the socket's file open: the peer
    would not see the close, and the ring would keep an op in flight.  The
    waiters wait on until cancelled, as for one call (test_net_closed_under;
    the stock loop itself reports EBADF from its own callbacks in this case,
    so it is not run here).
    """
    from test_net_closed_under import cancelled, in_the_kernel, peer_sees_the_close

    a, b = unix_pair()
    fill(a)
    calls = {"sock_recv": lambda: loop.sock_recv(a, 100), "sock_sendall": lambda: loop.sock_sendall(a, b"y" * 100_000)}
    second = next(name for name in calls if name != first)

    async def main():
        before = loop._ring.inflight
        tasks = [loop.create_task(calls[first]())]
        await in_the_kernel(loop)
        tasks.append(loop.create_task(calls[second]()))
        await in_the_kernel(loop)
        a.close()
        closed = await asyncio.to_thread(peer_sees_the_close, b)
        await in_the_kernel(loop)
        still_waiting = [not task.done() for task in tasks]
        ended_by_cancel = [await cancelled(task) for task in tasks]
        await in_the_kernel(loop)
        return closed, still_waiting, ended_by_cancel, loop._ring.inflight - before

    try:
        assert run_checked(loop, main()) == (True, [True, True], [True, True], 0)
    finally:
        b.close()
