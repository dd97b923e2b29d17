"""Fork safety: a forked child never touches its parent's rings.

The ring's queues are memory shared with the kernel and so, after fork, with
the parent: a child that queued even a cancel request would write into the
parent's submission queue.  At fork, in the child, every ringloop loop forgets
its in-flight operations (they belong to the parent), closes its own copies of
the ring and the other fds, and counts as closed; the child can then create and
run a new loop.  If the fork happened inside a running ringloop loop, that loop
stops being the child's running loop (as asyncio itself does from Python 3.12),
and a signal wake-up fd that pointed at a ringloop pipe (shared with the
parent) is cleared.
"""
from __future__ import annotations

import os
import signal
import weakref
from asyncio import events
from typing import Any

__all__ = ["track"]

_loops: weakref.WeakSet = weakref.WeakSet()


def track(loop: Any) -> None:
    """Include ``loop`` in the after-fork clean-up of child processes."""
    _loops.add(loop)


def _after_fork_in_child() -> None:
    loops = list(_loops)
    _clear_wakeup_fd({fd for fd in (loop._signal_wakeup_fd() for loop in loops) if fd >= 0})
    running = events._get_running_loop()
    for loop in loops:
        if loop is running:
            events._set_running_loop(None)
        loop._abandon_after_fork()


def _clear_wakeup_fd(ours: set[int]) -> None:
    if not ours:
        return
    try:
        old = signal.set_wakeup_fd(-1)
    except (ValueError, OSError):
        return
    if old != -1 and old not in ours:
        signal.set_wakeup_fd(old)  # someone else's: leave it in place


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
