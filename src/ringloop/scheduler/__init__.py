"""Many cores: loops in threads and worker processes, and SQPOLL placed where it helps.

- :func:`serve`: N worker processes, each running ``worker(index)`` on its own ringloop loop,
  restarted when they die (the supervision layer's backoff and intensity limit), stopped
  gracefully on SIGTERM or SIGINT; :func:`reuseport_socket` lets each accept on its own.
- :class:`LoopGroup`: loops in threads of one process sharing one SQPOLL thread, with
  :meth:`LoopGroup.submit` / :meth:`LoopGroup.call` to hand a coroutine to a given loop.
- The CPU plan (:func:`plan_cpus`, :class:`CpuPlan`): which CPUs get loops and which get
  SQPOLL threads; ``sqpoll="auto"`` uses SQPOLL only where a CPU can be given to it.
- :func:`thread_placements`: where each thread of a process may run and last ran.

It uses only ringloop's public API (see docs/multicore.md).
"""
from .affinity import ThreadPlacement, parse_cpu_list, pin_this_thread, thread_placements
from .cpuplan import (CpuPlan, Machine, describe_sqpoll_auto, format_cpus, plan_cpus, read_machine,
                      sqpoll_auto_info, sqpoll_auto_reason)
from .listen import reuseport_socket
from .loopgroup import LoopGroup
from .loopopts import DEFAULT_SQ_IDLE_MS
from .serving import ServeResult, WorkerDied, WorkerExit, serve

__all__ = [
    "CpuPlan", "DEFAULT_SQ_IDLE_MS", "LoopGroup", "Machine", "ServeResult", "ThreadPlacement", "WorkerDied",
    "WorkerExit", "describe_sqpoll_auto", "format_cpus", "parse_cpu_list", "pin_this_thread", "plan_cpus", "read_machine",
    "reuseport_socket", "serve", "sqpoll_auto_info", "sqpoll_auto_reason", "thread_placements",
]
