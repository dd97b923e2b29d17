"""The statistics the report shows: median, min–max, and paired ratios."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Mapping, Sequence


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


def paired_ratio(numerator: Mapping[int, float], denominator: Mapping[int, float]) -> float | None:
    """Median, over the rounds both have, of ``numerator[r] / denominator[r]``; None if none.

    The two measurements of a round ran back to back, so a slow spell of the
    machine hits both; dividing within a round cancels it, which the ratio
    of the two medians (each possibly from a different round) does not.
    """
    rounds = sorted(numerator.keys() & denominator.keys())
    ratios = [numerator[r] / denominator[r] for r in rounds if denominator[r] > 0]
    return statistics.median(ratios) if ratios else None
