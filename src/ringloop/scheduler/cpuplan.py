"""The CPU plan: which CPUs the loops (threads or worker processes) run on, and which CPUs their
SQPOLL threads get.

:func:`plan_cpus` is a pure function of the CPUs allowed, the number of loops and the number
of SQPOLL threads they need; :func:`read_machine` reads those facts from this machine.

The rule (issue 17): a SQPOLL thread spins on its CPU while it is awake, so it only helps where
a CPU can be given to it. With ``sqpoll="auto"`` SQPOLL is used only when every SQPOLL thread can
have a CPU of its own and every loop still has one; the SQPOLL threads then take the
highest-numbered CPUs, and the loops (and the threads they start) are kept off those.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterable, Literal, Mapping, Union

import ringloop
from ringloop.supervise.checks import check_count

#: What ``sqpoll=`` accepts: always, never, or where a CPU can be spared for it.
SqpollChoice = Union[bool, Literal["auto"]]


@dataclass(frozen=True)
class CpuPlan:
    """Where loops and SQPOLL threads run.

    ``cpus`` are the CPUs the plan was made from; ``loop_cpus`` those the loops, and every
    thread they start, may run on; ``sq_cpus`` the CPUs reserved for SQPOLL threads (empty
    without SQPOLL, or when SQPOLL threads cannot be pinned); ``reason`` says why, in words.
    """

    cpus: tuple[int, ...]
    loops: int
    sqpoll: bool
    loop_cpus: tuple[int, ...]
    sq_cpus: tuple[int, ...]
    reason: str

    def sq_cpu_for(self, index: int) -> int | None:
        """The CPU to pin SQPOLL thread number ``index`` to (round robin over ``sq_cpus``), or None
        when the plan uses no SQPOLL or cannot pin it."""
        check_count("index", index)
        if not self.sqpoll or not self.sq_cpus:
            return None
        return self.sq_cpus[index % len(self.sq_cpus)]


def format_cpus(cpus: Iterable[int]) -> str:
    """CPU numbers the way Linux lists them (``0-3,8``); TypeError or ValueError naming ``cpus``
    if they are not a non-empty iterable of CPU numbers."""
    ordered = check_cpus("cpus", cpus)
    runs: list[str] = []
    start = prev = None
    for cpu in [*ordered, None]:
        if cpu is not None and prev is not None and cpu == prev + 1:
            prev = cpu
            continue
        if start is not None:
            runs.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = cpu
    return ",".join(runs)


def check_cpus(name: str, cpus: object) -> tuple[int, ...]:
    """``cpus`` (an iterable of CPU numbers) as a sorted tuple; TypeError or ValueError naming ``name``."""
    if isinstance(cpus, (str, bytes)) or not isinstance(cpus, Iterable):
        raise TypeError(f"{name} must be an iterable of CPU numbers, not {type(cpus).__name__}")
    values = list(cpus)
    for cpu in values:
        if not isinstance(cpu, int) or isinstance(cpu, bool):
            raise TypeError(f"{name} must hold ints, not {type(cpu).__name__}")
        if cpu < 0:
            raise ValueError(f"{name} holds a negative CPU number: {cpu}")
    if not values:
        raise ValueError(f"{name} must not be empty")
    return tuple(sorted(set(values)))


def resolve_cpus(cpus: Iterable[int] | None) -> tuple[int, ...]:
    """The CPUs to plan over: ``cpus``, which must all be CPUs the calling thread may use, or all
    of those when None. TypeError or ValueError naming ``cpus`` otherwise."""
    allowed = os.sched_getaffinity(0)
    if cpus is None:
        return tuple(sorted(allowed))
    chosen = check_cpus("cpus", cpus)
    if outside := set(chosen) - allowed:
        raise ValueError(f"cpus holds CPU {format_cpus(outside)}, which this thread may not use "
                         f"(allowed: {format_cpus(allowed)})")
    return chosen


def check_sqpoll(value: object) -> SqpollChoice:
    """``value`` if it is True, False or "auto"; TypeError or ValueError otherwise."""
    if isinstance(value, bool) or value == "auto":
        return value
    if isinstance(value, str):
        raise ValueError(f"sqpoll must be True, False or 'auto', got {value!r}")
    raise TypeError(f"sqpoll must be a bool or 'auto', not {type(value).__name__}")


def usable_cpus(cpus: int, quota: float | None) -> int:
    """How many of ``cpus`` CPUs can run at once under a cgroup ``quota`` (in CPUs; None: no limit)."""
    # A SQPOLL thread spends the quota too, so only whole CPUs of it count.
    return cpus if quota is None else min(cpus, math.floor(quota))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def plan_cpus(cpus: Iterable[int], loops: int, *, sq_threads: int, sqpoll: SqpollChoice = "auto",
              quota: float | None = None) -> CpuPlan:
    """The CPU plan for ``loops`` loops needing ``sq_threads`` SQPOLL threads on ``cpus``.

    ``sq_threads`` is 1 for loops in threads of one process, which share one SQPOLL thread,
    and ``loops`` for worker processes, which cannot. ``quota`` is the CPU time a cgroup
    allows, in CPUs (None: no limit): see :func:`usable_cpus`.

    - ``sqpoll=False``: no SQPOLL; the loops may run on every CPU.
    - ``sqpoll="auto"``: SQPOLL only if there are ``loops + sq_threads`` CPUs (within the
      quota); the SQPOLL threads take the last ``sq_threads`` of them, the loops the rest.
    - ``sqpoll=True``: SQPOLL always. With two CPUs or more, the last
      ``min(sq_threads, max(1, CPUs - loops))`` CPUs are reserved for the SQPOLL threads
      (shared round robin when fewer than the threads) and the loops keep the rest; with one
      CPU the SQPOLL thread is not pinned.

    Raises TypeError or ValueError, naming the argument, on bad input.
    """
    allowed = check_cpus("cpus", cpus)
    loops = check_count("loops", loops, 1)
    sq_threads = check_count("sq_threads", sq_threads, 1)
    if sq_threads > loops:
        raise ValueError(f"sq_threads must be at most loops ({loops}), got {sq_threads}")
    sqpoll = check_sqpoll(sqpoll)
    if quota is not None:
        if not isinstance(quota, (int, float)) or isinstance(quota, bool):
            raise TypeError(f"quota must be a number of CPUs or None, not {type(quota).__name__}")
        if not math.isfinite(quota) or quota <= 0:
            raise ValueError(f"quota must be a positive number of CPUs, got {quota!r}")
    usable = usable_cpus(len(allowed), quota)
    where = _plural(len(allowed), "CPU") + (f" with a quota of {quota:g} CPUs" if quota is not None else "")
    if sqpoll is False:
        return CpuPlan(allowed, loops, False, allowed, (), "SQPOLL off (sqpoll=False)")
    if sqpoll == "auto":
        needed = loops + sq_threads
        if usable < needed:
            threads = _plural(sq_threads, "SQPOLL thread")
            return CpuPlan(allowed, loops, False, allowed, (),
                           f"{where}: no CPU to spare for {'a SQPOLL thread' if sq_threads == 1 else threads} "
                           f"({_plural(loops, 'loop')} and {threads} need {needed})")
        reserved = sq_threads
    elif len(allowed) == 1:
        return CpuPlan(allowed, loops, True, allowed, (),
                       f"{where}: sqpoll=True, the SQPOLL thread shares it with the loops (not pinned)")
    else:
        reserved = min(sq_threads, max(1, len(allowed) - loops))
    loop_cpus, sq_cpus = allowed[:-reserved], allowed[-reserved:]
    shared = "" if reserved == sq_threads else f", shared by {sq_threads}"
    return CpuPlan(allowed, loops, True, loop_cpus, sq_cpus,
                   f"{where}: {_plural(loops, 'loop')} on CPU {format_cpus(loop_cpus)}, "
                   f"{'the SQPOLL thread' if sq_threads == 1 else 'SQPOLL threads'} on "
                   f"CPU {format_cpus(sq_cpus)}{shared}")


@dataclass(frozen=True)
class Machine:
    """What the plan needs to know about this machine: the CPUs this thread may run on, the
    cgroup's CPU quota (in CPUs, None: no limit), and why SQPOLL cannot be used (None: it can,
    or it was not probed)."""

    cpus: tuple[int, ...]
    quota: float | None
    sqpoll_problem: str | None


def _cgroup_quota(proc: str, sysfs: str) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``)."""
    try:
        with open(f"{proc}/self/cgroup", encoding="ascii") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        path = path.lstrip("/")
        try:
            if controllers == "":
                with open(os.path.join(sysfs, "fs/cgroup", path, "cpu.max"), encoding="ascii") as f:
                    quota, period = f.read().split()
                if quota != "max":
                    return int(quota) / int(period)
            elif "cpu" in controllers.split(","):
                base = os.path.join(sysfs, "fs/cgroup", controllers, path)
                with open(os.path.join(base, "cpu.cfs_quota_us"), encoding="ascii") as f:
                    quota_us = int(f.read())
                with open(os.path.join(base, "cpu.cfs_period_us"), encoding="ascii") as f:
                    period_us = int(f.read())
                if quota_us > 0:
                    return quota_us / period_us
        except (OSError, ValueError):
            continue
    return None


