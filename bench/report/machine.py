"""What a run was taken on: the machine in one line, and the external tools' versions."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess


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


def _first_line(argv: list[str]) -> str | None:
    """The first output line of ``argv`` (stdout or stderr), or None when it cannot run."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].split(" Copyright")[0] if lines else None  # wrk appends its copyright


def tools() -> list[str]:
    """The external tools the lab uses and their versions, "<name>: not installed" for the missing ones."""
    found = {
        "cc": _first_line(["cc", "--version"]),
        "perf": _first_line(["perf", "--version"]),
        "wrk": _first_line(["wrk", "-v"]),
    }
    lines = [f"{name}: {version or 'not installed'}" for name, version in found.items()]
    lines.append("liburing headers: " + ("yes" if os.path.exists("/usr/include/liburing.h") else "missing"))
    return lines
