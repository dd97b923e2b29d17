"""The ring's failure paths, each driven by a real fault instead of left to luck.

A full submission queue that cannot be submitted (-EBUSY), a cancel that
cannot be queued, cancels that find nothing to cancel or come too late, the
drain in ``Ring.close`` giving up on operations the kernel never confirmed, and
a SINGLE_ISSUER ring closed from a thread that does not own it.

A SINGLE_ISSUER ring accepts submissions only from the thread that enabled it
(the kernel answers anyone else with -EEXIST), so a ring owned by a helper
thread is how these tests make the submission queue fill up for real.
"""
import errno
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ringloop._ring import ring as ring_module
from ringloop._ring.options import RingOptions
from ringloop._ring.ring import Ring


def raise_error(exc):
    raise exc


class Completions:
    def __init__(self):
        self.seen = []

    def handler(self, tag):
        return lambda res, flags: self.seen.append((tag, res))


def pinned_bytes(pin):
    """The bytes a pin (a cffi view) keeps in place."""
    return ring_module.ffi.buffer(pin)[:]


def run_until(ring, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        remaining = deadline - time.monotonic()
        assert remaining > 0, "completion did not arrive"
        ring.dispatch(ring.wait(remaining), raise_error)


@pytest.fixture
def owner():
    """One helper thread: the thread that owns (submits to) a SINGLE_ISSUER ring."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield lambda fn, *args: pool.submit(fn, *args).result(timeout=30)


def owned_ring(owner, entries=8):
    """A SINGLE_ISSUER ring enabled, and so owned, by the ``owner`` thread."""
    ring = Ring.open(RingOptions(entries=entries))
    if "SINGLE_ISSUER" not in ring.setup_flags:
        ring.close()
        pytest.skip("this kernel has no IORING_SETUP_SINGLE_ISSUER: any thread may submit")
    owner(ring.wait, 0)  # the first enter enables the ring for that thread
    return ring


# -- a full submission queue ------------------------------------------------------------


def test_sq_full_and_not_submittable_is_ebusy_and_leaves_no_entry(owner):
    ring = owned_ring(owner, entries=8)
    done = Completions()
    for i in range(8):
        ring.nop(done.handler(i))  # fills the SQ; only the owner could submit it
    with pytest.raises(OSError) as caught:
        ring.nop(done.handler("ninth"))
    assert caught.value.errno == errno.EBUSY
    assert "cannot queue a ring operation" in str(caught.value)
    assert ring.inflight == 8  # the refused op took no table entry
    # The owner submits: all eight complete and the queue takes new ops again.
    owner(run_until, ring, lambda: len(done.seen) == 8)
    assert sorted(tag for tag, _ in done.seen) == list(range(8))
    ring.nop(done.handler("again"))
    owner(run_until, ring, lambda: len(done.seen) == 9)
    owner(ring.close)
    assert ring.inflight == 0


def test_cancel_that_cannot_be_queued_raises_and_the_op_completes_on_its_own(owner, pipe):
    r, w = pipe
    ring = owned_ring(owner, entries=8)
    done = Completions()
    buf = bytearray(4)
    token = ring.read(r, buf, -1, done.handler("read"))
    owner(ring.wait, 0)  # the read is in the kernel now, not in the SQ
    for i in range(8):
        ring.nop(done.handler(i))
    with pytest.raises(OSError) as caught:
        ring.cancel(token)  # no SQE for the ASYNC_CANCEL, and no rewrite: it was submitted
    assert caught.value.errno == errno.EBUSY
    os.write(w, b"data")
    owner(run_until, ring, lambda: len(done.seen) == 9)
    assert ("read", 4) in done.seen and bytes(buf) == b"data"  # never cancelled
    owner(ring.close)


# -- cancels that find nothing --------------------------------------------------------


@pytest.fixture
def ring():
    ring = Ring.open(RingOptions(entries=8))
    yield ring
    ring.close()


def test_cancel_of_an_unknown_or_finished_token_is_false(ring):
    done = Completions()
    assert ring.cancel(12345) is False  # never issued
    token = ring.nop(done.handler("nop"))
    run_until(ring, lambda: done.seen)
    assert ring.cancel(token) is False  # its final completion was dispatched
    ring.close()
    assert ring.cancel(token + 1) is False  # closed ring: nothing is in flight


def test_cancel_of_an_op_the_kernel_already_finished_delivers_its_real_result(ring, pipe):
    r, w = pipe
    os.write(w, b"won")
    done = Completions()
    buf = bytearray(3)
    token = ring.read(r, buf, -1, done.handler("read"))
    ring.submit()  # the kernel reads now; the completion waits in the CQ
    # Still in the table (not dispatched): the cancel is queued and reported as
    # done, but the kernel has nothing left to cancel.
    assert ring.inflight == 1
    assert ring.cancel(token) is True
    run_until(ring, lambda: done.seen)
    assert done.seen == [("read", 3)]  # the real result, not -ECANCELED: the kernel won the race
    assert bytes(buf) == b"won"
    assert ring.inflight == 0


# -- close: the drain and what it abandons ---------------------------------------------


def test_drain_timeout_zero_abandons_in_flight_ops_and_keeps_their_buffers(pipe):
    r, _ = pipe
    ring = Ring.open(RingOptions(entries=8))
    buf = bytearray(b"pinned!!")
    ring.read(r, buf, -1, lambda res, flags: None)
    ring.wait(0)  # in the kernel
    before = len(ring_module._abandoned)
    ring.close(drain_timeout=0)
    assert ring.closed and ring.inflight == 0
    kept = ring_module._abandoned[before:]
    assert len(kept) == 1 and pinned_bytes(kept[0]) == bytes(buf)  # the read's pin, not freed
    with pytest.raises(BufferError):
        buf.extend(b"x")  # still exported: never handed back while the kernel might write


def test_drain_waits_its_timeout_for_an_op_never_confirmed_then_abandons_it(pipe):
    r, _ = pipe
    ring = Ring.open(RingOptions(entries=8))
    real = bytearray(8)
    ring.read(r, real, -1, lambda res, flags: None)
    ring.wait(0)
    # An entry the kernel does not know stands for an op it cannot cancel in
    # time: the drain's cancel finds nothing (-ENOENT) and no final completion
    # ever comes for it.
    unconfirmed = bytearray(b"unknown!")
    ring._inflight[10**9] = (lambda res, flags: None, ring_module.pin(unconfirmed, writable=True))
    before = len(ring_module._abandoned)
    start = time.monotonic()
    ring.close(drain_timeout=0.3)
    elapsed = time.monotonic() - start
    assert 0.3 <= elapsed < 10, elapsed  # waited the whole timeout, no longer
    kept = ring_module._abandoned[before:]
    assert len(kept) == 1 and pinned_bytes(kept[0]) == bytes(unconfirmed)
    real.extend(b"x")  # the real read was confirmed during the drain: released
    with pytest.raises(BufferError):
        unconfirmed.extend(b"x")


def test_close_from_a_foreign_thread_of_a_single_issuer_ring_does_not_wait(owner, pipe):
    r, _ = pipe
    ring = owned_ring(owner)
    buf = bytearray(8)
    ring.read(r, buf, -1, lambda res, flags: None)
    owner(ring.wait, 0)  # submitted by the owner
    before = len(ring_module._abandoned)
    start = time.monotonic()
    ring.close(drain_timeout=20)  # this thread may not enter the ring: no wait at all
    assert time.monotonic() - start < 10
    assert ring.closed
    kept = ring_module._abandoned[before:]
    assert len(kept) == 1
    with pytest.raises(BufferError):
        buf.extend(b"x")
    with pytest.raises(RuntimeError):  # RingClosedError for the owner too
        owner(ring.wait, 0)


def test_drain_called_from_a_foreign_thread_returns_without_waiting(owner, pipe):
    r, _ = pipe
    ring = owned_ring(owner)
    ring.read(r, bytearray(8), -1, lambda res, flags: None)
    owner(ring.wait, 0)
    start = time.monotonic()
    ring._drain(20)  # _enter answers -EEXIST here: the drain gives up at once
    assert time.monotonic() - start < 10
    assert ring.inflight == 1  # nothing confirmed, nothing dropped
    owner(ring.close)  # the owner's drain does confirm the cancel
    assert ring.inflight == 0
