"""ringloop's benchmark lab: ringloop vs stock asyncio vs uvloop, run with ``python -m bench``.

Modules, one job each: :mod:`bench.loops` (which loops exist), :mod:`bench.registry`
and :mod:`bench.workloads_loop` (what is measured), :mod:`bench.harness` (the
interleaved runner), :mod:`bench.stats`, :mod:`bench.report` and
:mod:`bench.machine` (what is printed and written), :mod:`bench.cli` (the flags).
"""
