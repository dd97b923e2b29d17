"""Ring.send_silent: a send that completes only when it did not go out whole, on the real kernel."""
import errno
import socket

import pytest
from helpers import fill_send_buffer

from ringloop._ring.options import RingOptions
from ringloop._ring.ring import Ring


@pytest.fixture
def ring():
    ring = Ring.open(RingOptions(entries=8))
    if not ring.silent_sends:
        ring.close()
        pytest.fail("this kernel has DEFER_TASKRUN (6.1+), where every ringloop ring offers silent sends")
    yield ring
    ring.close()


@pytest.fixture
def pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def drain(sock):
    got = bytearray()
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except BlockingIOError:
            return bytes(got)
        if not chunk:
            return bytes(got)
        got += chunk


def send_silently(ring, sock, data, failures):
    """One wait whose before-submit phase queues a silent send of ``data``; its completions, dispatched."""
    ring.before_submit(lambda: ring.send_silent(sock.fileno(), data, socket.MSG_NOSIGNAL,
                                                lambda res, flags: failures.append(res)))
    events = ring.wait(0)
    ring.dispatch(events, pytest.fail)
    return events


def test_a_send_that_goes_out_whole_posts_nothing(ring, pair):
    a, b = pair
    failures = []
    assert send_silently(ring, a, b"x" * 1000, failures) == []
    assert failures == [] and ring.inflight == 0
    assert drain(b) == b"x" * 1000
    assert ring.wait(0) == []  # nothing comes later either


def test_a_full_socket_reports_eagain(ring, pair):
    a, b = pair
    fill_send_buffer(a)
    failures = []
    events = send_silently(ring, a, b"x" * 1000, failures)
    assert len(events) == 1
    assert failures == [-errno.EAGAIN]


def test_a_short_send_reports_how_much_went_out(ring, pair):
    a, b = pair
    data = bytes(range(256)) * (64 * 1024)  # 16 MiB: more than the socket takes
    failures = []
    send_silently(ring, a, data, failures)
    assert len(failures) == 1 and 0 < failures[0] < len(data)
    assert drain(b) == data[: failures[0]]  # exactly the bytes it counted, and no more


def test_an_error_is_reported(ring, pair):
    a, b = pair
    b.close()
    failures = []
    send_silently(ring, a, b"x", failures)
    assert failures == [-errno.EPIPE]


def test_a_failure_comes_before_the_other_completions_of_its_harvest(ring, pair):
    a, b = pair
    fill_send_buffer(a)
    order = []
    ring.nop(lambda res, flags: order.append("nop"))  # queued, and completed, before the send
    ring.before_submit(lambda: ring.send_silent(a.fileno(), b"x", socket.MSG_NOSIGNAL,
                                                lambda res, flags: order.append(res)))
    events = ring.wait(0)
    while len(events) < 2:
        events += ring.wait(0)
    ring.dispatch(events, pytest.fail)
    assert order == [-errno.EAGAIN, "nop"]


def test_only_a_before_submit_callback_may_queue_one(ring, pair):
    a, b = pair
    with pytest.raises(RuntimeError, match="before_submit"):
        ring.send_silent(a.fileno(), b"x", 0, lambda res, flags: None)
    assert ring.wait(0) == []
    assert drain(b) == b""


def test_rings_without_defer_taskrun_have_none():
    ring = Ring.open(RingOptions(entries=8, single_issuer=False))
    try:
        assert not ring.silent_sends
    finally:
        ring.close()
