"""The statistics the report shows: median, min–max, and ratios of medians."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Summary:
    """Median and range of one (workload, loop) pair's samples, in µs per operation."""

    median: float
    low: float
    high: float
    samples: int


def summarize(samples: Sequence[float]) -> Summary:
    """Median, min and max of ``samples``; raises ValueError when there are none."""
    if not samples:
        raise ValueError("cannot summarize zero samples")
    return Summary(statistics.median(samples), min(samples), max(samples), len(samples))


def ratio(numerator: Summary | None, denominator: Summary | None) -> float | None:
    """``numerator.median / denominator.median``, or None when either side is missing."""
    if numerator is None or denominator is None or denominator.median <= 0:
        return None
    return numerator.median / denominator.median
