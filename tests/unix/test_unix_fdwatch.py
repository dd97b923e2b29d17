"""add_reader / add_writer / remove_* on ring polls."""
import asyncio
import os
import select
import socket

import pytest
from helpers import run_checked

import ringloop


def run_until(loop, predicate, limit=10.0):
    """Run the loop until ``predicate()``; fails after ``limit`` seconds (a watchdog, not a sync)."""
    async def wait():
        while not predicate():
            await asyncio.sleep(0)
    loop.run_until_complete(asyncio.wait_for(wait(), limit))


def test_reader_is_level_triggered(loop):
    r, w = socket.socketpair()
    r.setblocking(False)
    got = []

    def reader():
        got.append(r.recv(1))  # one byte per call: the rest must bring us back

    loop.add_reader(r, reader)
    w.send(b"abcde")
    run_until(loop, lambda: len(got) == 5)
    assert b"".join(got) == b"abcde"
    assert loop.remove_reader(r)
    assert not loop.remove_reader(r)
    r.close()
    w.close()


def test_reader_not_called_without_data(loop):
    r, w = socket.socketpair()
    calls = []
    loop.add_reader(r.fileno(), calls.append, 1)
    loop.run_until_complete(asyncio.sleep(0.05))
    assert calls == []
    w.send(b"x")
    run_until(loop, lambda: calls)
    loop.remove_reader(r.fileno())
    r.close()
    w.close()


def test_blocking_mode_untouched(loop):
    r, w = os.pipe()
    os.set_blocking(r, True)
    fired = []
    loop.add_reader(r, lambda: fired.append(os.read(r, 10)))
    os.write(w, b"hi")
    run_until(loop, lambda: fired)
    assert fired == [b"hi"]
    assert os.get_blocking(r)
    loop.remove_reader(r)
    os.close(r)
    os.close(w)


def test_remove_reader_inside_callback_stops_calls(loop):
    r, w = socket.socketpair()
    calls = []

    def reader():
        calls.append(1)
        loop.remove_reader(r)  # data stays unread: a stale re-arm would call us again

    loop.add_reader(r, reader)
    w.send(b"data")
    run_until(loop, lambda: calls)
    loop.run_until_complete(asyncio.sleep(0.05))
    assert calls == [1]
    r.close()
    w.close()


def test_add_reader_again_replaces_callback(loop):
    r, w = socket.socketpair()
    r.setblocking(False)
    first, second = [], []
    loop.add_reader(r, lambda: first.append(r.recv(10)))
    loop.add_reader(r, lambda: second.append(r.recv(10)))
    w.send(b"x")
    run_until(loop, lambda: second)
    assert first == [] and second == [b"x"]
    loop.remove_reader(r)
    r.close()
    w.close()


def test_writer_called_when_writable_and_removal(loop):
    r, w = socket.socketpair()
    calls = []

    def writer():
        calls.append(w.send(b"x"))
        if len(calls) == 3:
            loop.remove_writer(w)

    loop.add_writer(w, writer)
    run_until(loop, lambda: len(calls) == 3)
    loop.run_until_complete(asyncio.sleep(0.02))
    assert calls == [1, 1, 1]
    assert r.recv(10) == b"xxx"
    r.close()
    w.close()


def test_reader_and_writer_on_same_fd(loop):
    a, b = socket.socketpair()
    a.setblocking(False)
    seen = set()
    loop.add_reader(a, seen.add, "r")
    loop.add_writer(a, seen.add, "w")
    b.send(b"x")
    run_until(loop, lambda: seen == {"r", "w"})
    assert loop.remove_reader(a) and loop.remove_writer(a)
    a.close()
    b.close()


def test_callback_exception_goes_to_handler_and_reader_stays(loop):
    r, w = socket.socketpair()
    r.setblocking(False)
    errors, reads = [], []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx["exception"]))

    def reader():
        reads.append(r.recv(1))
        raise ZeroDivisionError

    loop.add_reader(r, reader)
    w.send(b"ab")
    run_until(loop, lambda: len(reads) == 2)
    assert all(isinstance(e, ZeroDivisionError) for e in errors) and len(errors) == 2
    loop.remove_reader(r)
    r.close()
    w.close()


