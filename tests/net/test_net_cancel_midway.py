"""Cancelling ring ops and socket transfers in the middle, and what the other end sees after.

ring_timeout and ring_write: the kernel op is really stopped (its token leaves
the ring's table well before it would have finished; a cancelled write puts
nothing into the pipe).  sock_sendall: the peer reads a prefix of the payload,
then exactly what is sent next, as with the stock loop (neither reports how
much of a cancelled sendall went out).  sendfile/sock_sendfile: the peer reads
a prefix, and the file position is offset + the bytes the peer got, as
asyncio documents ("file.tell() can be used to obtain the actual number of
bytes sent").
"""
import asyncio
import os
import select
import socket
import tempfile
import time

import pytest
from injection import round_trips_until

import ringloop


async def eventually(predicate, timeout=20.0):
    """Poll ``predicate`` once per loop iteration (any loop) for at most ``timeout`` seconds; its final value."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    return predicate()


def readable(sock):
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def writable(sock):
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    return bool(poller.poll(0))


def drain(sock):
    """Read a blocking socket to end of stream."""
    sock.setblocking(True)
    sock.settimeout(20)
    got = bytearray()
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return bytes(got)
        got += data


def make_loop(kind):
    return ringloop.new_event_loop() if kind == "ringloop" else asyncio.SelectorEventLoop()


def small_buffers_pair():
    """A connected TCP pair on loopback, non-blocking, with small kernel buffers so a transfer stalls early."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    a = socket.socket()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
    a.connect(listener.getsockname())
    b, _ = listener.accept()
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    listener.close()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


# -- ring_timeout ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["queued", "in-kernel"])
def test_cancelled_ring_timeout_leaves_the_kernel_at_once(loop, where):
    async def main():
        timer = loop.ring_timeout(60)
        token = timer._token
        if where == "in-kernel":
            await loop.ring_nop()  # submitted: the kernel holds the timer
        start = time.monotonic()
        assert timer.cancel()
        assert await round_trips_until(loop, lambda: token not in loop._ring._inflight)
        assert time.monotonic() - start < 30  # long before it would have fired
        assert timer.cancelled()

    loop.run_until_complete(main())


def test_ring_timeout_under_wait_for_is_cancelled_in_the_kernel(loop):
    async def main():
        timer = loop.ring_timeout(60)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(timer, 0.05)
        assert timer.cancelled()
        assert await round_trips_until(loop, lambda: timer._token not in loop._ring._inflight)

    loop.run_until_complete(main())


# -- ring_write ---------------------------------------------------------------------------


def test_cancelled_ring_write_to_a_full_pipe_writes_nothing(loop, pipe):
    r, w = pipe
    os.set_blocking(w, False)
    prefill = bytearray()
    while True:
        try:
            prefill += b"p" * os.write(w, b"p" * 65536)
        except BlockingIOError:
            break
    os.set_blocking(w, True)
    big = bytearray(os.urandom(1 << 20))

    async def main():
        task = asyncio.ensure_future(loop.ring_write(w, big))
        await loop.ring_nop()
        await loop.ring_nop()  # the write is in the kernel, waiting for room
        [token] = [t for t, (handler, _) in loop._ring._inflight.items() if handler == task._complete] or [None]
        assert token is not None and not task.done()
        task.cancel()
        assert await round_trips_until(loop, lambda: token not in loop._ring._inflight)
        big.extend(b"x")  # unpinned: the kernel confirmed the cancel
        reader = loop.run_in_executor(None, read_to_eof, r)
        assert await asyncio.wait_for(loop.ring_write(w, b"after"), 10) == 5
        os.close(w)
        return await asyncio.wait_for(reader, 20)

    got = loop.run_until_complete(main())
    assert got == bytes(prefill) + b"after"  # not one byte of the cancelled write


def read_to_eof(fd):
    got = bytearray()
    while chunk := os.read(fd, 1 << 20):
        got += chunk
    return bytes(got)


