"""Load generators' common result, and the echo one: the C ``loadgen`` (bench/c/loadgen.c)."""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

#: Extra seconds a load generator may take past its duration before it counts as hung.
GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class Address:
    """Where a server listens: a TCP port on 127.0.0.1, or a Unix socket path."""

    port: int | None = None
    unix: str | None = None

    def flags(self) -> list[str]:
        """``--port N`` or ``--unix PATH``, as both the servers and loadgen take it."""
        return ["--unix", self.unix] if self.unix is not None else ["--port", str(self.port)]


@dataclass(frozen=True)
class LoadResult:
    """What a load generator saw: ``ops`` operations (round trips, requests) in ``seconds``.

    ``ops_total`` counts every operation of the whole run (warm-up included),
    the denominator for server-side counts taken around the whole run.
    ``load_cpu_util`` is the generator's CPU time over its wall time (None
    when unknown); near 1 means it may have been the bottleneck.
    """

    ops: int
    ops_total: int
    seconds: float
    ops_per_s: float
    mb_per_s: float
    p50_us: float
    p99_us: float
    errors: int
    load_cpu_util: float | None = None
    raw: dict[str, Any] = field(default_factory=dict)


class LoadError(RuntimeError):
    """The load generator failed or reported nothing usable."""


def parse_loadgen(text: str) -> LoadResult:
    """Parse loadgen's one-line JSON report; raises LoadError on an error report or bad output."""
    try:
        data = json.loads(text.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise LoadError(f"loadgen printed no JSON report: {text.strip()[:200]!r}") from exc
    if "error" in data:
        raise LoadError(f"loadgen: {data['error']}")
    return LoadResult(
        ops=data["round_trips"], ops_total=data["round_trips_total"], seconds=data["duration_s"],
        ops_per_s=data["rt_per_s"], mb_per_s=data["mb_per_s"], p50_us=data["p50_us"],
        p99_us=data["p99_us"], errors=data["errors"], load_cpu_util=data["cpu_util"], raw=data,
    )


def run_pinned(argv: Sequence[str], cpu: int | None, timeout: float) -> str:
    """Run ``argv`` on CPU ``cpu`` (None: anywhere) and return its stdout; LoadError if it hangs.

    Pinned with os.sched_setaffinity right after the spawn: the few
    instructions it runs first, on any CPU, are start-up, not load.
    """
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if cpu is not None:
        try:
            os.sched_setaffinity(proc.pid, {cpu})
        except ProcessLookupError:
            pass  # already gone: its output says why
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise LoadError(f"{Path(argv[0]).name} did not finish within {timeout:.0f} s") from None
    if not out.strip() and proc.returncode:
        raise LoadError(f"{Path(argv[0]).name} exited with status {proc.returncode}: {err.strip()[-300:]}")
    return out


def run_loadgen(binary: Path, address: Address, *, size: int, connections: int, seconds: float,
                warmup: float, cpu: int | None) -> LoadResult:
    """Echo ping-pong of ``size``-byte messages on ``connections`` connections for ``seconds`` (after ``warmup``)."""
    argv = [str(binary), *address.flags(), "--conns", str(connections), "--size", str(size),
            "--duration", str(seconds), "--warmup", str(warmup)]
    return parse_loadgen(run_pinned(argv, cpu, seconds + warmup + GRACE_SECONDS))
