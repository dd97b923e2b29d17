"""connect_read_pipe / connect_write_pipe on ring reads and writes."""
import asyncio
import errno
import os
import tempfile

import pytest
from helpers import on_stock_and_ringloop, run_checked

import ringloop


class Recorder(asyncio.Protocol):
    def __init__(self, loop):
        self.data = bytearray()
        self.events = []
        self.lost = loop.create_future()
        self.paused = 0
        self.resumed = 0
        self.grew = None

    def connection_made(self, transport):
        self.events.append("made")

    def data_received(self, data):
        self.data += data
        if self.grew is not None and not self.grew.done():
            self.grew.set_result(None)

    def eof_received(self):
        self.events.append("eof")

    def pause_writing(self):
        self.paused += 1

    def resume_writing(self):
        self.resumed += 1

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)


async def _grow(proto, size):
    while len(proto.data) < size:
        proto.grew = asyncio.get_running_loop().create_future()
        await asyncio.wait_for(proto.grew, 10)


def test_read_pipe_data_eof_and_close(loop):
    r, w = os.pipe()

    async def main():
        proto = Recorder(loop)
        transport, _ = await loop.connect_read_pipe(lambda: proto, open(r, "rb", 0))
        os.write(w, b"hello ")
        await _grow(proto, 6)
        os.write(w, b"world")
        await _grow(proto, 11)
        os.close(w)
        assert await asyncio.wait_for(proto.lost, 10) is None
        assert transport.is_closing()
        return proto

    proto = loop.run_until_complete(main())
    assert bytes(proto.data) == b"hello world"
    assert proto.events == ["made", "eof", "lost"]
    with pytest.raises(OSError):
        os.fstat(r)  # the transport closed the pipe


def test_read_pipe_pause_holds_data(loop):
    r, w = os.pipe()

    async def main():
        proto = Recorder(loop)
        transport, _ = await loop.connect_read_pipe(lambda: proto, open(r, "rb", 0))
        await asyncio.sleep(0)  # the read is in flight
        transport.pause_reading()
        assert not transport.is_reading()
        os.write(w, b"held")
        for _ in range(20):
            await asyncio.sleep(0)
        assert proto.data == b""
        transport.resume_reading()
        await _grow(proto, 4)
        transport.close()
        await proto.lost
        os.close(w)
        return proto

    assert bytes(loop.run_until_complete(main()).data) == b"held"


def test_read_nonblocking_fd_and_fifo(loop):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fifo")
        os.mkfifo(path)
        r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        w = os.open(path, os.O_WRONLY)

        async def main():
            proto = Recorder(loop)
            transport, _ = await loop.connect_read_pipe(lambda: proto, open(r, "rb", 0))
            await asyncio.sleep(0.01)  # let the read meet an empty FIFO (-EAGAIN, then a poll)
            os.write(w, b"via fifo")
            await _grow(proto, 8)
            assert not os.get_blocking(r)  # left as the caller set it
            transport.close()
            await proto.lost
            return proto

        assert bytes(loop.run_until_complete(main()).data) == b"via fifo"
        os.close(w)


def test_write_pipe_flow_control_and_close(loop):
    r, w = os.pipe()
    chunk = b"x" * 65536

    async def main():
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, open(w, "wb", 0))
        transport.set_write_buffer_limits(high=4 * len(chunk), low=len(chunk))
        for _ in range(16):  # far more than the pipe holds
            transport.write(chunk)
        assert proto.paused == 1
        assert transport.get_write_buffer_size() > 0
        received = bytearray()
        reader = asyncio.get_running_loop().run_in_executor(None, _read_all, r, received)
        transport.close()
        assert await asyncio.wait_for(proto.lost, 10) is None
        await reader
        return proto, received

    proto, received = loop.run_until_complete(main())
    assert proto.resumed == 1
    assert bytes(received) == chunk * 16


def _read_all(fd, into):
    while True:
        data = os.read(fd, 65536)
        if not data:
            os.close(fd)
            return
        into += data


def test_write_pipe_reader_gone_is_broken_pipe(loop):
    r, w = os.pipe()

    async def main():
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, open(w, "wb", 0))
        transport.write(b"x" * (1 << 20))  # stays queued: nobody reads
        os.close(r)
        exc = await asyncio.wait_for(proto.lost, 10)
        assert transport.get_write_buffer_size() == 0
        transport.write(b"more")  # dropped, counted
        return exc

    assert isinstance(loop.run_until_complete(main()), BrokenPipeError)


def test_expected_endings_do_not_reach_the_exception_handler(loop):
    # A reader gone (EPIPE) and a pty master whose slave closed (EIO) end
    # their transports with the error, as on the stock loop, but are not
    # reported.
    reported = []
    loop.set_exception_handler(lambda _l, ctx: reported.append(ctx))
    master, slave = os.openpty()
    r, w = os.pipe()

    async def main():
        reader, writer = Recorder(loop), Recorder(loop)
        await loop.connect_read_pipe(lambda: reader, open(master, "rb", 0))
        transport, _ = await loop.connect_write_pipe(lambda: writer, open(w, "wb", 0))
        os.close(slave)
        transport.write(b"x" * (1 << 20))
        os.close(r)
        return await asyncio.wait_for(reader.lost, 10), await asyncio.wait_for(writer.lost, 10)

    read_exc, write_exc = loop.run_until_complete(main())
    assert isinstance(read_exc, OSError) and read_exc.errno == errno.EIO
    assert isinstance(write_exc, BrokenPipeError)
    assert reported == []


