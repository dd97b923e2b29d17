"""Turns for other tasks when cached reads complete without passing through the loop.

A page-cache read (preadv2 with RWF_NOWAIT, see _binary) is a syscall that
cannot block, so the awaiting task goes on without the loop running anything
else.  Every _PER_YIELD-th cached read, of any file counted together, yields
to the loop (as ``asyncio.sleep(0)``): other tasks run as they would between
ring reads, also in a loop that reads many small files, one read each.
"""
from __future__ import annotations

__all__ = ["turn_due"]

#: Cached reads (of any file) in a row before one of them yields.
_PER_YIELD = 16
_count = 0


def turn_due() -> bool:
    """Count one cached read; True on every 16th: the caller then yields to the loop."""
    global _count
    _count += 1
    if _count < _PER_YIELD:
        return False
    _count = 0
    return True
