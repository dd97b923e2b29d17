"""Loop-machinery micro-benchmarks with pytest-benchmark, on ringloop, uvloop and stock asyncio.

``pytest bench/micro`` runs them on their own (pytest-benchmark's usual
table); ``python -m bench`` runs the suite once per round (see
:mod:`bench.micro.runner`) and renders ringloop's per-operation times and its
ratios to the other loops in docs/benchmarks.md (:mod:`bench.report.micro`).

- ``ops``: the operations, each a function that runs one batch on a loop;
- ``conftest`` / ``test_micro``: the pytest-benchmark suite, parametrized
  over :data:`bench.loops.DEFAULT_LOOPS` (a loop that is not installed is
  skipped, by name);
- ``runner``: the rounds, each a fresh ``pytest bench/micro`` process.

``make test`` never collects this folder (its testpaths is ``tests``);
``tests/bench/test_bench_micro.py`` runs it with a tiny budget so it cannot rot.
"""

from ..registry import MicroWorkload, register, title
from .ops import OPS

title("micro", "Loop machinery per operation (pytest-benchmark)")
for _op in OPS.values():
    register(MicroWorkload(f"micro_{_op.name}", _op.name, _op.description))
