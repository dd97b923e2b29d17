"""Multishot recv on the provided buffer ring when the pool runs dry.

A plain Protocol's transport reads with one multishot recv whose buffers come
from the loop's shared pool (``Ring.buffer_ring``).  When the kernel
finds the pool empty it ends the recv with -ENOBUFS; the transport re-arms,
and the buffers it took come back before the next submit.  These tests make
the pool run dry and check, by SHA-256 over multi-megabyte transfers, that no
byte is lost, duplicated or reordered.  A pass-through spy on the ring's
dispatch counts the -ENOBUFS completions, so each test also proves that the
path it is about was taken.
"""
import asyncio
import errno
import hashlib
import random
import socket
import threading

import pytest

import ringloop
from ringloop._net.stream import POOL_BUFFER_SIZE, POOL_BUFFERS
from checking_protocols import Receiver
from helpers import run_checked


def _count_enobufs(loop):
    """Wrap the ring's dispatch (passing every event through) to count -ENOBUFS completions."""
    ring = loop._ring
    counts = {"enobufs": 0}
    dispatch = ring.dispatch

    def spy(events, on_error):
        for _token, res, _flags in events:
            if res == -errno.ENOBUFS:
                counts["enobufs"] += 1
        return dispatch(events, on_error)

    ring.dispatch = spy
    return counts


async def _serve_and_send(loop, payloads, protocol_factory, *, block_loop_while_filling=False):
    """Serve on loopback; a thread connects once per payload and sends it, then SHUT_WR.

    With ``block_loop_while_filling`` the loop thread is held (on an event) while
    the sender fills every connection's socket buffers without blocking, so that
    on release the kernel finds far more data than the pool can hold at once.
    """
    protocols = []
    all_made = loop.create_future()

    def factory():
        proto = protocol_factory()
        protocols.append(proto)
        if len(protocols) == len(payloads):
            proto.made.add_done_callback(lambda _f: all_made.done() or all_made.set_result(None))
        return proto

    server = await loop.create_server(factory, "127.0.0.1", 0, backlog=len(payloads) + 8)
    port = server.sockets[0].getsockname()[1]
    connected = threading.Event()
    loop_held = threading.Event()
    filled = threading.Event()
    failure = []

    def sender():
        socks = []
        try:
            socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in payloads]
            connected.set()
            sent = [0] * len(payloads)
            if block_loop_while_filling:
                assert loop_held.wait(30)
                for index, sock in enumerate(socks):
                    sock.setblocking(False)
                    view = memoryview(payloads[index])
                    try:
                        while sent[index] < len(view):
                            sent[index] += sock.send(view[sent[index]:])
                    except BlockingIOError:
                        pass
                    sock.settimeout(30)
                filled.set()
            for index, sock in enumerate(socks):
                sock.sendall(memoryview(payloads[index])[sent[index]:])
                sock.shutdown(socket.SHUT_WR)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failure.append(exc)
            filled.set()
        finally:
            for sock in socks:
                sock.close()

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        await all_made
        if block_loop_while_filling:
            def hold():
                loop_held.set()
                assert filled.wait(30)

            loop.call_soon(hold)
        await asyncio.gather(*(proto.eof for proto in protocols))
    finally:
        loop_held.set()
        await asyncio.to_thread(thread.join, 30)
        for proto in protocols:
            proto.transport.close()
        server.close()
        await server.wait_closed()
    assert not failure, failure
    return protocols


def _check(protocols, payloads):
    assert [proto.violations for proto in protocols] == [0] * len(protocols)  # nothing delivered while paused
    got = sorted((proto.size, proto.sha.digest()) for proto in protocols)
    want = sorted((len(p), hashlib.sha256(p).digest()) for p in payloads)
    assert got == want


@pytest.fixture
def tiny_pool_loop():
    """A loop whose buffer ring has 2 buffers of 64 bytes (created before any transport)."""
    loop = ringloop.new_event_loop()
    pool = loop._ring.buffer_ring(count=2, size=64)
    if pool is None:
        loop.close()
        pytest.skip("this kernel offers no provided buffer ring / multishot recv")
    yield loop
    loop.close()


