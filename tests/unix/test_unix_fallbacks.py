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
import errno
import os
import select
import time

import pytest


class EagainKernel:
    """The loop's Ring answering for ``fd`` as a kernel that returns -EAGAIN for an fd not ready.

    ``ops``: the Ring methods to answer for (read-like ones are not ready
    while ``fd`` is not readable, write-like ones while it is not writable).
    ``force``: the next ``force`` calls of these ops get -EAGAIN even when ``fd`` is
    ready (a readiness report another writer made stale).  Every ``poll_add``
    on ``fd`` is recorded as [mask, result], the result None until it completes.
    ``log`` has every event on ``fd`` in order: ("eagain", op), ("op", op), ("poll", mask).
    """

    FD_ARG = {"read": 0, "write": 0, "writev": 0}
    INBOUND = {"read"}

    def __init__(self, ring, fd, ops, force=0):
        self.ring, self.fd = ring, fd
        self.force = force
        self.injected, self.passed, self.polls, self.log = [], [], [], []
        self.names = [*ops, "poll_add"]
        for name in ops:
            self._wrap(name)
        real_poll = ring.poll_add

        def poll_add(fd, mask, handler, **kwargs):
            if fd != self.fd:
                return real_poll(fd, mask, handler, **kwargs)
            entry = [mask, None]
            self.polls.append(entry)
            self.log.append(("poll", mask))

            def done(res, flags):
                entry[1] = res
                handler(res, flags)

            return real_poll(fd, mask, done, **kwargs)

        ring.poll_add = poll_add

    def _wrap(self, name):
        real = getattr(self.ring, name)
        mask = select.POLLIN if name in self.INBOUND else select.POLLOUT

        def op(*args, **kwargs):
            if args[self.FD_ARG[name]] != self.fd:
                return real(*args, **kwargs)
            if self.force > 0:
                self.force -= 1
            elif self._ready(mask):
                self.passed.append(name)
                self.log.append(("op", name))
                return real(*args, **kwargs)
            self.injected.append(name)
            self.log.append(("eagain", name))
            handler = args[-1]
            # A cancelled no-op reports -ECANCELED: that passes through as it is.
            return self.ring.nop(lambda res, flags: handler(res if res < 0 else -errno.EAGAIN, 0))

        setattr(self.ring, name, op)

    def each_eagain_followed_by_a_poll(self, mask):
        """Whether the fd's next event after every -EAGAIN was a poll for ``mask`` (not a retry at once)."""
        return all(
            self.log[i + 1 : i + 2] == [("poll", mask)] for i, (kind, _) in enumerate(self.log) if kind == "eagain"
        )

    def _ready(self, mask):
        poller = select.poll()
        poller.register(self.fd, mask)
        return bool(poller.poll(0))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for name in self.names:
            delattr(self.ring, name)  # the instance attribute goes; the Ring's own method is back


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


async def round_trips_until(loop, predicate, timeout=20.0):
    """Ring round trips (one loop iteration each) until ``predicate()``, for at most ``timeout`` s; its final value.

    The first hundred run back to back; after that each also waits 1 ms, for
    work the kernel does on its own threads (io-wq) or a helper thread does.
    """
    deadline = time.monotonic() + timeout
    trips = 0
    while not predicate() and time.monotonic() < deadline:
        await loop.ring_nop()
        trips += 1
        if trips > 100:
            await asyncio.sleep(0.001)
    return predicate()


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
