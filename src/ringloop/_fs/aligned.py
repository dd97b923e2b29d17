"""Reads into page-aligned memory (what O_DIRECT needs), resolved to a bytes copy.

O_DIRECT makes the kernel transfer between the device and the caller's memory
directly, so the memory must start on a block boundary: a bytes object's data
never does (it follows the object's header).  The loop keeps a pool of
page-aligned buffers, each pinned once; a read goes into one and its future
resolves to a copy of the bytes read (one memcpy of a page: a fraction of a
microsecond), after which the buffer goes back to the pool.
"""
from __future__ import annotations

import mmap
from typing import Any

from .._core.opfuture import OpFuture
from .._ring.memory import page_aligned, pin
from .futures import IoOpFuture

__all__ = ["AlignedPool", "AlignedReadFuture"]

_KEPT_PER_SIZE = 64  # buffers of one size kept for reuse (64 reads in flight without a new mmap)
_KEPT_UP_TO = 1 << 20  # a bigger one is unmapped after use


class AlignedPool:
    """Page-aligned buffers, pinned once, by size."""

    def __init__(self) -> None:
        #: Free buffers by size; the loop's read path pops from these lists itself.
        self._free: dict[int, list[tuple[mmap.mmap, Any]]] = {}

    def take(self, size: int) -> tuple[mmap.mmap, Any]:
        """A free buffer of ``size`` bytes (an mmap and its pin), or a new one."""
        kept = self._free.get(size)
        if kept:
            return kept.pop()
        memory = page_aligned(size)
        return memory, pin(memory, writable=True)

    def give(self, entry: tuple[mmap.mmap, Any]) -> None:
        """Keep ``entry`` for reuse (up to _KEPT_PER_SIZE per size, sizes up to _KEPT_UP_TO)."""
        size = len(entry[0])
        if size <= _KEPT_UP_TO:
            kept = self._free.setdefault(size, [])
            if len(kept) < _KEPT_PER_SIZE:
                kept.append(entry)


class AlignedReadFuture(IoOpFuture):
    """A read into a pool buffer: resolves to the bytes read (b"" at end of file)."""

    _pool: AlignedPool
    _entry: tuple[mmap.mmap, Any]

    def _complete(self, res: int, flags: int) -> None:
        # The final completion: the kernel is done with the buffer.
        self._final = res
        if self._settle is not None:
            self._settle.set_result(res)
        entry = self._entry
        if res >= 0 and not self.done():
            self.set_result(entry[0][:res])  # mmap slicing: one copy into a new bytes
        else:
            OpFuture._complete(self, res, flags)
        # AlignedPool.give inline (the hot path of O_DIRECT reads): the common
        # case is a kept size with room in its list.
        kept = self._pool._free.get(len(entry[0]))
        if kept is not None and len(kept) < _KEPT_PER_SIZE:
            kept.append(entry)
        else:
            self._pool.give(entry)
