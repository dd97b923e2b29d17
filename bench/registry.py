"""The workload registry: a workload is one coroutine function plus a decorator line.

A workload is ``async def name(loop, n) -> None`` that performs exactly ``n``
operations on the running ``loop``; the harness picks ``n`` (see
:func:`bench.harness.calibrate`), times the whole coroutine and divides by ``n``.
Setup that is not an operation (a thread start, say) must stay small next to a
measurement of about 100 ms.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Awaitable, Callable

WorkloadFn = Callable[[asyncio.AbstractEventLoop, int], Awaitable[None]]


@dataclass(frozen=True)
class Workload:
    """A registered micro-benchmark; ``only_on`` names the loops it runs on (None: all)."""

    name: str
    fn: WorkloadFn
    description: str
    only_on: frozenset[str] | None = None

    def runs_on(self, loop_name: str) -> bool:
        """Whether this workload applies to the loop called ``loop_name``."""
        return self.only_on is None or loop_name in self.only_on


WORKLOADS: dict[str, Workload] = {}


def workload(description: str, *, only_on: tuple[str, ...] | None = None) -> Callable[[WorkloadFn], WorkloadFn]:
    """Decorator: register the function under its own name; duplicate names are an error."""

    def register(fn: WorkloadFn) -> WorkloadFn:
        if fn.__name__ in WORKLOADS:
            raise ValueError(f"workload {fn.__name__!r} is registered twice")
        WORKLOADS[fn.__name__] = Workload(
            fn.__name__, fn, description, None if only_on is None else frozenset(only_on)
        )
        return fn

    return register


def select(names: list[str] | None) -> list[Workload]:
    """The registered workloads called ``names``, in registry order (all when None).

    Raises ValueError, listing the valid names, when ``names`` is empty or
    holds an unknown name.
    """
    if names is None:
        return list(WORKLOADS.values())
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown or not names:
        problem = f"unknown workload(s): {', '.join(unknown)}" if unknown else "no workload named"
        raise ValueError(f"{problem}; valid: {', '.join(WORKLOADS)}")
    wanted = set(names)
    return [w for w in WORKLOADS.values() if w.name in wanted]
