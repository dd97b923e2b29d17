"""The ring layer: the C calls through the Ring wrapper, without the loop."""
import errno
import os
import time

import pytest

from ringloop._ring.errors import RingClosedError
from ringloop._ring.options import RingOptions
from ringloop._ring.ring import Ring


class Completions:
    """Handler that records (tag, res, flags) per completion."""

    def __init__(self):
        self.seen = []

    def handler(self, tag):
        return lambda res, flags: self.seen.append((tag, res, flags))


def open_ring(entries, **options):
    return Ring.open(RingOptions(entries=entries, **options))


def raise_error(exc):
    raise exc


def run_until(ring, predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        remaining = deadline - time.monotonic()
        assert remaining > 0, "completion did not arrive"
        ring.dispatch(ring.wait(remaining), raise_error)


@pytest.fixture
def ring():
    ring = open_ring(8)
    yield ring
    ring.close()


def test_nop_completes_with_zero(ring):
    done = Completions()
    ring.nop(done.handler("nop"))
    run_until(ring, lambda: done.seen)
    assert done.seen == [("nop", 0, 0)]
    assert ring.inflight == 0


def test_timeout_fires_with_etime_and_not_early(ring):
    done = Completions()
    start = time.monotonic()
    ring.timeout(0.05, done.handler("t"))
    run_until(ring, lambda: done.seen)
    assert time.monotonic() - start >= 0.05
    assert done.seen[0][1] == -errno.ETIME


def test_pipe_write_then_read(ring, pipe):
    r, w = pipe
    done = Completions()
    buf = bytearray(16)
    ring.read(r, buf, -1, done.handler("read"))
    ring.write(w, b"through the ring", -1, done.handler("write"))
    run_until(ring, lambda: len(done.seen) == 2)
    assert sorted(done.seen) == [("read", 16, 0), ("write", 16, 0)]
    assert bytes(buf) == b"through the ring"


def test_written_bytes_are_passed_in_place_and_kept_alive_by_the_ring(ring, pipe):
    # A bytes argument reaches C as a pointer into the object, not a copy:
    # the ring's reference alone must keep those bytes valid until submit.
    r, w = pipe
    done = Completions()
    ring.write(w, bytes(range(7, 71)), -1, done.handler("write"))
    scratch = [bytes(64) for _ in range(1000)]  # reuse any memory freed too early
    run_until(ring, lambda: done.seen)
    assert done.seen == [("write", 64, 0)]
    assert os.read(r, 64) == bytes(range(7, 71))
    del scratch


def test_read_waits_for_data(ring, pipe):
    r, w = pipe
    done = Completions()
    buf = bytearray(4)
    ring.read(r, buf, -1, done.handler("read"))
    assert ring.wait(0.02) == []
    os.write(w, b"late")
    run_until(ring, lambda: done.seen)
    assert done.seen == [("read", 4, 0)] and buf == b"late"


def test_cancel_in_flight_read_keeps_buffer_pinned_until_completion(ring, pipe):
    r, _ = pipe
    done = Completions()
    buf = bytearray(8)
    token = ring.read(r, buf, -1, done.handler("read"))
    ring.dispatch(ring.wait(0), raise_error)  # submitted and pending in the kernel
    assert ring.cancel(token)
    # Until the kernel confirms, the buffer is exported to cffi: it cannot move.
    with pytest.raises(BufferError):
        buf.extend(b"x")
    run_until(ring, lambda: done.seen)
    assert done.seen == [("read", -errno.ECANCELED, 0)]
    buf.extend(b"x")  # released with the final completion
    assert not ring.cancel(token)


def test_cancel_before_submission_means_the_op_never_happens(ring, pipe):
    r, w = pipe
    os.write(w, b"stays")
    done = Completions()
    buf = bytearray(8)
    token = ring.read(r, buf, -1, done.handler("read"))
    assert ring.cancel(token)  # still in the SQ: it becomes a no-op
    run_until(ring, lambda: done.seen)
    assert done.seen == [("read", -errno.ECANCELED, 0)]
    assert buf == bytearray(8)
    assert os.read(r, 8) == b"stays"


def test_many_ops_in_one_submit_beyond_sq_size(ring):
    done = Completions()
    for i in range(1000):  # SQ holds 8: the prep path submits when full
        ring.nop(done.handler(i))
    run_until(ring, lambda: len(done.seen) == 1000)
    assert sorted(tag for tag, _, _ in done.seen) == list(range(1000))


def test_more_completions_than_cq_and_harvest_array_are_not_lost(ring):
    done = Completions()
    assert ring.cq_entries == 16
    for i in range(300):
        ring.nop(done.handler(i))
    events = ring.wait(0)
    # The kernel kept the overflow in its backlog, and one wait drained it
    # through a 16-slot array.
    assert len(events) == 300
    ring.dispatch(events, raise_error)
    assert sorted(tag for tag, _, _ in done.seen) == list(range(300))


def test_handler_error_is_reported_and_dispatch_goes_on(ring):
    done = Completions()
    errors = []

    def boom(res, flags):
        raise ValueError("handler failed")

    ring.nop(boom)
    ring.nop(done.handler("after"))
    events = ring.wait(None)
    while len(events) < 2:
        events += ring.wait(None)
    ring.dispatch(events, errors.append)
    assert [str(e) for e in errors] == ["handler failed"]
    assert done.seen == [("after", 0, 0)]


def test_interrupt_in_a_handler_keeps_later_completions(ring):
    done = Completions()

    def interrupted(res, flags):
        raise KeyboardInterrupt

    ring.nop(interrupted)
    ring.nop(done.handler("after"))
    events = ring.wait(None)
    while len(events) < 2:
        events += ring.wait(None)
    with pytest.raises(KeyboardInterrupt):
        ring.dispatch(events, raise_error)
    ring.dispatch(ring.wait(0), raise_error)
    assert done.seen == [("after", 0, 0)]


def test_use_after_close_raises(pipe):
    ring = open_ring(8)
    ring.close()
    ring.close()  # idempotent
    assert ring.closed
    with pytest.raises(RingClosedError):
        ring.nop(lambda res, flags: None)
    with pytest.raises(RingClosedError):
        ring.read(pipe[0], bytearray(1), -1, lambda res, flags: None)
    with pytest.raises(RingClosedError):
        ring.send(pipe[1], b"x", 0, lambda res, flags: None)
    with pytest.raises(RingClosedError):
        ring.wait(0)
    with pytest.raises(RingClosedError):
        _ = ring.fd


def test_close_cancels_pending_reads_and_releases_buffers(pipe):
    ring = open_ring(64)
    buffers = [bytearray(8) for _ in range(100)]
    for buf in buffers:
        ring.read(pipe[0], buf, -1, lambda res, flags: None)
    ring.wait(0)
    ring.close()
    assert ring.inflight == 0
    for buf in buffers:
        buf.extend(b"x")  # no longer exported: the kernel confirmed every cancel


def test_sqpoll_ring_runs_ops():
    ring = open_ring(8, sqpoll=True, sq_cpu=0, sq_idle_ms=10)
    try:
        assert "SQPOLL" in ring.setup_flags and "SQ_AFF" in ring.setup_flags
        done = Completions()
        for i in range(50):
            ring.nop(done.handler(i))
        run_until(ring, lambda: len(done.seen) == 50)
        shared = open_ring(8, sqpoll=True, attach_fd=ring.fd)
        try:
            assert "ATTACH_WQ" in shared.setup_flags
            shared.nop(done.handler("shared"))
            run_until(shared, lambda: len(done.seen) == 51)
        finally:
            shared.close()
    finally:
        ring.close()


def test_open_failure_is_a_runtime_error_with_the_oserror_as_cause(pipe):
    with pytest.raises(RuntimeError, match="ringloop cannot use io_uring: .*rejected") as info:
        open_ring(8, sqpoll=True, attach_fd=pipe[0])  # not a ring
    assert isinstance(info.value.__cause__, OSError)


def sockaddr_in(host, port):
    import socket
    import struct

    return struct.pack("=HH4s8x", socket.AF_INET, socket.htons(port), socket.inet_aton(host))


def test_socket_ops_accept_connect_send_recv_shutdown_close(ring):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.socket()
    done = Completions()
    try:
        ring.accept(listener.fileno(), socket.SOCK_CLOEXEC, done.handler("accept"), multishot=True)
        ring.connect(client.fileno(), sockaddr_in(*listener.getsockname()), done.handler("connect"))
        run_until(ring, lambda: len(done.seen) == 2)
        results = dict((tag, res) for tag, res, _ in done.seen)
        assert results["connect"] == 0
        server_fd = results["accept"]
        assert server_fd >= 0
        ring.send(client.fileno(), b"ping", 0, done.handler("send"))
        buf = bytearray(4)
        ring.recv(server_fd, buf, 0, done.handler("recv"))
        run_until(ring, lambda: len(done.seen) == 4)
        assert buf == b"ping"
        ring.sendmsg(server_fd, [b"po", memoryview(b"ng!")], None, 0, done.handler("sendmsg"))
        ring.shutdown(server_fd, socket.SHUT_WR, done.handler("shutdown"))
        run_until(ring, lambda: len(done.seen) == 6)
        assert client.recv(16) == b"pong!" and client.recv(16) == b""
        ring.close_fd(server_fd, done.handler("close"))
        run_until(ring, lambda: len(done.seen) == 7)
        assert [res for tag, res, _ in done.seen[4:]] == [5, 0, 0]
    finally:
        client.close()
        listener.close()


def test_datagram_recvmsg_reports_the_sender(ring):
    import socket

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind(("127.0.0.1", 0))
        tx.bind(("127.0.0.1", 0))
        done = Completions()
        buf, name = bytearray(32), bytearray(128)
        _, msg = ring.recvmsg(rx.fileno(), buf, name, 0, done.handler("recvmsg"))
        ring.sendmsg(tx.fileno(), [b"data", b"gram"], sockaddr_in(*rx.getsockname()), 0, done.handler("sendmsg"))
        run_until(ring, lambda: len(done.seen) == 2)
        assert dict((t, r) for t, r, _ in done.seen) == {"recvmsg": 8, "sendmsg": 8}
        assert buf[:8] == b"datagram"
        assert bytes(name[: msg.msg_namelen]) == sockaddr_in(*tx.getsockname())
    finally:
        rx.close()
        tx.close()


def test_writev_and_splice(ring, pipe):
    r, w = pipe
    done = Completions()
    ring.writev(w, [b"ab", bytearray(b"cd"), memoryview(b"ef")], -1, done.handler("writev"))
    run_until(ring, lambda: done.seen)
    assert done.seen[0][1] == 6
    r2, w2 = os.pipe()
    try:
        ring.splice(r, -1, w2, -1, 6, done.handler("splice"))
        run_until(ring, lambda: len(done.seen) == 2)
        assert done.seen[1][1] == 6 and os.read(r2, 16) == b"abcdef"
    finally:
        os.close(r2)
        os.close(w2)


def test_receive_buffers_start_on_a_page_boundary(ring):
    # The kernel copies into a destination that is not cache-line aligned at
    # well under half the speed; a large bytearray's data is 16 bytes off.
    import mmap

    from ringloop._ring._ffi import ffi
    from ringloop._ring.memory import page_aligned

    def address(buf):
        return int(ffi.cast("uintptr_t", ffi.from_buffer(buf)))

    buffers = ring.buffer_ring(16, 64 * 1024)
    if buffers is None:
        pytest.skip("this kernel has no provided buffer rings")
    assert address(buffers._pool) % mmap.PAGESIZE == 0
    assert address(page_aligned(256 * 1024)) % mmap.PAGESIZE == 0
    assert bytes(page_aligned(16)) == bytes(16)