def sqpoll_problem() -> str | None:
    """Why this process cannot create a SQPOLL ring, or None when it can (it creates and closes one)."""
    try:
        ringloop.new_event_loop(sqpoll=True, entries=1).close()
    except RuntimeError as exc:
        return str(exc)
    return None


def read_machine(*, probe_sqpoll: bool = True, proc: str = "/proc", sysfs: str = "/sys") -> Machine:
    """The CPUs the calling thread may run on, the cgroup CPU quota, and (if ``probe_sqpoll``)
    whether SQPOLL works here. ``proc`` and ``sysfs`` are where /proc and /sys are mounted."""
    return Machine(tuple(sorted(os.sched_getaffinity(0))), _cgroup_quota(proc, sysfs),
                   sqpoll_problem() if probe_sqpoll else None)


def sqpoll_auto_info(machine: Machine | None = None) -> dict[str, object]:
    """For ``python -m ringloop info``: whether ``sqpoll="auto"`` would use SQPOLL here for one
    loop, and why, plus the largest LoopGroup and serve() that still get it.

    Returns a JSON-ready dict: ``uses_sqpoll`` (bool), ``reason`` (str), ``max_group_threads``
    and ``max_serve_workers`` (0 when none).
    """
    if machine is None:
        machine = read_machine()
    elif not isinstance(machine, Machine):
        raise TypeError(f"machine must be a Machine or None, not {type(machine).__name__}")
    if machine.sqpoll_problem is not None:
        return {"uses_sqpoll": False, "reason": f"SQPOLL is refused here: {machine.sqpoll_problem}",
                "max_group_threads": 0, "max_serve_workers": 0}
    plan = plan_cpus(machine.cpus, 1, sq_threads=1, quota=machine.quota)
    usable = usable_cpus(len(machine.cpus), machine.quota)
    return {"uses_sqpoll": plan.sqpoll, "reason": plan.reason,
            "max_group_threads": max(0, usable - 1), "max_serve_workers": usable // 2}


def describe_sqpoll_auto(info: Mapping[str, object]) -> str:
    """One line from :func:`sqpoll_auto_info`'s dict: would ``sqpoll="auto"`` use SQPOLL, and why."""
    if not info["uses_sqpoll"]:
        return f"no: {info['reason']}"
    return (f"yes: {info['reason']} (up to LoopGroup(threads={info['max_group_threads']}) "
            f"or serve(workers={info['max_serve_workers']}))")


def sqpoll_auto_reason(machine: Machine | None = None) -> str:
    """For ``python -m ringloop info``: would ``sqpoll="auto"`` use SQPOLL here, and why, in one line."""
    return describe_sqpoll_auto(sqpoll_auto_info(machine))
