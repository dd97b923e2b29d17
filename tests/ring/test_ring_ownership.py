"""A ring and its provided-buffer pool can be released in either order, even with receives in flight.

The C ring owns the pool's C side and frees it with itself; the Python pool
holds the C ring.  Run in a child process under PYTHONMALLOC=debug, so that a
use of freed memory shows as a crash (a signal) instead of passing silently.
"""
import subprocess
import sys

import pytest

CHILD = r"""
import gc, socket, sys
from ringloop._ring.options import RingOptions
from ringloop._ring.ring import Ring

def ring_with_receives_in_flight():
    ring = Ring.open(RingOptions(entries=8))
    pool = ring.buffer_ring(count=8, size=4096)
    assert pool is not None
    a, b = socket.socketpair()
    ring.recv_multishot(a.fileno(), lambda res, flags: None)
    b.send(b"x" * 100)
    seen = []
    while not seen:  # one completion names a pool buffer: take it, so a recycle is pending
        for token, res, flags in ring.wait(5):
            if res > 0:
                seen.append(pool.take(res, flags))
    ring.close(drain_timeout=0)  # the multishot recv is still the kernel's
    return ring, pool, (a, b)

order = sys.argv[1]
ring, pool, socks = ring_with_receives_in_flight()
if order == "ring-first":
    del ring
    gc.collect()
    pool.recycle()  # the C ring is kept alive by the pool: a closed ring ignores it
    del pool
else:
    pool.recycle()
    del pool
    gc.collect()
    del ring
gc.collect()
print("ok", order)
"""


@pytest.mark.parametrize("order", ["ring-first", "pool-first"])
def test_ring_and_pool_collected_in_either_order(order):
    done = subprocess.run([sys.executable, "-X", "dev", "-c", CHILD, order], capture_output=True, text=True,
                          timeout=60, env={"PYTHONMALLOC": "debug", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"ok {order}"
