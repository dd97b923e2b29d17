"""The ``micro_loop`` fixture: a fresh loop of each kind in :data:`bench.loops.DEFAULT_LOOPS` per test.

A loop that is not installed (its factory raises ImportError) is skipped,
and the skip says why.  ``BENCH_MICRO_LOOPS=a,b`` keeps only the loops named
(the runner passes the loops it was asked for).  ``BENCH_MICRO_ROTATE=k`` rotates the order of the
loops by ``k`` within each test function, so that across the rounds of
``python -m bench`` no loop always runs first.
"""
from __future__ import annotations

import asyncio
import gc
import os
from typing import Iterator

import pytest

from bench.loops import DEFAULT_LOOPS, LoopSpec

from .ops import Producer

_WANTED = [name for name in os.environ.get("BENCH_MICRO_LOOPS", "").split(",") if name]
SPECS: dict[str, LoopSpec] = {spec.name: spec for spec in DEFAULT_LOOPS if not _WANTED or spec.name in _WANTED}


@pytest.fixture(params=list(SPECS))
def micro_loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    """A new loop of the kind named by the test's parameter, closed after the test.

    Every benchmark starts with the same collector state: what is garbage is
    collected, and what is still alive (pytest, the imported modules, earlier
    benchmarks' leftovers: about 39,000 objects) is frozen, out of the
    collector's sight.  Otherwise each full collection during a benchmark
    scans that whole harness heap: 25-55 ms apiece in a gather benchmark
    here, against about 1 ms frozen, landing on whichever loop happens to be
    running, for a cost that belongs to the harness.  The collections that
    the benchmark's own objects trigger still count, on every loop.
    """
    gc.collect()
    gc.freeze()
    spec = SPECS[request.param]
    try:
        loop = spec.factory()
    except ImportError as exc:
        pytest.skip(f"{spec.name} is not installed ({exc})")
    try:
        yield loop
    finally:
        loop.close()


@pytest.fixture
def producer() -> Iterator[Producer]:
    """The thread that feeds call_soon_threadsafe."""
    p = Producer()
    try:
        yield p
    finally:
        p.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Rotate each test function's loop order by ``BENCH_MICRO_ROTATE`` (default 0: registry order)."""
    shift = int(os.environ.get("BENCH_MICRO_ROTATE", "0") or 0)
    if not shift:
        return
    start = 0
    while start < len(items):
        end = start
        function = getattr(items[start], "originalname", items[start].name)
        while end < len(items) and getattr(items[end], "originalname", items[end].name) == function:
            end += 1
        group = items[start:end]
        k = shift % len(group)
        items[start:end] = group[k:] + group[:k]
        start = end