# -- sock_sendall ---------------------------------------------------------------------------


class SendResults:
    """Records the result of every ring send on ``fd`` (a thin wrapper on the Ring instance)."""

    def __init__(self, ring, fd):
        self.results = []
        real = ring.send

        def send(sock_fd, data, flags, handler):
            if sock_fd != fd:
                return real(sock_fd, data, flags, handler)

            def done(res, cqe_flags):
                self.results.append(res)
                handler(res, cqe_flags)

            return real(sock_fd, data, flags, done)

        ring.send = send


@pytest.mark.parametrize("kind", ["ringloop", "stock"])
def test_cancelled_sock_sendall_leaves_a_prefix_then_the_next_send(kind):
    loop = make_loop(kind)
    a, b = small_buffers_pair()
    payload = os.urandom(8 << 20)
    marker = b"--after the cancel--"
    sends = SendResults(loop._ring, a.fileno()) if kind == "ringloop" else None

    async def main():
        task = asyncio.ensure_future(loop.sock_sendall(a, payload))
        # Mid-transfer: the peer has bytes waiting and the sender's buffer is full.
        assert await eventually(lambda: readable(b) and not writable(a))
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        reader = loop.run_in_executor(None, drain, b)
        await asyncio.wait_for(loop.sock_sendall(a, marker), 20)
        a.shutdown(socket.SHUT_WR)
        return await asyncio.wait_for(reader, 30)

    try:
        received = loop.run_until_complete(main())
    finally:
        loop.close()
        a.close()
        b.close()
    sent = len(received) - len(marker)
    assert 0 < sent < len(payload)  # the cancel came mid-transfer
    assert received[:sent] == payload[:sent] and received[sent:] == marker
    if sends is not None:
        # What the ring reported for the cancelled op (the kernel's partial
        # count) is what the peer got before the marker.
        assert sends.results[-1] == len(marker)
        assert sum(res for res in sends.results[:-1] if res > 0) == sent, sends.results


# -- sendfile ------------------------------------------------------------------------------


class Quiet(asyncio.Protocol):
    pass


class PollWatch:
    """Records the ring polls on ``fd`` as [mask, result] (None while in flight): a thin wrapper on the Ring instance."""

    def __init__(self, ring, fd):
        self.polls = []
        real = ring.poll_add

        def poll_add(poll_fd, mask, handler, **kwargs):
            if poll_fd != fd:
                return real(poll_fd, mask, handler, **kwargs)
            entry = [mask, None]
            self.polls.append(entry)

            def done(res, flags):
                entry[1] = res
                handler(res, flags)

            return real(poll_fd, mask, done, **kwargs)

        ring.poll_add = poll_add

    def waiting(self):
        return bool(self.polls) and self.polls[-1][1] is None


async def _start_sendfile(loop, how, sock, file, offset):
    """The sendfile task, and a function that ends the sending side once it is done."""
    if how == "sendfile":
        transport, _ = await loop.create_connection(Quiet, sock=sock)
        return asyncio.ensure_future(loop.sendfile(transport, file, offset)), transport
    return asyncio.ensure_future(loop.sock_sendfile(sock, file, offset)), None


def run_with_file(loop, main, content, a, b):
    """Run ``main(file)`` on ``loop``, ``file`` a temporary file holding ``content``: (its result, the file position after).

    The sockets ``a`` and ``b`` are closed after, pass or fail.
    """
    try:
        with tempfile.TemporaryFile() as file:
            file.write(content)
            file.seek(0)
            return loop.run_until_complete(main(file)), file.tell()
    finally:
        a.close()
        b.close()


async def _finish(loop, transport, a, b):
    """Shut down writing on the sender and read the peer to end of stream."""
    if transport is not None:
        transport.write_eof()
    else:
        a.shutdown(socket.SHUT_WR)
    received = await asyncio.wait_for(loop.run_in_executor(None, drain, b), 30)
    if transport is not None:
        transport.close()
    return received


