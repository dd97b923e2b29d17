"""Turns for other tasks when file operations complete without passing through the loop.

A page-cache read or a cached open (see _binary and _cached_open) is a
syscall that cannot block, so the awaiting task goes on without the loop
running anything else.  Every _PER_YIELD-th such operation, of any file,
yields to the loop (as ``asyncio.sleep(0)``): other tasks run as they would
between ring ops, also in a loop that opens and reads many small files.
"""
from __future__ import annotations

__all__ = ["turn_due"]

#: Operations that completed without the loop, in a row, before one of them yields.
_PER_YIELD = 16
_count = 0


def turn_due() -> bool:
    """Count one operation that completed without the loop; True on every 16th: the caller then yields."""
    global _count
    _count += 1
    if _count < _PER_YIELD:
        return False
    _count = 0
    return True
