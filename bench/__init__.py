"""ringloop's benchmark lab: ringloop vs stock asyncio vs uvloop vs a C liburing limit, run with ``python -m bench``.

Where things live:

- ``registry`` (what a workload is) and ``loops`` (which loops exist);
- ``workloads/``: what is measured, one module per group (loop overhead, echo,
  HTTP, files, ...); a new workload goes there;
- ``runners/``: how it is run: in-process (``inprocess``) or against a server
  process per loop (``servers``, which starts ``server_app`` through
  ``server_process`` and reads its CPU with ``procstat``; ``ctools`` builds
  the C tools in ``c/``);
- ``load/``: load generators for the servers (the C ``loadgen``, ``wrk``);
- ``report/``: statistics, tables, the chart and docs/benchmarks.md;
- ``cli``: the flags of ``python -m bench``.
"""