def test_write_pipe_abort_drops_queue(loop):
    r, w = os.pipe()

    async def main():
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, open(w, "wb", 0))
        transport.write(b"y" * (1 << 20))
        transport.abort()
        assert await asyncio.wait_for(proto.lost, 10) is None
        assert transport.get_write_buffer_size() == 0

    loop.run_until_complete(main())
    data = os.read(r, 1 << 21)
    assert 0 < len(data) < 1 << 20  # what the pipe took before abort
    os.close(r)


def test_pty_both_ways(loop):
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)

    async def main():
        rproto, wproto = Recorder(loop), Recorder(loop)
        rt, _ = await loop.connect_read_pipe(lambda: rproto, open(slave, "rb", 0))
        wt, _ = await loop.connect_write_pipe(lambda: wproto, open(os.dup(slave), "wb", 0))
        wt.write(b"to master")
        got = b""
        while len(got) < 9:
            got += await loop.run_in_executor(None, os.read, master, 100)
        os.write(master, b"to slave")
        await _grow(rproto, 8)
        rt.close()
        wt.close()
        await rproto.lost
        await wproto.lost
        return got, bytes(rproto.data)

    assert loop.run_until_complete(main()) == (b"to master", b"to slave")
    os.close(master)


def test_not_a_pipe_rejected(loop):
    with tempfile.TemporaryFile() as f:
        with pytest.raises(ValueError):
            loop.run_until_complete(loop.connect_read_pipe(asyncio.Protocol, f))
        with pytest.raises(ValueError):
            loop.run_until_complete(loop.connect_write_pipe(asyncio.Protocol, f))


def test_protocol_error_reaches_exception_handler(loop):
    r, w = os.pipe()
    errors = []
    loop.set_exception_handler(lambda _l, ctx: errors.append(ctx.get("exception")))

    class Bad(Recorder):
        def data_received(self, data):
            super().data_received(data)
            raise ZeroDivisionError

    async def main():
        proto = Bad(loop)
        transport, _ = await loop.connect_read_pipe(lambda: proto, open(r, "rb", 0))
        os.write(w, b"a")
        await _grow(proto, 1)
        os.write(w, b"b")  # reading goes on after the error
        await _grow(proto, 2)
        transport.close()
        await proto.lost

    loop.run_until_complete(main())
    os.close(w)
    assert len(errors) == 2 and all(isinstance(e, ZeroDivisionError) for e in errors)


# -- a pipe the program closes under its transport (issue #11: fd numbers reused) ---------------------


async def round_trips(loop, count=3):
    """Let ``count`` loop iterations (ring round trips on ringloop) pass."""
    for _ in range(count):
        if isinstance(loop, ringloop.Loop):
            await loop.ring_nop()
        else:
            await asyncio.sleep(0)


def test_a_read_pipe_closed_under_its_transport_never_reads_a_reused_fd():
    """The program closes the pipe object; a new pipe gets its number; neither pipe's bytes reach the protocol.

    With the stock loop nothing reads a closed fd (epoll forgets it).  On the
    ring, the read in flight held the old pipe open and completes when the old
    writer writes: it must neither deliver that nor read again by the number.
    """
    async def scenario(loop):
        r, w = os.pipe()
        pipe = open(r, "rb", 0)
        proto = Recorder(loop)
        transport, _ = await loop.connect_read_pipe(lambda: proto, pipe)
        await round_trips(loop)
        pipe.close()
        r2, w2 = os.pipe()
        assert r2 == r, "the kernel did not reuse the fd number"
        try:
            os.write(w, b"old")  # completes the read the ring still has on the old pipe
        except BrokenPipeError:
            pass  # the stock loop: that pipe is gone
        await round_trips(loop)
        os.write(w2, b"new")
        await round_trips(loop)
        os.set_blocking(r2, False)
        try:
            left = os.read(r2, 100)
        except BlockingIOError:
            left = b""
        transport.close()
        await asyncio.wait_for(proto.lost, 10)
        for fd in (w, r2, w2):
            os.close(fd)
        return bytes(proto.data), left

    assert on_stock_and_ringloop(scenario) == [(b"", b"new")] * 2


def test_a_write_pipe_closed_under_its_transport_fails_its_next_write():
    async def scenario(loop):
        r, w = os.pipe()
        pipe = open(w, "wb", 0)
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, pipe)
        pipe.close()
        transport.write(b"data")
        exc = await asyncio.wait_for(proto.lost, 10)
        os.close(r)
        return type(exc).__name__, exc.errno

    assert on_stock_and_ringloop(scenario) == [("OSError", errno.EBADF)] * 2


def test_a_write_pipe_closed_under_its_transport_never_writes_a_file_that_reuses_its_number(loop):
    """Unlike the stock transport, which writes by number into whatever file got it since (ringloop only)."""
    async def main():
        r, w = os.pipe()
        pipe = open(w, "wb", 0)
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, pipe)
        pipe.close()
        with tempfile.TemporaryFile() as other:
            assert other.fileno() == w, "the kernel did not reuse the fd number"
            transport.write(b"not for that file")
            exc = await asyncio.wait_for(proto.lost, 10)
            other.seek(0)
            written = other.read()
        os.close(r)
        return exc.errno, written

    assert run_checked(loop, main()) == (errno.EBADF, b"")
