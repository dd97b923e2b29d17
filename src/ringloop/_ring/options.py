"""Validation of the loop's ring options."""
from __future__ import annotations

import os
from dataclasses import dataclass

MAX_ENTRIES = 32768  # the kernel's IORING_MAX_ENTRIES


def _require_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


@dataclass(frozen=True)
class RingOptions:
    """The ring a loop runs on.

    entries: submission queue size, 1..32768 (the kernel rounds it up to a power of two).
    sqpoll: let a kernel thread poll the submission queue (no submit syscalls while it is awake).
    sq_cpu: pin that thread to this CPU (requires sqpoll).
    sq_idle_ms: how long that thread spins idle before it sleeps (requires sqpoll).
    attach_fd: share the SQPOLL thread of the ring with this fd (ATTACH_WQ; requires sqpoll).
    single_issuer: allow SINGLE_ISSUER/DEFER_TASKRUN, which bind the ring to the first
        thread that runs it; pass False to run one loop from several threads in turn.
    """

    entries: int = 256
    sqpoll: bool = False
    sq_cpu: int | None = None
    sq_idle_ms: int | None = None
    attach_fd: int | None = None
    single_issuer: bool = True

    def __post_init__(self) -> None:
        entries = _require_int("entries", self.entries)
        if not 0 < entries <= MAX_ENTRIES:
            raise ValueError(f"entries must be in 1..{MAX_ENTRIES}, got {entries}")
        for name in ("sqpoll", "single_issuer"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, not {type(getattr(self, name)).__name__}")
        if not self.sqpoll:
            for name in ("sq_cpu", "sq_idle_ms", "attach_fd"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} requires sqpoll=True")
        if self.sq_cpu is not None:
            cpu = _require_int("sq_cpu", self.sq_cpu)
            allowed = sorted(os.sched_getaffinity(0))
            if cpu not in allowed:
                raise ValueError(f"sq_cpu={cpu} is not a CPU this process may use (allowed: {allowed})")
        if self.sq_idle_ms is not None:
            idle = _require_int("sq_idle_ms", self.sq_idle_ms)
            if idle <= 0:
                raise ValueError(f"sq_idle_ms must be positive, got {idle}")
        if self.attach_fd is not None and _require_int("attach_fd", self.attach_fd) < 0:
            raise ValueError(f"attach_fd must be a file descriptor, got {self.attach_fd}")