def test_bad_fds_rejected(loop):
    with pytest.raises(ValueError):
        loop.add_reader(-1, print)
    with pytest.raises(ValueError):
        loop.add_writer(object(), print)
    with pytest.raises(ValueError):
        loop.remove_reader("nope")


def test_closed_loop():
    loop = ringloop.new_event_loop()
    r, w = socket.socketpair()
    loop.add_reader(r, print)
    loop.add_writer(w, print)
    loop.close()
    assert not loop.remove_reader(r)
    assert not loop.remove_writer(w)
    with pytest.raises(RuntimeError):
        loop.add_reader(r, print)
    r.close()
    w.close()


def test_remove_cancels_the_poll(loop):
    r, w = socket.socketpair()
    loop.add_reader(r, print)
    loop.run_until_complete(asyncio.sleep(0))
    armed = loop._ring.inflight
    loop.remove_reader(r)
    run_until(loop, lambda: loop._ring.inflight == armed - 1)
    r.close()
    w.close()


# -- a watched fd closed by the program (issue #11: behaviours that differ from the stock loop) --------

def socket_pair(kind):
    """Two connected non-blocking sockets: "tcp", "unix" (stream) or "dgram" (Unix datagram)."""
    if kind == "tcp":
        with socket.create_server(("127.0.0.1", 0)) as listener:
            a = socket.create_connection(listener.getsockname())
            b, _ = listener.accept()
    elif kind == "unix":
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.setblocking(False)
    b.setblocking(False)
    return a, b


KINDS = ["tcp", "unix", "dgram"]


def on_stock_and_ringloop(scenario):
    """``scenario(loop)``'s result on asyncio's own loop and on ringloop, each run with run_checked."""
    results = []
    for make in (asyncio.new_event_loop, ringloop.new_event_loop):
        loop = make()
        try:
            results.append(run_checked(loop, scenario(loop)))
        finally:
            loop.close()
    return results


def outcome(call, *args):
    """``call(*args)``'s result, or the name of the exception it raised."""
    try:
        return call(*args)
    except Exception as exc:
        return type(exc).__name__


def peer_sees_eof(peer, timeout=10.0):
    """Whether ``peer`` (a stream socket) reads end of file within ``timeout`` seconds."""
    readable, _, _ = select.select([peer], [], [], timeout)
    return bool(readable) and peer.recv(1) == b""


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("direction", ["reader", "writer"])
def test_remove_with_a_closed_socket_object_finds_the_watch(kind, direction):
    """remove_reader(sock) after sock.close() finds the watch by the object, removes it, returns True."""
    async def scenario(loop):
        a, b = socket_pair(kind)
        add, remove = getattr(loop, f"add_{direction}"), getattr(loop, f"remove_{direction}")
        add(a, print)
        await asyncio.sleep(0)
        a.close()
        removed = remove(a)
        b.close()
        # Unregistered, a closed object can no longer be looked up: ValueError.
        return removed, outcome(remove, a)

    assert on_stock_and_ringloop(scenario) == [(True, "ValueError")] * 2


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_peer_sees_eof_when_a_watched_socket_is_closed(kind):
    """Closing a socket with a reader on it closes it in the kernel at once: the peer reads EOF."""
    async def scenario(loop):
        a, b = socket_pair(kind)
        loop.add_reader(a, print)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        a.close()  # no remove_reader: the watch must not keep the socket open
        eof = await asyncio.to_thread(peer_sees_eof, b)
        removed = outcome(loop.remove_reader, a)
        b.close()
        return eof, removed

    assert on_stock_and_ringloop(scenario) == [(True, True)] * 2


@pytest.mark.parametrize("kind", KINDS)
def test_waiter_woken_by_the_closer_unregisters_and_gets_the_ordinary_error(kind):
    """A library's wait (add_reader + future) that the closing task wakes, as anyio 3 does.

    The waiter's done callback calls remove_reader(sock) after the close, and
    its retried recv raises the ordinary OSError (EBADF), on both loops.
    """
    async def scenario(loop):
        a, b = socket_pair(kind)
        waiting = loop.create_future()

        def stop_watching(_fut):
            loop.remove_reader(a)  # a is closed by now: found by the object

        async def receive():
            while True:
                try:
                    return a.recv(10)
                except BlockingIOError:
                    pass
                fut = loop.create_future()
                fut.add_done_callback(stop_watching)
                loop.add_reader(a, fut.set_result, None)
                waiting.set_result(fut)
                await fut

        async def close():
            fut = await waiting
            fut.set_result(None)
            a.close()

        results = await asyncio.gather(receive(), close(), return_exceptions=True)
        b.close()
        return [type(item).__name__ if isinstance(item, BaseException) else item for item in results]

    assert on_stock_and_ringloop(scenario) == [["OSError", None]] * 2


