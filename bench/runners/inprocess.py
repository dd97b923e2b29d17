"""The runner: every workload on every loop in turn, round after round.

Interleaving (round 1: A B C, round 2: A B C, …) spreads the machine's slow
spells over all loops instead of letting one loop's whole series land in one.
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from ..loops import LoopSpec, probe
from ..registry import Workload
from ..report.stats import Summary, summarize

TARGET_SECONDS = 0.1  # one measurement: long enough to dwarf timer and setup cost, short enough to interleave
PROBE_N = 100


@dataclass(frozen=True)
class Measurement:
    """One timed run of ``n`` operations of a workload on a fresh loop."""

    workload: str
    loop: str
    round: int
    n: int
    seconds: float

    @property
    def us_per_op(self) -> float:
        """Microseconds per operation."""
        return self.seconds / self.n * 1e6


@dataclass
class Results:
    """Everything a run produced: the raw measurements and what was left out."""

    workloads: list[Workload]
    loops: list[LoopSpec]  # every loop asked for, available or not: the table's columns
    missing: dict[str, str]  # loop name -> why it was skipped
    rounds: int
    measurements: list[Measurement]

    def per_round(self, workload: str, loop: str) -> dict[int, float]:
        """{round: µs/op} of one (workload, loop) pair; empty when it was not measured."""
        return {m.round: m.us_per_op for m in self.measurements if m.workload == workload and m.loop == loop}

    def summary(self, workload: str, loop: str) -> Summary | None:
        """Statistics of one (workload, loop) pair; None when it was not measured."""
        samples = list(self.per_round(workload, loop).values())
        return summarize(samples) if samples else None


def measure(spec: LoopSpec, workload: Workload, n: int) -> float:
    """Seconds that ``n`` operations of ``workload`` take on a new loop from ``spec``.

    The loop is created before and closed after the timed span, so neither
    counts.
    """
    loop = spec.factory()
    try:
        gc.collect()  # the previous run's garbage is not this run's cost
        start = time.perf_counter()
        loop.run_until_complete(workload.fn(loop, n))
        return time.perf_counter() - start
    finally:
        loop.close()


def calibrate(spec: LoopSpec, workload: Workload, target: float,
              measure_fn: Callable[[LoopSpec, Workload, int], float] | None = None) -> int:
    """Operations that make one measurement of ``workload`` on ``spec`` last about ``target`` s.

    Probes with 100, 1,000, … operations until a run lasts a tenth of
    ``target``, then scales.  Loops differ by up to 20x on one workload, so a
    fixed count would give some loops runs too short to time and others too
    long.  The probes double as the warm-up run; none is recorded.
    ``measure_fn`` (default :func:`measure`) times one run.
    """
    timed = measure_fn or measure
    timed(spec, workload, 1)  # a first run pays one-off set-up (a scratch file): not a probe
    n = PROBE_N
    seconds = timed(spec, workload, n)
    while seconds < target / 10:
        n *= 10
        seconds = timed(spec, workload, n)
    return max(1, round(n * target / seconds))


def run(
    workloads: Sequence[Workload],
    loops: Sequence[LoopSpec],
    rounds: int,
    target: float = TARGET_SECONDS,
    progress: Callable[[str], None] = print,
) -> Results:
    """Measure each workload on each available loop, ``rounds`` times, interleaved.

    Loops whose factory raises ImportError are skipped with a ``progress``
    note.  Each (workload, loop) pair is first calibrated (see
    :func:`calibrate`) so that its measurements last about ``target`` seconds.
    ``progress`` receives a line per workload per round with that round's
    µs/op and an ETA.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    usable, missing = probe(loops)
    for name, reason in missing.items():
        progress(f"skipping {name}: {reason}")
    pairs = [(w, spec) for w in workloads for spec in usable if w.runs_on(spec.name)]

    progress(f"calibrating {len(pairs)} (workload, loop) pairs to {target * 1e3:.0f} ms per measurement")
    counts = {(w.name, spec.name): calibrate(spec, w, target) for w, spec in pairs}

    measurements: list[Measurement] = []
    total = rounds * len(pairs)
    started = time.perf_counter()
    for rnd in range(1, rounds + 1):
        for w in workloads:
            cells = []
            for spec in usable:
                if not w.runs_on(spec.name):
                    continue
                n = counts[w.name, spec.name]
                m = Measurement(w.name, spec.name, rnd, n, measure(spec, w, n))
                measurements.append(m)
                cells.append(f"{spec.name} {m.us_per_op:.2f}")
            if cells:
                elapsed = time.perf_counter() - started
                eta = elapsed / len(measurements) * (total - len(measurements))
                progress(f"round {rnd}/{rounds}  {w.name:<22} {'  '.join(cells)} µs/op  ETA {eta:4.0f} s")
    return Results(list(workloads), list(loops), missing, rounds, measurements)
