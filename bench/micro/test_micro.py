"""The loop machinery per operation, on each loop: ``pytest bench/micro`` (pytest-benchmark).

Each benchmark times one batch (:data:`bench.micro.ops.OPS` gives its size;
pytest-benchmark's times are per batch); ``extra_info`` records the batch
size so that :mod:`bench.report.micro` can divide.  Every test checks that its
batch really ran all its operations, so a loop that drops a callback fails
here instead of looking fast.
"""
from __future__ import annotations

import asyncio

import pytest

from .ops import OPS, Producer, batch


def _bench(benchmark, loop: asyncio.AbstractEventLoop, name: str, producer: Producer | None = None) -> None:
    op = OPS[name]
    benchmark.group = name
    benchmark.extra_info.update(op=name, per_call=op.per_call, unit=op.unit)
    benchmark(batch(name, loop, producer))


def test_call_soon(benchmark, micro_loop):
    _bench(benchmark, micro_loop, "call_soon")


def test_call_later_cancel(benchmark, micro_loop):
    _bench(benchmark, micro_loop, "call_later_cancel")


def test_sleep0(benchmark, micro_loop):
    _bench(benchmark, micro_loop, "sleep0")


def test_future(benchmark, micro_loop):
    _bench(benchmark, micro_loop, "future")


def test_gather_1000_sleeps(benchmark, micro_loop):
    _bench(benchmark, micro_loop, "gather_1000_sleeps")


def test_call_soon_threadsafe(benchmark, micro_loop, producer):
    _bench(benchmark, micro_loop, "call_soon_threadsafe", producer)


# -- the batches do what they say (run once, untimed) -----------------------------


def test_batches_run_every_operation(micro_loop, producer):
    ran = []
    micro_loop.call_soon(ran.append, "before")  # the loop still runs other callbacks in order
    for name in OPS:
        batch(name, micro_loop, producer)()
        ran.append(name)
    assert ran == ["before", *OPS]
    assert not [t for t in asyncio.all_tasks(micro_loop) if not t.done()]


def test_threadsafe_batch_needs_a_producer(micro_loop):
    with pytest.raises(ValueError):
        batch("call_soon_threadsafe", micro_loop)
