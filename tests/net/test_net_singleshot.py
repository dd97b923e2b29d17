"""The stream transport's single-shot recv path, run here although this kernel has multishot recv.

A plain Protocol's transport reads with one multishot recv on the loop's
provided-buffer pool; where the kernel refuses multishot recv (-EINVAL) it
sets ``Ring.no_multishot_recv`` and every transport reads with one single-shot
recv at a time into its own buffer.  On this kernel that path never runs by
itself.  Here:

- the ``loop`` fixture of this module is a loop whose ring has
  ``no_multishot_recv`` set before any connection is made, and every test of
  tests/net/test_net_transport.py runs again on it (imported below, unchanged);
  the fixture fails a test in which a multishot recv was queued anyway;
- the switch itself: the first multishot recv is answered -EINVAL (a no-op
  completion through the real ring), and the transport goes on single-shot.
"""
import asyncio
import errno
import os
import socket

import pytest
import test_net_transport
from checking_protocols import Receiver
from helpers import run_checked
from injection import round_trips_until

import ringloop

# Every test of test_net_transport.py, collected again here: they take the
# ``loop`` fixture, which this module overrides with a single-shot loop.
for _name in dir(test_net_transport):
    if _name.startswith("test_"):
        globals()[_name] = getattr(test_net_transport, _name)


class RecvCounts:
    """Counts the recv and recv_multishot ops queued on a real Ring (thin wrappers on the instance)."""

    def __init__(self, ring):
        self.ring = ring
        self.counts = {"recv": 0, "recv_multishot": 0}
        for name in self.counts:
            self._wrap(name)

    def _wrap(self, name):
        real = getattr(self.ring, name)

        def op(*args, **kwargs):
            self.counts[name] += 1
            return real(*args, **kwargs)

        setattr(self.ring, name, op)


@pytest.fixture
def loop():
    """A loop whose ring refuses multishot recv, as a kernel without it would; no multishot recv may be queued."""
    loop = ringloop.new_event_loop()
    loop._ring.no_multishot_recv = True
    counts = RecvCounts(loop._ring)
    loop.recv_counts = counts.counts
    yield loop
    loop.close()
    assert counts.counts["recv_multishot"] == 0, "a multishot recv was queued on a single-shot loop"


def test_this_modules_tests_get_the_single_shot_loop(loop):
    assert loop._ring.no_multishot_recv is True and "recv_multishot" in vars(loop._ring)


async def _receive(loop, payload, pause_every=0):
    """Serve one connection; a thread sends ``payload`` and shuts down writing.  The protocol and transport."""
    proto = Receiver(loop, pause_every, resume_after=3)  # paused across completions
    server = await loop.create_server(lambda: proto, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    def send():
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            sock.recv(1)  # until the server closes

    sending = asyncio.ensure_future(asyncio.to_thread(send))
    transport = await proto.made
    await asyncio.wait_for(proto.eof, 30)
    transport.close()
    await asyncio.wait_for(sending, 30)
    server.close()
    await server.wait_closed()
    return proto, transport


@pytest.mark.parametrize("pause_every", [0, 3], ids=["straight", "pause-resume"])
def test_single_shot_recv_moves_megabytes_intact(loop, pause_every):
    payload = os.urandom(6 << 20)

    async def main():
        proto, transport = await _receive(loop, payload, pause_every)
        assert proto.got(payload)
        assert proto.violations == 0
        assert transport._recv_is_multishot is False and transport._own_buffer is not None
        # One single-shot recv per chunk, at most max_size each.
        assert loop.recv_counts["recv"] >= len(payload) // transport.max_size

    run_checked(loop, main())


class MultishotRefused:
    """The loop's Ring answering the first ``times`` multishot recvs with -EINVAL, as a kernel without it does."""

    def __init__(self, ring, times=1):
        self.ring, self.left, self.refused, self.queued = ring, times, 0, 0
        real = ring.recv_multishot

        def recv_multishot(fd, handler):
            if self.left > 0:
                self.left -= 1
                self.refused += 1
                return ring.nop(lambda res, flags: handler(res if res < 0 else -errno.EINVAL, 0))
            self.queued += 1
            return real(fd, handler)

        ring.recv_multishot = recv_multishot


def test_refused_multishot_recv_switches_the_loop_to_single_shot():
    loop = ringloop.new_event_loop()
    ring = loop._ring
    assert ring.no_multishot_recv is False
    refused = MultishotRefused(ring)
    counts = RecvCounts(ring)
    payload = os.urandom(2 << 20)

    async def main():
        proto, transport = await _receive(loop, payload)
        assert refused.refused == 1 and refused.queued == 0
        assert ring.no_multishot_recv is True  # set by the refusal, for the whole loop
        assert transport._recv_is_multishot is False
        assert proto.got(payload)
        single_shot_recvs = counts.counts["recv"]
        assert single_shot_recvs >= 2
        # A later connection goes single-shot from the start: no multishot recv at all.
        proto2, transport2 = await _receive(loop, payload[:100_000])
        assert proto2.got(payload[:100_000])
        assert transport2._recv_is_multishot is False
        assert counts.counts["recv_multishot"] == 1 and refused.queued == 0
        assert counts.counts["recv"] > single_shot_recvs

    try:
        run_checked(loop, main())
    finally:
        loop.close()


def test_refusal_while_another_connection_has_a_live_multishot_recv():
    """The connection whose multishot recv works keeps it; once paused and resumed it reads single-shot."""
    loop = ringloop.new_event_loop()
    ring = loop._ring
    refused = MultishotRefused(ring, times=0)

    async def main():
        first = Receiver(loop)
        server = await loop.create_server(lambda: first, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        peer = socket.create_connection(("127.0.0.1", port), timeout=30)
        transport = await first.made
        peer.sendall(b"a" * 1000)
        assert await round_trips_until(loop, lambda: first.size >= 1000)
        assert transport._recv_is_multishot and refused.queued == 1
        # A second connection is refused multishot: the flag goes up for the loop.
        refused.left = 1
        second = Receiver(loop)
        server2 = await loop.create_server(lambda: second, "127.0.0.1", 0)
        peer2 = socket.create_connection(server2.sockets[0].getsockname(), timeout=30)
        transport2 = await second.made
        peer2.sendall(b"b" * 1000)
        assert await round_trips_until(loop, lambda: second.size >= 1000)
        assert ring.no_multishot_recv and refused.refused == 1 and not transport2._recv_is_multishot
        peer.sendall(b"c" * 1000)  # the first one's multishot recv still serves it
        assert await round_trips_until(loop, lambda: first.size >= 2000)
        assert transport._recv_is_multishot
        transport.pause_reading()  # ends the multishot recv
        transport.resume_reading()
        peer.sendall(b"d" * 1000)
        assert await round_trips_until(loop, lambda: first.size >= 3000)
        assert not transport._recv_is_multishot and refused.queued == 1
        for t in (transport, transport2):
            t.close()
        for p in (peer, peer2):
            p.close()
        for s in (server, server2):
            s.close()
            await s.wait_closed()

    try:
        run_checked(loop, main())
    finally:
        loop.close()
