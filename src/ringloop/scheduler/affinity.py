"""Pinning threads to CPUs, and reading back where each thread of a process may run and last ran.

Linux affinity is per thread, and a new thread starts with its creator's mask: a loop thread
pinned before it starts any thread keeps its executor threads on the same CPUs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

from .cpuplan import check_cpus


def pin_this_thread(cpus: Iterable[int]) -> None:
    """Restrict the calling thread (not its process) to ``cpus``; threads it starts later inherit this.

    Raises TypeError or ValueError on a bad ``cpus``, OSError if the kernel refuses the set
    (a CPU outside this process's cpuset, say).
    """
    os.sched_setaffinity(0, check_cpus("cpus", cpus))


@dataclass(frozen=True)
class ThreadPlacement:
    """One thread of a process: ``tid``, its ``name`` (``comm``: ``iou-sqp-1234`` for a SQPOLL
    thread), the ``cpu`` it last ran on (``/proc/<pid>/task/<tid>/stat`` field 39) and the
    CPUs it may run on (``Cpus_allowed_list`` of its ``status``)."""

    tid: int
    name: str
    cpu: int
    allowed: frozenset[int]


def parse_cpu_list(text: str) -> frozenset[int]:
    """A Linux CPU list (``0-3,8``) as a set of CPU numbers; TypeError if ``text`` is not a str,
    ValueError if it is malformed."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return frozenset(cpus)


def _read_thread(task_dir: str, tid: int) -> ThreadPlacement:
    with open(f"{task_dir}/stat", encoding="utf-8", errors="replace") as f:
        stat = f.read()
    # The name is in parentheses and may hold spaces and parentheses itself.
    name = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    cpu = int(fields[36])  # field 39 ("processor"), counted from field 3
    with open(f"{task_dir}/status", encoding="utf-8", errors="replace") as f:
        allowed = next(line.split(":", 1)[1] for line in f if line.startswith("Cpus_allowed_list:"))
    return ThreadPlacement(tid, name, cpu, parse_cpu_list(allowed))


def thread_placements(pid: int | None = None, *, proc: str = "/proc") -> list[ThreadPlacement]:
    """Every thread of process ``pid`` (None: this one), by thread id: where each may run and last ran.

    Threads that end while being read are left out. Raises TypeError on a bad ``pid``,
    ProcessLookupError if there is no such process.
    """
    if pid is None:
        pid = os.getpid()
    elif not isinstance(pid, int) or isinstance(pid, bool):
        raise TypeError(f"pid must be an int or None, not {type(pid).__name__}")
    try:
        tids = sorted(int(name) for name in os.listdir(f"{proc}/{pid}/task"))
    except FileNotFoundError:
        raise ProcessLookupError(f"no process {pid}") from None
    placements = []
    for tid in tids:
        try:
            placements.append(_read_thread(f"{proc}/{pid}/task/{tid}", tid))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue  # the thread ended meanwhile
    return placements
