"""The loop core's failure paths, each driven by a real fault.

The wake-up eventfd read failing (for good, or with a retryable error), the
eventfd write after the fd is gone, more ring ops queued between two waits
than the submission queue holds, an op-future whose cancel cannot be queued,
and a cancel that comes after the kernel finished the op.
"""
import asyncio
import errno
import fcntl
import os
import resource
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from injection import round_trips_until

import ringloop


def wake_reads(loop):
    """Tokens of the wake-up eventfd reads in flight on ``loop``'s ring."""
    return [token for token, (handler, _) in loop._ring._inflight.items() if handler == loop._on_wakeup]


# -- the wake-up eventfd ---------------------------------------------------------------


def test_wakeup_read_failure_is_reported_and_not_rearmed(loop, pipe):
    errors = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    wake_fd = loop._wake_fd
    eventfd = os.dup(wake_fd)  # the file the read in flight is on stays open
    _, w = pipe

    async def main():
        [first] = wake_reads(loop)
        # The wake-up fd's number now names a pipe's write end: the next read
        # of it fails with EBADF, for good.
        os.dup2(w, wake_fd)
        os.eventfd_write(eventfd, 1)  # completes the read in flight; it re-arms on the broken fd
        assert await round_trips_until(loop, lambda: errors)
        assert first not in loop._ring._inflight
        # Reported once, and not re-armed: re-arming after a lasting error would spin.
        for _ in range(10):
            await loop.ring_nop()
        return wake_reads(loop)

    try:
        assert loop.run_until_complete(main()) == []
    finally:
        os.dup2(eventfd, wake_fd)
        os.close(eventfd)
    assert len(errors) == 1
    assert errors[0]["message"] == (
        "wake-up eventfd read failed, cross-thread wake-ups stop: " + os.strerror(errno.EBADF)
    )
    assert errors[0]["loop"] is loop
    assert loop._wake_pending is False


@pytest.mark.parametrize("err", [errno.EINTR, errno.EAGAIN])
def test_wakeup_read_retryable_error_rearms_and_wakeups_go_on(loop, err):
    async def main():
        [token] = wake_reads(loop)
        handler, pins = loop._ring._inflight[token]
        seen = []

        def interrupted(res, flags):  # the ring's completion, reported as the error
            seen.append(res)
            handler(-err, flags)

        loop._ring._inflight[token] = (interrupted, pins)
        woken = loop.create_future()
        thread = threading.Thread(target=loop.call_soon_threadsafe, args=(woken.set_result, "first"))
        thread.start()
        assert await asyncio.wait_for(woken, 10) == "first"
        thread.join(10)  # its eventfd write is done (the callback may have run before it)
        assert await round_trips_until(loop, lambda: seen)
        assert seen == [8]  # the real read completed; the handler was told -err
        [again] = wake_reads(loop)  # re-armed: a new read is in flight
        assert again != token
        # And a cross-thread wake-up still wakes a loop that sleeps in the ring.
        woken = loop.create_future()
        timer = threading.Timer(0.05, loop.call_soon_threadsafe, args=(woken.set_result, "second"))
        timer.start()
        assert await asyncio.wait_for(woken, 10) == "second"
        timer.join()

    loop.run_until_complete(main())


def test_write_to_self_after_the_fd_is_gone_is_harmless():
    loop = ringloop.new_event_loop()
    loop.run_until_complete(loop.ring_nop())
    loop.close()
    assert loop._wake_fd == -1
    outcome = []

    def late_thread():  # a foreign thread that saw the loop open, writing after the close
        try:
            loop._write_to_self()
            outcome.append(loop._wake_pending)
        except BaseException as exc:  # pragma: no cover - reported below
            outcome.append(exc)

    thread = threading.Thread(target=late_thread)
    thread.start()
    thread.join(10)
    assert outcome == [False]  # the write failed (EBADF), and no wake-up counts as pending


