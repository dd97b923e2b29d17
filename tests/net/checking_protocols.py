"""Protocols that record what arrives and count what arrives while reading is paused.

``from checking_protocols import Receiver, DatagramReceiver``: one stream and
one datagram protocol for the tests of pause_reading/resume_reading (on the
multishot recv, the single-shot recv, the provided-buffer pool, UDP).  A
delivery while paused is counted in ``violations``, not raised: an exception
in a protocol callback goes to the loop's exception handler, where a test on
the stock loop would not see it.  Every test that pauses asserts
``violations == 0``.  ``paused`` is set before ``pause_reading()`` is called
and cleared before ``resume_reading()``: a delivery from inside
``pause_reading()`` counts, one from inside ``resume_reading()`` does not.
"""
import asyncio
import hashlib


class _Pausing:
    """Pauses reading on request or every ``pause_every`` deliveries; counts violations.

    A periodic pause lasts ``resume_after`` loop iterations (1: the resume is
    the next callback).  Longer pauses span ring completions: a transport that
    read on while paused would deliver meanwhile.
    """

    def __init__(self, loop, pause_every=0, resume_after=1):
        self.loop = loop
        self.pause_every = pause_every
        self.resume_after = resume_after
        self.calls = 0
        self.paused = False
        self.violations = 0

    def pause(self):
        self.paused = True
        self.transport.pause_reading()

    def resume(self):
        self.paused = False
        self.transport.resume_reading()

    def _delivered(self):
        """Book one delivery (after recording it): a violation while paused; the periodic pause."""
        if self.paused:
            self.violations += 1
        self.calls += 1
        if self.pause_every and self.calls % self.pause_every == 0:
            self.pause()
            self.loop.call_soon(self._resume_later, self.resume_after - 1)

    def _resume_later(self, iterations):
        if iterations:
            self.loop.call_soon(self._resume_later, iterations - 1)
        else:
            self.resume()


class Receiver(_Pausing, asyncio.Protocol):
    """Takes a stream: its size, SHA-256, largest chunk and (``keep``) its bytes; ``made`` and ``eof`` futures.

    ``made`` resolves to the transport, ``eof`` at end of stream; the
    connection stays half-open at EOF unless ``close_at_eof``.
    """

    def __init__(self, loop, pause_every=0, resume_after=1, *, keep=False, close_at_eof=False):
        super().__init__(loop, pause_every, resume_after)
        self.keep = keep
        self.close_at_eof = close_at_eof
        self.sha = hashlib.sha256()
        self.size = 0
        self.largest = 0
        self.data = bytearray()
        self.made = loop.create_future()
        self.eof = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.made.set_result(transport)

    def data_received(self, data):
        self.sha.update(data)
        self.size += len(data)
        self.largest = max(self.largest, len(data))
        if self.keep:
            self.data += data
        self._delivered()

    def eof_received(self):
        self.eof.set_result(None)
        return not self.close_at_eof

    def got(self, payload):
        """Whether exactly ``payload`` arrived (by size and SHA-256)."""
        return (self.size, self.sha.digest()) == (len(payload), hashlib.sha256(payload).digest())


class DatagramReceiver(_Pausing, asyncio.DatagramProtocol):
    """Takes datagrams: ``received`` in order, ``errors``, and ``events`` (pause/resume_writing with the buffer size)."""

    def __init__(self, loop, pause_every=0, resume_after=1):
        super().__init__(loop, pause_every, resume_after)
        self.received = []
        self.errors = []
        self.events = []
        self._arrived = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.received.append(data)
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)
        self._delivered()

    def error_received(self, exc):
        self.errors.append(exc)

    def pause_writing(self):
        self.events.append(("pause_writing", self.transport.get_write_buffer_size()))

    def resume_writing(self):
        self.events.append(("resume_writing", self.transport.get_write_buffer_size()))

    async def until(self, count, timeout=20):
        """Wait (at most ``timeout`` s in all) until ``count`` datagrams have arrived."""
        async def wait():
            while len(self.received) < count:
                self._arrived = self.loop.create_future()
                await self._arrived

        await asyncio.wait_for(wait(), timeout)
