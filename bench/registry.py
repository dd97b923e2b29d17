"""The workload registry: adding a workload is one function plus a decorator line.

Three kinds:

- in-process workloads (:func:`workload`): ``async def name(loop, n) -> None``
  performs exactly ``n`` operations on the running ``loop``; the harness
  picks ``n`` (see :func:`bench.runners.inprocess.calibrate`), times the whole coroutine
  and divides by ``n``.  Setup that is not an operation (a thread start, say)
  must stay small next to a measurement of about 100 ms.  Group ``loop`` holds
  the loop-overhead micro-benchmarks; :mod:`bench.workloads.file` adds the
  ``file`` group on top of this kind.
- server workloads (:func:`server_workload`): a server process per loop
  (``python -m bench.runners.server_app --mode M``, or the command a workload's
  ``server`` builds: a third-party application's own launcher), loaded by a
  client function ``(address, settings) -> LoadResult`` from another process
  on another CPU; see :mod:`bench.runners.servers`.
- micro-benchmarks (:class:`MicroWorkload`): the pytest-benchmark suite in
  ``bench/micro`` (group ``micro``), run as a whole by :mod:`bench.micro.runner`.

Every workload belongs to a group, and ``--only`` takes names and groups.
"""
from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Union

from .load.generator import Address, LoadResult

WorkloadFn = Callable[[asyncio.AbstractEventLoop, int], Awaitable[None]]


@dataclass(frozen=True)
class Workload:
    """A registered in-process benchmark; ``only_on`` names the loops it runs on (None: all)."""

    name: str
    fn: WorkloadFn
    description: str
    only_on: frozenset[str] | None = None
    group: str = "loop"

    def runs_on(self, loop_name: str) -> bool:
        """Whether this workload applies to the loop called ``loop_name``."""
        return self.only_on is None or loop_name in self.only_on


@dataclass(frozen=True)
class LoadSettings:
    """How long to load a server (after an unrecorded ``warmup``), and the CPU the client runs on."""

    seconds: float
    warmup: float
    cpu: int | None


Client = Callable[[Address, LoadSettings], LoadResult]


@dataclass(frozen=True)
class ServerWorkload:
    """A registered server benchmark.

    ``mode`` is the server app's ``--mode``; ``unix`` serves on a Unix
    socket instead of TCP; ``client`` drives the load; ``reference`` names the
    C liburing echo run that this workload is compared with (workloads with
    the same transport and message size share one), None when there is none;
    ``reference_args`` are the extra flags the C server needs (none today);
    ``requires`` returns why the workload cannot run here (a missing tool), or
    None.

    A workload that serves a third-party application instead of the server
    app sets ``server``: ``(loop name, address, env) -> argv`` of a process
    that serves on ``address`` and prints ``READY <port>`` (or, with
    ``ready="port"``, just listens there: the runner then picks a free port
    and waits until it accepts connections).  ``env`` is what ``environment``
    yielded: a context entered once around all of the workload's cells (a
    database the bench starts, say); its ``__enter__`` may raise
    :class:`Unavailable` to leave the workload out with that reason.
    ``quick=False`` leaves the workload out of ``--quick`` unless ``--only``
    names it or its group.
    """

    name: str
    group: str
    description: str
    mode: str
    client: Client
    unix: bool = False
    reference: str | None = None
    requires: Callable[[], str | None] = lambda: None
    server: Callable[[str, Address, Any], list[str]] | None = None
    ready: str = "line"
    environment: Callable[[], AbstractContextManager[Any]] = nullcontext
    quick: bool = True


class Unavailable(Exception):
    """A workload's environment cannot be set up here; the message says why (shown in its rows)."""


@dataclass(frozen=True)
class MicroWorkload:
    """One operation of the pytest-benchmark suite in ``bench/micro``; ``op`` is its key in ``bench.micro.ops.OPS``."""

    name: str
    op: str
    description: str
    group: str = "micro"


AnyWorkload = Union[Workload, ServerWorkload, MicroWorkload]
WORKLOADS: dict[str, AnyWorkload] = {}
GROUP_TITLES: dict[str, str] = {}


def title(group: str, text: str) -> None:
    """Name ``group``'s section of the report (its heading on docs/benchmarks.md)."""
    GROUP_TITLES[group] = text


def register(w: AnyWorkload) -> AnyWorkload:
    """Add ``w`` to the registry; a duplicate name, or a name equal to a group's, is an error."""
    if w.name in WORKLOADS or w.name in groups():
        raise ValueError(f"workload {w.name!r} is registered twice or names a group")
    WORKLOADS[w.name] = w
    return w


def workload(description: str, *, only_on: tuple[str, ...] | None = None,
             group: str = "loop") -> Callable[[WorkloadFn], WorkloadFn]:
    """Decorator: register an in-process workload under the function's own name."""

    def decorate(fn: WorkloadFn) -> WorkloadFn:
        register(Workload(fn.__name__, fn, description, None if only_on is None else frozenset(only_on), group))
        return fn

    return decorate


def groups() -> list[str]:
    """The groups of the registered workloads, in registry order."""
    return list(dict.fromkeys(w.group for w in WORKLOADS.values()))


def select(names: list[str] | None) -> list[AnyWorkload]:
    """The registered workloads named by ``names`` (workload or group names), in registry order; all when None.

    Raises ValueError, listing the valid names, when ``names`` is empty or
    holds an unknown name.
    """
    if names is None:
        return list(WORKLOADS.values())
    unknown = [name for name in names if name not in WORKLOADS and name not in groups()]
    if unknown or not names:
        problem = f"unknown workload(s): {', '.join(unknown)}" if unknown else "no workload named"
        raise ValueError(f"{problem}; valid: {', '.join(WORKLOADS)}; groups: {', '.join(groups())}")
    wanted = set(names)
    return [w for w in WORKLOADS.values() if w.name in wanted or w.group in wanted]
