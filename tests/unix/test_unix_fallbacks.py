"""The pipe transports' -EAGAIN fallback (wait with a ring poll, then read or write again), driven for real.

This kernel makes a ring read of a non-blocking pipe wait for data instead of
answering -EAGAIN, so the fallback never runs by itself here.  ``EagainKernel``
makes the loop's real Ring answer as a kernel that does: a thin wrapper on the
Ring instance replaces an op on one fd, queued while that fd is not ready, by a
no-op whose completion reaches the op's own handler as -EAGAIN, through the
ring's normal dispatch.  Each test checks that the poll was really queued and
completed, and that every byte still arrives, in order.
"""
import asyncio
import os
import select

import pytest
from injection import EagainKernel, round_trips_until


class Recorder(asyncio.Protocol):
    def __init__(self, loop):
        self.loop = loop
        self.data = bytearray()
        self.events = []
        self.lost = loop.create_future()
        self.grew = None

    def connection_made(self, transport):
        self.events.append("made")

    def data_received(self, data):
        self.data += data
        if self.grew is not None and not self.grew.done():
            self.grew.set_result(None)

    def eof_received(self):
        self.events.append("eof")

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)

    async def until(self, size):
        while len(self.data) < size:
            self.grew = self.loop.create_future()
            await asyncio.wait_for(self.grew, 10)


@pytest.mark.parametrize("blocking", [False, True], ids=["nonblocking", "blocking"])
def test_read_pipe_eagain_waits_with_a_poll_and_loses_nothing(loop, pipe, blocking):
    r, w = pipe
    os.set_blocking(r, blocking)
    chunks = [b"first", b"second chunk", b"third" * 1000]

    async def main():
        with EagainKernel(loop._ring, r, ["read"]) as kernel:
            proto = Recorder(loop)
            await loop.connect_read_pipe(lambda: proto, open(r, "rb", 0, closefd=False))
            # The read met an empty pipe: -EAGAIN, and a poll waits in its place.
            assert await round_trips_until(loop, lambda: kernel.polls)
            assert kernel.injected == ["read"] and kernel.passed == []
            assert kernel.polls == [[select.POLLIN, None]]
            assert kernel.log == [("eagain", "read"), ("poll", select.POLLIN)]
            assert loop._ring._inflight  # the poll is in flight, nothing was delivered
            assert proto.data == b""
            expected = b""
            for chunk in chunks:
                os.write(w, chunk)
                expected += chunk
                await proto.until(len(expected))
            assert bytes(proto.data) == expected
            # Each chunk: a read answered -EAGAIN, a poll that saw POLLIN, a real read.
            assert kernel.passed == ["read"] * len(chunks)
            assert kernel.injected == ["read"] * (len(chunks) + 1)
            assert [mask for mask, _ in kernel.polls] == [select.POLLIN] * (len(chunks) + 1)
            assert all(res is not None and res & select.POLLIN for _, res in kernel.polls[:-1])
            assert kernel.each_eagain_followed_by_a_poll(select.POLLIN)
            os.close(w)  # end of file reaches the poll too
            assert await asyncio.wait_for(proto.lost, 10) is None
            assert proto.events == ["made", "eof", "lost"]
            assert kernel.polls[-1][1] & select.POLLHUP

    loop.run_until_complete(main())


def _read_all(fd, into):
    while True:
        data = os.read(fd, 65536)
        if not data:
            return
        into += data


def test_write_pipe_eagain_waits_with_a_poll_and_writes_in_order(loop, pipe):
    r, w = pipe
    payload = bytes(range(256)) * 1024  # 256 KiB: far more than the pipe holds

    async def main():
        # The pipe reports writable, yet the ring write answers -EAGAIN once.
        with EagainKernel(loop._ring, w, ["write", "writev"], force=1) as kernel:
            proto = Recorder(loop)
            transport, _ = await loop.connect_write_pipe(lambda: proto, open(w, "wb", 0, closefd=False))
            transport.write(payload[:100_000])
            transport.write(payload[100_000:])
            received = bytearray()
            reader = loop.run_in_executor(None, _read_all, r, received)
            assert await round_trips_until(loop, lambda: kernel.injected)
            transport.close()
            assert await asyncio.wait_for(proto.lost, 20) is None
            os.close(w)  # transport.close() closed its own file object, which does not own w
            await asyncio.wait_for(reader, 20)
            return kernel, bytes(received)

    kernel, received = loop.run_until_complete(main())
    assert received == payload
    assert len(kernel.injected) == 1 and kernel.passed  # one -EAGAIN, then real writes
    assert kernel.each_eagain_followed_by_a_poll(select.POLLOUT)
    # The first POLLOUT poll waits for room after os.write filled the pipe; the
    # one after the -EAGAIN is the fallback, and it saw the pipe writable.  (A
    # POLLIN poll watches for the reader going away.)
    writable = [res for mask, res in kernel.polls if mask == select.POLLOUT]
    assert len(writable) >= 2
    assert all(res is not None and res & select.POLLOUT for res in writable)