def test_tiny_pool_runs_dry_without_losing_bytes(tiny_pool_loop):
    loop = tiny_pool_loop
    counts = _count_enobufs(loop)
    payload = random.Random(3).randbytes(4 << 20)  # 4 MiB through 64-byte buffers
    protocols = run_checked(loop, _serve_and_send(loop, [payload], lambda: Receiver(loop)), timeout=60)
    _check(protocols, [payload])
    assert protocols[0].largest <= 64, "the bytes did not come through the tiny pool"
    assert counts["enobufs"] > 0, "the pool never ran dry: the ENOBUFS path was not exercised"


def test_tiny_pool_several_connections_with_pause_resume(tiny_pool_loop):
    """ENOBUFS re-arms interleaved with pause_reading's cancel and held completions."""
    loop = tiny_pool_loop
    counts = _count_enobufs(loop)
    payloads = [random.Random(seed).randbytes(256 << 10) for seed in range(4)]
    protocols = run_checked(loop, _serve_and_send(loop, payloads, lambda: Receiver(loop, pause_every=7)), timeout=60)
    _check(protocols, payloads)
    assert counts["enobufs"] > 0


def transports_pool(loop):
    """The loop's pool as its stream transports make it (128 x 128 KiB), or None where the kernel has none."""
    return loop._ring.buffer_ring(POOL_BUFFERS, POOL_BUFFER_SIZE)


def test_transports_pool_exhausted_by_many_connections(loop):
    """The transports' pool (16 MiB) drained by 16 connections holding 4 MiB each."""
    if transports_pool(loop) is None:
        pytest.skip("this kernel offers no provided buffer ring / multishot recv")
    counts = _count_enobufs(loop)
    payloads = [random.Random(seed).randbytes(4 << 20) for seed in range(16)]
    protocols = run_checked(
        loop, _serve_and_send(loop, payloads, lambda: Receiver(loop), block_loop_while_filling=True), timeout=60
    )
    _check(protocols, payloads)
    assert counts["enobufs"] > 0, "64 MiB waiting did not exhaust the 16 MiB pool"


class Collect(asyncio.Protocol):
    def __init__(self, loop, want):
        self.data = bytearray()
        self.want = want
        self.done = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.data += data
        if len(self.data) >= self.want and not self.done.done():
            self.done.set_result(None)


def test_multishot_recv_ended_by_the_kernel_with_data_rearms(loop, tmp_path):
    """More completions at once than the completion queue holds.

    When the kernel cannot post a multishot recv's completion (CQ full), it ends
    the recv with a final completion that still carries data (no
    IORING_CQE_F_MORE).  The transport must deliver those bytes and read on.
    """
    import resource

    if transports_pool(loop) is None:
        pytest.skip("this kernel offers no provided buffer ring / multishot recv")
    count = loop._ring.cq_entries + 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * count + 256:
        pytest.skip(f"RLIMIT_NOFILE {soft} too low for {count} socket pairs")

    async def main():
        pairs = [socket.socketpair() for _ in range(count)]
        protocols = []
        try:
            for ours, _theirs in pairs:
                proto = Collect(loop, 2)
                protocols.append(proto)
                await loop.connect_accepted_socket(lambda proto=proto: proto, ours)
            await loop.ring_nop()  # every multishot recv has reached the kernel
            await loop.ring_nop()
            # One byte to every connection, sent by ring ops queued in the same
            # iteration: one submit makes a send completion and a recv
            # completion per connection, more than the CQ has room for.
            for _ours, theirs in pairs:
                theirs.setblocking(False)
            await asyncio.gather(*(loop.sock_sendall(theirs, b"1") for _ours, theirs in pairs))
            await asyncio.gather(*(loop.sock_sendall(theirs, b"2") for _ours, theirs in pairs))
            await asyncio.wait([p.done for p in protocols], timeout=10)
            stuck = [bytes(p.data) for p in protocols if bytes(p.data) != b"12"]
            assert not stuck, f"{len(stuck)} of {count} connections stopped reading, e.g. at {stuck[0]!r}"
        finally:
            for proto in protocols:
                proto.transport.close()
            for _ours, theirs in pairs:
                theirs.close()

    run_checked(loop, main(), timeout=60)
