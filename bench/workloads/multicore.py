"""Many cores: ``ringloop.serve(workers=N)`` (with and without SQPOLL) against a uvicorn-style
multi-process uvloop server with the same N, on HTTP/1.1 keep-alive and 1 KiB echo.

The servers are several processes, which the per-loop server runner (one process per cell,
its CPU read from one /proc entry) cannot measure: these workloads are run by
``python -m bench.runners.multiprocess``, which starts the servers, reads the CPU of every
process of each and counts their syscalls. ``python -m bench`` lists them and says so.
"""
from __future__ import annotations

import os
from typing import Callable

from ..registry import ServerWorkload, register, title
from .echo import echo_client, loadgen_problem
from .http import wrk_client, wrk_problem

title("multicore", "Many cores: serve(workers=N) vs multi-process uvloop")

#: The worker counts of the issue's table; those this machine lacks the CPUs for are skipped.
WORKER_COUNTS = (1, 2, 4, 8)
RUNNER = "python -m bench.runners.multiprocess"


def cpu_problem(workers: int) -> str | None:
    """Why ``workers`` workers cannot be measured here, or None: each needs a CPU of its own,
    and the load generator one more."""
    cpus = len(os.sched_getaffinity(0))
    return None if cpus >= workers + 1 else f"{workers} worker(s) need {workers + 1} CPUs, this machine has {cpus}"


def _not_here() -> str:
    return f"multi-process servers are measured by {RUNNER}"


#: workload name -> (worker processes, why its load tool cannot run here or None)
SETUPS: dict[str, tuple[int, Callable[[], str | None]]] = {}

for _workers in WORKER_COUNTS:
    for _kind, _mode, _client, _tool in (("http", "http", wrk_client, wrk_problem),
                                        ("echo", "protocol", echo_client(1024), loadgen_problem)):
        _name = f"multicore_{_kind}_w{_workers}"
        SETUPS[_name] = (_workers, _tool)
        register(ServerWorkload(
            name=_name,
            group="multicore",
            description=(f"{'HTTP/1.1 keep-alive (wrk)' if _kind == 'http' else '1 KiB echo (loadgen)'} on "
                         f"{_workers} worker process(es): ringloop.serve with and without SQPOLL, and uvloop "
                         f"workers sharing one listening socket as uvicorn's do"),
            mode=_mode,
            client=_client,
            requires=_not_here,
        ))
del _workers, _kind, _mode, _client, _tool, _name


def problem(name: str) -> str | None:
    """Why multicore workload ``name`` cannot run here (its load tool, or too few CPUs), or None."""
    workers, tool = SETUPS[name]
    return tool() or cpu_problem(workers)
