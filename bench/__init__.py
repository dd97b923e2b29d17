"""ringloop's benchmark lab: ringloop vs stock asyncio vs uvloop vs a C liburing limit, run with ``python -m bench``.

Modules, one job each: :mod:`bench.loops` (which loops exist); :mod:`bench.registry`
and the ``workloads_*`` modules (what is measured: loop overhead, echo, HTTP, the file
I/O hook); :mod:`bench.harness` (in-process runner) and :mod:`bench.serverbench`
(server runner) with :mod:`bench.servers`, :mod:`bench.server` (the server script),
:mod:`bench.load`, :mod:`bench.wrk`, :mod:`bench.procstat` and :mod:`bench.ctools`
(the C tools in bench/c); :mod:`bench.stats`, :mod:`bench.report`,
:mod:`bench.report_servers`, :mod:`bench.tables`, :mod:`bench.chart`,
:mod:`bench.docs_page` and :mod:`bench.machine` (what is printed and written);
:mod:`bench.cli` (the flags).
"""
