"""add_reader / add_writer / remove_* on ring polls."""
import asyncio
import os
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


def test_one_ring_poll_serves_every_watch(loop):
    """The watches share one poll on the epoll fd: adding and removing many leaves at most that one in flight."""
    before = loop._ring.inflight
    pairs = [socket.socketpair() for _ in range(20)]
    for r, _ in pairs:
        loop.add_reader(r, print)
    loop.run_until_complete(asyncio.sleep(0))
    assert loop._ring.inflight == before + 1
    for r, _ in pairs:
        assert loop.remove_reader(r)
    loop.run_until_complete(asyncio.sleep(0))
    assert loop._ring.inflight <= before + 1
    for r, w in pairs:
        r.close()
        w.close()


@pytest.mark.parametrize("make_loop", [asyncio.new_event_loop, ringloop.new_event_loop], ids=["stock", "ringloop"])
def test_fd_owned_by_a_transport_is_refused(make_loop):
    """add_reader/add_writer/remove_* of a transport's fd: RuntimeError (issue #18), as the stock loop; allowed once it closes."""
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

    loop = make_loop()
    try:
        refused = run_checked(loop, scenario(loop))
    finally:
        loop.close()
    assert refused == ["add_reader"] * 2 + ["add_writer"] * 2 + ["remove_reader", "remove_writer"]
