"""Fork with live traffic: a stream transport whose multishot recv (on the buffer-ring pool) is in flight, on a plain and on an SQPOLL loop.

The ring's queues are memory shared with the kernel and, after fork, with the
child; under SQPOLL a kernel thread of the parent reads the submission queue
by itself.  A child that queued anything there (even a cancel) would act on
the parent's ring.  Each test forks inside the running loop and checks:

- the child: its copy of the parent's loop is closed and forgets the parent's
  ops; it runs a loop of its own with a live stream transport of its own
  (multishot recv on its own pool), and reports through a pipe;
- the parent: its multishot recv was never re-armed (a cancel from the child
  would end it, and the transport would arm a new one), data sent while the
  child ran and after it exited arrives on it, writes still go out, and no
  completion arrives for a token the parent does not have in flight.
"""
import asyncio
import json
import os
import signal
import socket
import traceback

import pytest

import ringloop
from ringloop._ring import ring as ring_module


class Collect(asyncio.Protocol):
    def __init__(self, loop):
        self.loop = loop
        self.data = bytearray()
        self.grew = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.data += data
        if self.grew is not None and not self.grew.done():
            self.grew.set_result(None)

    async def until(self, size):
        while len(self.data) < size:
            self.grew = self.loop.create_future()
            await asyncio.wait_for(self.grew, 20)


class RingWatch:
    """Thin wrappers on a real Ring: multishot recvs queued, and completions for tokens not in flight."""

    def __init__(self, ring):
        self.multishot = 0
        self.stray = []
        recv_multishot, dispatch = ring.recv_multishot, ring.dispatch

        def counted(fd, handler):
            self.multishot += 1
            return recv_multishot(fd, handler)

        def checked(events, on_error):
            self.stray += [(token, res) for token, res, _ in events if token and token not in ring._inflight]
            return dispatch(events, on_error)

        ring.recv_multishot, ring.dispatch = counted, checked


async def _child_loop_works():
    """In the child: a loop of its own, with a stream transport on its own multishot recv."""
    loop = asyncio.get_running_loop()
    mine, peer = socket.socketpair()
    mine.setblocking(False)
    peer.setblocking(False)
    transport, proto = await loop.create_connection(lambda: Collect(loop), sock=mine)
    await loop.sock_sendall(peer, b"child traffic")
    await proto.until(13)
    transport.write(b"child reply")
    reply = await asyncio.wait_for(loop.sock_recv(peer, 100), 20)
    multishot = transport._recv_is_multishot
    transport.close()
    peer.close()
    await loop.ring_nop()
    return {"data": proto.data.decode(), "reply": reply.decode(), "multishot": multishot}


def _child(parent_loop, report_fd, sqpoll, abandoned_at_fork):
    """The forked child's whole life; exits 0 after writing its report, 1 on any failure."""
    code = 1
    signal.alarm(60)  # a child that hangs dies instead of outliving the test
    try:
        old_ring = parent_loop._ring
        report = {
            "running_loop_cleared": asyncio._get_running_loop() is None,
            "parent_loop_closed": parent_loop.is_closed(),
            "parent_ring_closed": old_ring.closed,
            # Forgotten, not cancelled: the close at fork had nothing to cancel or abandon.
            "parent_ops_abandoned": len(ring_module._abandoned) - abandoned_at_fork,
        }
        child_loop = ringloop.Loop(sqpoll=sqpoll)
        try:
            report["flags"] = child_loop.ring_setup_flags
            report.update(child_loop.run_until_complete(asyncio.wait_for(_child_loop_works(), 20)))
        finally:
            child_loop.close()
        os.write(report_fd, json.dumps(report).encode())
        code = 0
    except BaseException:
        os.write(report_fd, json.dumps({"error": traceback.format_exc()}).encode())
    finally:
        os._exit(code)


async def _read_to_eof(loop, fd):
    got = bytearray()
    buf = bytearray(65536)
    while True:
        n = await asyncio.wait_for(loop.ring_read(fd, buf), 30)
        if not n:
            return bytes(got)
        got += buf[:n]


@pytest.mark.parametrize("sqpoll", [False, True], ids=["plain", "sqpoll"])
def test_fork_with_a_live_multishot_stream(sqpoll):
    loop = ringloop.Loop(sqpoll=sqpoll)
    if sqpoll:
        assert "SQPOLL" in loop.ring_setup_flags
    watch = RingWatch(loop._ring)
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)

    async def main():
        transport, proto = await loop.create_connection(lambda: Collect(loop), sock=a)
        await loop.sock_sendall(b, b"before|")
        await proto.until(7)
        assert transport._recv_is_multishot and watch.multishot == 1  # live on the pool
        report_r, report_w = os.pipe()
        abandoned = len(ring_module._abandoned)
        pid = os.fork()
        if pid == 0:
            _child(loop, report_w, sqpoll, abandoned)
        os.close(report_w)
        try:
            await loop.sock_sendall(b, b"during|")  # while the child lives, for the parent's multishot recv
            await proto.until(14)
            report = json.loads(await _read_to_eof(loop, report_r))
        finally:
            os.close(report_r)
        exit_code = os.waitstatus_to_exitcode((await loop.run_in_executor(None, os.waitpid, pid, 0))[1])
        await loop.sock_sendall(b, b"after")
        await proto.until(19)
        transport.write(b"parent reply")
        reply = await asyncio.wait_for(loop.sock_recv(b, 100), 20)
        assert await loop.ring_nop() == 0
        multishot_still = transport._recv_is_multishot
        transport.close()
        await loop.ring_nop()
        return report, exit_code, bytes(proto.data), reply, multishot_still

    try:
        report, exit_code, data, reply, multishot_still = loop.run_until_complete(main())
    finally:
        loop.close()
        b.close()
    assert exit_code == 0, report.get("error")
    assert report["running_loop_cleared"] and report["parent_loop_closed"] and report["parent_ring_closed"]
    assert report["parent_ops_abandoned"] == 0
    assert ("SQPOLL" in report["flags"]) == sqpoll
    assert (report["data"], report["reply"], report["multishot"]) == ("child traffic", "child reply", True)
    # The parent: the same multishot recv served before, during and after the child.
    assert data == b"before|during|after" and reply == b"parent reply"
    assert multishot_still and watch.multishot == 1
    assert watch.stray == []  # nothing the child did reached the parent's completion queue
