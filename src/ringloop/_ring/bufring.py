"""The provided-buffer pool that multishot recvs fill."""
from __future__ import annotations

import os
from typing import Any

from ._ffi import ffi, lib
from .memory import page_aligned

__all__ = ["BufferRing"]

_CQE_BUFFER_SHIFT = lib.IORING_CQE_BUFFER_SHIFT


class BufferRing:
    """A pool of equal buffers that the kernel fills for multishot recvs.

    The pool is one page-aligned anonymous mapping owned here; a buffer the
    kernel filled is copied out by :meth:`take` and handed back to the kernel
    in bulk, with all others taken since, by :meth:`recycle` right before the
    ring's next submit (one C call).

    Ownership: the C ring owns the C side of this pool and frees it with
    itself, and this object holds the C ring (``ring_handle``), so the C ring
    outlives every recycle call and the two can be collected in either order.
    The mapping must outlive the kernel's use of it: a ring closed with
    receives in flight keeps this object (see ``Ring.close``).
    """

    def __init__(self, ring_handle: Any, group: int, count: int, size: int) -> None:
        self.size = size
        self._ring_handle = ring_handle
        self._pool = page_aligned(count * size)
        self._cpool = ffi.from_buffer(self._pool)
        out = ffi.new("rl_bufring **")
        rc = lib.rl_bufring_open(ring_handle, group, count, self._cpool, size, out)
        if rc < 0:
            raise OSError(-rc, f"cannot register a provided buffer ring: {os.strerror(-rc)}")
        self._b = out[0]
        # Buffer ids taken since the last recycle; cffi turns the list into
        # the C array in one step (cheaper than a view of an array.array).
        self._returned: list[int] = []

    def take(self, res: int, flags: int) -> bytes:
        """The ``res`` bytes of the buffer named in ``flags``; the buffer goes back to the kernel."""
        bid = flags >> _CQE_BUFFER_SHIFT
        start = bid * self.size
        self._returned.append(bid)
        return self._pool[start : start + res]  # an mmap slice is a bytes copy, no view in between

    def recycle(self) -> None:
        """Hand every buffer taken since the last call back to the kernel (one C call; none: no call)."""
        returned = self._returned
        if returned:
            lib.rl_bufring_recycle(self._b, returned, len(returned))
            returned.clear()
