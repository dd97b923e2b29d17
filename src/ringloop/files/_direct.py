"""O_DIRECT transfers: page-aligned buffers from a pool, and the alignment rules checked up front.

O_DIRECT moves data between the device and the caller's memory with no page
cache in between, so the kernel insists that the memory address, the file
offset and the length are multiples of the device's logical block size;
otherwise it fails the read or write with EINVAL.  ALIGNMENT (4096) is a
multiple of every common block size and is the page size, which a fresh
``mmap`` always starts on.
"""
from __future__ import annotations

import asyncio
import mmap
from typing import Callable

from ._loop import IoOp, ReadableBuffer, RingLoop, settle

__all__ = ["ALIGNMENT", "Aligned"]

ALIGNMENT = 4096
_KEPT_PER_SIZE = 64  # enough for 64 concurrent transfers of one size without a new mmap
_KEPT_UP_TO = 1 << 20  # a bigger buffer (read() of a whole file) is unmapped after use


def _round_up(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


class Aligned:
    """O_DIRECT reads of any span (through the loop's aligned reads) and writes from a pool of aligned copies."""

    def __init__(self) -> None:
        self._free: dict[int, list[memoryview]] = {}  # views of mmaps, by size

    def check(self, size: int, offset: int, what: str) -> None:
        """ValueError unless ``size`` and ``offset`` are multiples of ALIGNMENT."""
        if size % ALIGNMENT or offset % ALIGNMENT:
            raise ValueError(
                f"{what} on a file opened with direct=True needs a size and an offset that are "
                f"multiples of {ALIGNMENT} bytes; got {size} bytes at offset {offset}"
            )

    def _take(self, size: int) -> memoryview:
        kept = self._free.get(size)
        return kept.pop() if kept else memoryview(mmap.mmap(-1, size))

    def _give(self, buffer: memoryview) -> None:
        if len(buffer) <= _KEPT_UP_TO:
            kept = self._free.setdefault(len(buffer), [])
            if len(kept) < _KEPT_PER_SIZE:
                kept.append(buffer)

    async def read(self, loop: RingLoop, fd: int, size: int, offset: int) -> bytes:
        """Bytes ``offset`` to ``offset + size`` of the file (fewer at its end), read through
        the aligned span that covers them (the loop's aligned read, then a slice)."""
        start = offset - offset % ALIGNMENT
        span = _round_up(offset + size) - start
        data = await loop.ring_read_aligned(fd, span, start)
        skip = offset - start
        return data if skip == 0 and len(data) <= size else data[skip:skip + size]

    async def write(self, loop: RingLoop, fd: int, data: ReadableBuffer, offset: int,
                    landed: Callable[[int], None] | None, what: str) -> int:
        """Write ``data`` at ``offset`` (both aligned: ValueError otherwise) from an aligned copy;
        the count written.  On a cancel, ``landed`` gets the kernel's result first."""
        size = memoryview(data).nbytes
        self.check(size, offset, what)
        buffer = self._take(size)
        buffer[:size] = memoryview(data).cast("B")
        op: IoOp[int] = loop.ring_write(fd, buffer, offset)
        try:
            return await op
        except asyncio.CancelledError:
            res = await settle(op)
            if landed is not None:
                landed(res)
            raise
        finally:
            self._give(buffer)
