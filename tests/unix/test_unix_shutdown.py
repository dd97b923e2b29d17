"""Closing a loop with work in flight: everything cancelled, confirmed and released."""
import asyncio
import os
import signal
import socket

import pytest

from helpers import open_fds

import ringloop
from ringloop._ring import ring as _ring


def test_close_with_1000_pending_reads_and_more():
    before = open_fds()
    abandoned = len(_ring._abandoned)
    loop = ringloop.new_event_loop()
    pipes = [os.pipe() for _ in range(10)]
    reads = [loop.ring_read(pipes[i % 10][0], bytearray(64)) for i in range(1000)]
    r, w = socket.socketpair()
    loop.add_reader(r, print)
    loop.add_signal_handler(signal.SIGUSR1, print)
    tr, tw = os.pipe()

    async def transport():
        transport, _ = await loop.connect_read_pipe(asyncio.Protocol, open(tr, "rb", 0))
        await asyncio.sleep(0)
        return transport

    transport = loop.run_until_complete(transport())
    assert loop._ring.inflight >= 1000 + 3
    loop.close()
    # Every operation's cancellation was confirmed by the kernel: none of
    # their buffers had to be kept for the life of the process.
    assert len(_ring._abandoned) == abandoned
    assert loop._ring.inflight == 0
    assert not any(f.done() for f in reads)
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    loop.close()  # twice is harmless
    with pytest.raises(RuntimeError):
        loop.ring_read(pipes[0][0], bytearray(1))
    with pytest.raises(RuntimeError):
        loop.add_reader(r, print)
    with pytest.raises(RuntimeError):
        loop.add_signal_handler(signal.SIGUSR1, print)
    with pytest.raises(RuntimeError):
        loop.run_forever()
    for a, b in pipes:
        os.close(a)
        os.close(b)
    r.close()
    w.close()
    os.close(tw)
    # The read transport stays open, as with the stock loop.
    assert "open" in repr(transport)
    transport._pipe.close()
    transport._pipe = None
    assert open_fds() == before


def test_loop_fds_released_on_close():
    before = open_fds()
    for _ in range(20):
        loop = ringloop.new_event_loop()
        loop.add_signal_handler(signal.SIGUSR2, print)  # creates the wake-up pipe
        loop.close()
    assert open_fds() == before
