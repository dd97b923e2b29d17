"""Hybrid logical clocks: timestamps that follow causality and stay close to wall time.

A timestamp is ``(ms, counter)``: milliseconds since the epoch and a counter
that orders events within one millisecond (or while the wall clock is behind
a time already seen).  Comparing tuples orders timestamps; ties between nodes
are broken by node id elsewhere (see :mod:`.model`).
"""
from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Timestamp", "tick", "receive", "HybridClock", "check_timestamp"]

Timestamp = tuple[int, int]


def check_timestamp(value: object) -> Timestamp:
    """Return ``value`` as a Timestamp; ValueError unless it is a pair of non-negative ints."""
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(type(part) is int and part >= 0 for part in value)):
        raise ValueError(f"a timestamp is a pair of non-negative ints [ms, counter], not {value!r}")
    return (value[0], value[1])


def tick(last: Timestamp, wall_ms: int) -> Timestamp:
    """The timestamp of a local event after ``last``, at wall time ``wall_ms``: always greater than ``last``."""
    if wall_ms > last[0]:
        return (wall_ms, 0)
    return (last[0], last[1] + 1)


def receive(last: Timestamp, remote: Timestamp, wall_ms: int) -> Timestamp:
    """The clock after seeing ``remote``: greater than both ``last`` and ``remote``."""
    ms = max(last[0], remote[0], wall_ms)
    if ms == last[0] == remote[0]:
        return (ms, max(last[1], remote[1]) + 1)
    if ms == last[0]:
        return (ms, last[1] + 1)
    if ms == remote[0]:
        return (ms, remote[1] + 1)
    return (ms, 0)


class HybridClock:
    """One node's clock: :meth:`now` for local events, :meth:`observe` for timestamps from elsewhere."""

    def __init__(self, wall: Callable[[], float] = time.time, start: Timestamp = (0, 0)) -> None:
        """A clock reading ``wall()`` (seconds) that never goes below ``start``."""
        if not callable(wall):
            raise TypeError("wall must be a callable returning seconds")
        self._wall = wall
        self._last = check_timestamp(start)

    @property
    def last(self) -> Timestamp:
        """The greatest timestamp issued or observed."""
        return self._last

    def now(self) -> Timestamp:
        """A new timestamp, greater than every one issued or observed before."""
        self._last = tick(self._last, int(self._wall() * 1000))
        return self._last

    def observe(self, remote: Timestamp) -> Timestamp:
        """Move past ``remote`` (a timestamp from another node); return the new reading."""
        self._last = receive(self._last, check_timestamp(remote), int(self._wall() * 1000))
        return self._last