@pytest.mark.parametrize("how", ["sock_sendfile", "sendfile"])
@pytest.mark.parametrize("kind", ["ringloop", "stock"])
def test_cancelled_sendfile_sends_a_prefix_and_the_file_position_says_how_much(kind, how):
    loop = make_loop(kind)
    a, b = small_buffers_pair()
    offset = 1000
    content = os.urandom(4 << 20)
    polls = PollWatch(loop._ring, a.fileno()) if kind == "ringloop" else None

    async def main(file):
        task, transport = await _start_sendfile(loop, how, a, file, offset)
        assert await eventually(lambda: readable(b) and not writable(a))
        if polls is not None:
            # The socket is full: the splice into it was answered -EAGAIN and
            # the task waits on a ring poll (the stock loop: on add_writer).
            assert await eventually(polls.waiting)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await _finish(loop, transport, a, b)

    try:
        received, position = run_with_file(loop, main, content, a, b)
    finally:
        loop.close()
    assert 0 < len(received) < len(content) - offset  # the cancel came mid-transfer
    assert received == content[offset:offset + len(received)]
    if kind == "ringloop":
        assert position == offset + len(received)  # as documented: tell() says how much was sent
    else:
        # The stock loop's cancel callback removes its writer before
        # _sock_sendfile_update_filepos can run: the position stays where it
        # was (CPython 3.11 to 3.13), against its documentation.
        assert position == 0


def later(loop, hops, callback, *args):
    """Run ``callback(*args)`` after ``hops`` more loop iterations."""
    if hops:
        loop.call_soon(later, loop, hops - 1, callback, *args)
    else:
        callback(*args)


# Which splice completes with bytes moved just as the task is cancelled:
# "out": the one into the socket, its completion handled before the task
# resumes; "out, after the task resumed": the same, its completion handled
# only once the task is in its cleanup (the kernel still moving the bytes);
# "in": the one from the file into the pipe, after a first chunk went out
# (those bytes sit in the pipe: never sent).
RACES = ["out", "out, after the task resumed", "in"]


@pytest.mark.parametrize("race", RACES)
@pytest.mark.parametrize("how", ["sock_sendfile", "sendfile"])
def test_sendfile_cancelled_as_a_splice_completes_counts_its_bytes(loop, how, race):
    a, b = small_buffers_pair()
    offset = 1000
    content = os.urandom(1 << 20)
    ring = loop._ring
    raced = []

    async def main(file):
        task, transport = await _start_sendfile(loop, how, a, file, offset)
        real_splice = ring.splice

        def racing(fd_in, off_in, fd_out):
            if race == "in":
                return fd_in == file.fileno() and off_in > offset  # not the first chunk: some bytes went out
            return fd_out == a.fileno()

        def splice(fd_in, off_in, fd_out, off_out, nbytes, handler):
            if raced or not racing(fd_in, off_in, fd_out):
                return real_splice(fd_in, off_in, fd_out, off_out, nbytes, handler)

            def done(res, flags):
                if res > 0 and not raced:
                    # The race: the task is cancelled (a timeout, another task)
                    # in the iteration before this completion is dispatched.
                    raced.append(res)
                    task.cancel()
                    if race == "out, after the task resumed":
                        later(loop, 10, handler, res, flags)
                        return
                handler(res, flags)

            return real_splice(fd_in, off_in, fd_out, off_out, nbytes, done)

        ring.splice = splice
        try:
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 20)
        finally:
            del ring.splice
        return await _finish(loop, transport, a, b)

    received, position = run_with_file(loop, main, content, a, b)
    assert raced and raced[0] > 0  # the race happened: a splice had moved bytes when the cancel came
    assert 0 < len(received) and received == content[offset:offset + len(received)]
    if race != "in":
        assert len(received) >= raced[0]  # the raced splice's bytes reached the peer
    assert position == offset + len(received)
