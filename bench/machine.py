"""A one-line description of the machine a run was taken on."""
from __future__ import annotations

import os
import platform


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The first ``model name`` in ``cpuinfo``, or "unknown CPU" when there is none."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return "unknown CPU"


def describe() -> str:
    """CPU model, cores this process may use, kernel, and Python, in one line."""
    cores = len(os.sched_getaffinity(0))
    return (
        f"{cpu_model()}, {cores} core{'s' if cores != 1 else ''}, "
        f"Linux {platform.release()}, {platform.python_implementation()} {platform.python_version()}"
    )