def test_write_to_self_on_an_fd_closed_a_moment_ago_is_harmless(loop):
    """The same race a moment later: the number was read before close() set it to -1, and is closed by now."""
    wake_fd = loop._wake_fd
    gone = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 1  # the highest number: no file has it
    with pytest.raises(OSError):
        fcntl.fcntl(gone, fcntl.F_GETFD)
    loop._wake_fd = gone
    try:
        loop._wake_pending = False
        loop._write_to_self()  # eventfd_write fails with EBADF: swallowed
        assert loop._wake_pending is False
    finally:
        loop._wake_fd = wake_fd
    assert loop.run_until_complete(loop.ring_nop()) == 0


# -- a full submission queue -------------------------------------------------------------


@pytest.mark.parametrize("sqpoll", [False, True], ids=["plain", "sqpoll"])
def test_more_ops_than_entries_between_two_waits(sqpoll, pipe):
    loop = ringloop.Loop(entries=4, sqpoll=sqpoll)
    r, w = pipe
    payload = bytes(range(256)) * 4

    async def main():
        # All queued in one step of this task: no ring wait in between.
        nops = [loop.ring_nop() for _ in range(300)]
        timers = [loop.ring_timeout(0) for _ in range(50)]
        writes = [loop.ring_write(w, payload[i * 64:(i + 1) * 64]) for i in range(16)]
        buf = bytearray(len(payload))
        results = await asyncio.wait_for(asyncio.gather(*nops, *timers, *writes), 30)
        got = 0
        while got < len(payload):
            got += await asyncio.wait_for(loop.ring_read(r, memoryview(buf)[got:]), 10)
        return results, bytes(buf)

    try:
        assert loop._ring._batch < 300  # more than the SQ, and more than one harvest array
        results, data = loop.run_until_complete(main())
    finally:
        loop.close()
    assert results == [0] * 300 + [None] * 50 + [64] * 16
    assert data == payload


# -- op-future cancels -----------------------------------------------------------------------


def test_opfuture_cancel_that_cannot_be_queued_still_cancels_the_future(pipe):
    r, w = pipe
    loop = ringloop.Loop(entries=4)
    if "SINGLE_ISSUER" not in loop._ring.setup_flags:
        loop.close()
        pytest.skip("this kernel has no IORING_SETUP_SINGLE_ISSUER: any thread may submit")
    ring = loop._ring
    with ThreadPoolExecutor(max_workers=1) as owner:
        def as_owner(fn, *args):
            return owner.submit(fn, *args).result(timeout=30)

        buf = bytearray(4)
        fut = loop.ring_read(r, buf)
        as_owner(ring.wait, 0)  # the owner thread enables the ring and submits the read
        for _ in range(4):
            ring.nop(lambda res, flags: None)  # the SQ is full, and this thread may not submit
        with pytest.raises(OSError):
            ring.nop(lambda res, flags: None)  # the proof: nothing more can be queued
        assert fut.cancel() is True  # the ASYNC_CANCEL could not be queued; the future is cancelled anyway
        assert fut.cancelled()
        assert fut._token in ring._inflight  # the read is still the kernel's, its buffer pinned
        with pytest.raises(BufferError):
            buf.extend(b"x")
        os.write(w, b"late")

        def drain():
            while fut._token in ring._inflight:
                ring.dispatch(ring.wait(10), loop._completion_error)

        as_owner(drain)  # the read completes on its own; its result is dropped
        assert bytes(buf) == b"late" and fut.cancelled()
        buf.extend(b"x")  # released with the final completion
        as_owner(loop.close)


@pytest.mark.parametrize("op", ["nop", "read"])
def test_cancel_after_the_kernel_finished_hands_the_result_to_late(loop, pipe, op):
    r, w = pipe
    os.write(w, b"kept")
    buf = bytearray(4)
    late = []

    async def main():
        fut = loop.ring_nop() if op == "nop" else loop.ring_read(r, buf)
        fut._late = late.append
        loop._ring.submit()  # the kernel does it now; the completion is not dispatched yet
        assert fut._token in loop._ring._inflight
        assert fut.cancel() is True
        assert await round_trips_until(loop, lambda: fut._token not in loop._ring._inflight)
        return fut

    fut = loop.run_until_complete(main())
    assert fut.cancelled()
    assert late == ([0] if op == "nop" else [4])  # the race happened: the kernel finished first
    if op == "read":
        assert bytes(buf) == b"kept"