@pytest.mark.parametrize("kind", KINDS)
def test_cancel_then_close_in_a_task_group(kind):
    """A wait is cancelled and the socket closed in the same step: no ExceptionGroup, nothing left registered."""
    async def scenario(loop):
        a, b = socket_pair(kind)

        async def wait_readable():
            fut = loop.create_future()
            loop.add_reader(a, fut.set_result, None)
            try:
                await fut
            finally:
                loop.remove_reader(a)  # runs after the close below

        async with asyncio.TaskGroup() as group:
            task = group.create_task(wait_readable())
            await asyncio.sleep(0)
            task.cancel()
            a.close()
        b.close()
        return task.cancelled(), outcome(loop.remove_reader, a)

    assert on_stock_and_ringloop(scenario) == [(True, "ValueError")] * 2


def test_a_closed_watch_never_follows_its_fd_number():
    """A reader left on a closed socket never runs, not even when a new socket gets the same fd number.

    The old socket's peer writes after the close (which could complete a poll
    holding the old file), and the new socket is readable too.  A watch on a
    third, always-readable socket runs meanwhile: each of its calls is a
    round of readiness, so three of them show the stale watch had its chances.
    """
    async def scenario(loop):
        a, b = socket_pair("unix")
        control, control_peer = socket_pair("unix")
        stale, rounds = [], []
        loop.add_reader(a, stale.append, "old socket")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        number = a.fileno()
        a.close()
        try:
            b.send(b"x")  # the old file becomes readable, if anything still holds it open
        except BrokenPipeError:
            pass  # nothing does: the close reached the kernel
        c, d = socket_pair("unix")
        assert number in (c.fileno(), d.fileno())
        d.send(b"y")
        c.send(b"y")
        control_peer.send(b"z")
        done = loop.create_future()

        def count_round():
            rounds.append(1)
            if len(rounds) == 3:
                loop.remove_reader(control)
                done.set_result(None)

        loop.add_reader(control, count_round)
        await done
        stale_calls = list(stale)
        # Unregistered through the closed object, the number is free for the new socket.
        removed = outcome(loop.remove_reader, a)
        fresh = loop.create_future()
        reused = c if c.fileno() == number else d
        loop.add_reader(reused, fresh.set_result, "new socket")
        got = await fresh
        loop.remove_reader(reused)
        for sock in (b, c, d, control, control_peer):
            sock.close()
        return stale_calls, removed, got

    assert on_stock_and_ringloop(scenario) == [([], True, "new socket")] * 2


def test_fd_owned_by_a_transport_is_refused():
    """add_reader/add_writer/remove_* of a transport's fd: RuntimeError, as the stock loop; allowed once it closes."""
    async def scenario(loop):
        rsock, wsock = socket.socketpair()
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=rsock)
        refused = []
        for method in (loop.add_reader, loop.add_writer):
            for target in (rsock, rsock.fileno()):
                with pytest.raises(RuntimeError, match=r"File descriptor .* is used by transport"):
                    method(target, print)
                refused.append(method.__name__)
        for method in (loop.remove_reader, loop.remove_writer):
            with pytest.raises(RuntimeError, match=r"File descriptor .* is used by transport"):
                method(rsock)
            refused.append(method.__name__)
        fd = rsock.fileno()
        transport.close()  # closing: the fd is no longer the transport's to guard
        assert not loop.remove_reader(fd)
        await asyncio.sleep(0)
        wsock.close()
        return refused

    stock, ours = on_stock_and_ringloop(scenario)
    assert stock == ours == ["add_reader"] * 2 + ["add_writer"] * 2 + ["remove_reader", "remove_writer"]
