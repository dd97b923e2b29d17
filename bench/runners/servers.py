"""The server runner: every server workload on every loop (and the C limit), round after round.

Each cell (workload, server, round) is a fresh server process pinned to one
CPU and a load generator pinned to another.  Around the load, the harness
reads the server's CPU time from /proc and, when perf works here, counts its
syscalls.  A cell whose loop lacks an API is recorded as "not supported" and
not retried; any other failure is recorded and retried next round.  No cell
can stop the run.

A workload with an ``environment`` (a database the bench starts, say) has it
entered once, before its first cell, and left after the last round; when it
is unavailable here its rows read "n/a (not run: <why>)".  A workload with a
``server`` command serves a third-party application instead of the server
app (``bench/apps``).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..load.generator import Address, LoadError, LoadResult
from ..loops import LoopSpec, probe
from ..registry import Client, LoadSettings, ServerWorkload, Unavailable
from ..report.stats import Summary, summarize
from . import ctools
from . import server_process as servers
from .procstat import SyscallCounter, cpu_seconds, perf_problem

C_SERVER = "c-liburing"  # the column of the C reference server (bench/c/echo_uring.c)
#: The metrics of one successful cell; ops are round trips (echo) or requests (HTTP).
METRICS = ("ops_per_s", "mb_per_s", "cpu_us_per_op", "syscalls_per_op", "p50_us", "p99_us", "load_cpu_util")


@dataclass(frozen=True)
class ServerRun:
    """One cell: ``metrics`` when it worked, else ``error`` ("not supported: …" or "failed: …").

    ``workload`` is the workload's name, or its ``reference`` name for the C server.
    ``load`` is the load generator's own report.
    """

    workload: str
    server: str
    round: int
    metrics: dict[str, float] | None
    error: str | None = None
    load: dict[str, Any] = field(default_factory=dict)


@dataclass
class ServerResults:
    """Everything the server runner produced, and what it left out and why."""

    workloads: list[ServerWorkload]
    servers: list[str]  # every server asked for, C reference first: the table's rows per workload
    missing: dict[str, str]  # server -> why it did not run at all
    skipped: dict[str, str]  # workload -> why it did not run at all (a missing tool)
    notes: list[str]  # run-wide notes (no perf, one CPU, …)
    rounds: int
    seconds: float
    runs: list[ServerRun]

    def per_round(self, workload: str, server: str, metric: str) -> dict[int, float]:
        """{round: value} of ``metric`` over the successful runs of one cell."""
        return {r.round: r.metrics[metric] for r in self.runs
                if r.workload == workload and r.server == server and r.metrics and metric in r.metrics}

    def summary(self, workload: str, server: str, metric: str) -> Summary | None:
        """Median and min–max of ``metric`` over the rounds; None when no run measured it."""
        samples = list(self.per_round(workload, server, metric).values())
        return summarize(samples) if samples else None

    def error(self, workload: str, server: str) -> str | None:
        """Why a cell has no measurement (its last error), or None when it has one or never ran."""
        runs = [r for r in self.runs if r.workload == workload and r.server == server]
        if not runs or any(r.metrics for r in runs):
            return None
        return runs[-1].error


def pick_cpus() -> tuple[int | None, int | None, str | None]:
    """(server CPU, load CPU, note): two different CPUs this process may use, or a note why not."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return cpus[0], cpus[0], "only one CPU is available: server and load generator share it"
    return cpus[0], cpus[1], None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for servers that cannot print theirs)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_listening(argv: Sequence[str], address: Address, cpu: int | None,
                    timeout: float = servers.START_TIMEOUT) -> servers.Server:
    """Start ``argv`` (a server that prints no READY line) on CPU ``cpu``; return once ``address`` accepts.

    For third-party servers started on a fixed TCP port (``ready="port"``):
    the probe connection is closed at once.  Raises servers.ServerFailed when
    the process exits first or ``timeout`` passes.
    """
    if not address.port:
        raise ValueError("a server without a READY line needs a fixed TCP port")
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=servers.REPO)
    if cpu is not None:
        try:
            os.sched_setaffinity(proc.pid, {cpu})
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            last = (err.strip().splitlines() or out.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
            raise servers.ServerFailed(last[:200])
        try:
            with socket.create_connection(("127.0.0.1", address.port), timeout=1.0):
                return servers.Server(proc, address)
        except OSError:
            time.sleep(0.02)
    proc.kill()
    _, err = proc.communicate()
    raise servers.ServerFailed(f"port {address.port} not accepting within {timeout:.0f} s: {err.strip()[-200:]}")


def measure_cell(argv: Sequence[str], address: Address, client: Client, settings: LoadSettings,
                 server_cpu: int | None, count_syscalls: bool,
                 ready: str = "line") -> tuple[dict[str, float], LoadResult]:
    """Start the server ``argv``, load it with ``client``, stop it; its metrics and the client's report.

    ``ready`` is how the server says it listens: "line" (``READY <port>``, see
    :func:`server_process.start`) or "port" (:func:`start_listening`).
    Raises servers.Unsupported when the server's loop lacks an API (at
    start-up or while serving), servers.ServerFailed or LoadError on any other
    failure, including a run without a single completed operation or with
    connection errors.
    """
    server = start_listening(argv, address, server_cpu) if ready == "port" else \
        servers.start(argv, address, server_cpu)
    load: LoadResult | None = None
    try:
        counter = SyscallCounter(server.pid) if count_syscalls else None
        if counter is not None:
            counter.start()
        cpu_before = cpu_seconds(server.pid)
        try:
            load = client(server.address, settings)
        finally:
            cpu_after = cpu_seconds(server.pid)  # a dead server is a zombie until stop(): still readable
            syscalls = counter.stop() if counter is not None else None
    finally:
        ended = server.stop()
    if ended is not None:
        raise ended  # it died during the run: that, not the client's view of it, is the reason
    assert load is not None
    if load.ops == 0 or load.ops_total == 0:
        raise LoadError("no operation completed")
    if load.errors:
        raise LoadError(f"{load.errors} connection error(s)")
    metrics = {
        "ops_per_s": load.ops_per_s, "mb_per_s": load.mb_per_s, "p50_us": load.p50_us, "p99_us": load.p99_us,
        "cpu_us_per_op": (cpu_after - cpu_before) / load.ops_total * 1e6,
    }
    if syscalls is not None:
        metrics["syscalls_per_op"] = syscalls / load.ops_total
    if load.load_cpu_util is not None:
        metrics["load_cpu_util"] = load.load_cpu_util
    return metrics, load


@dataclass(frozen=True)
class _Cell:
    workload: ServerWorkload
    key: str  # the name the run is recorded under
    server: str
    argv: Callable[[Address], list[str]]


def _loop_argv(w: ServerWorkload, loop: str, env: Any) -> Callable[[Address], list[str]]:
    if w.server is not None:
        return lambda a, server=w.server: server(loop, a, env)
    return lambda a: servers.python_server_argv(loop, w.mode, a)


def _cells(workloads: Sequence[ServerWorkload], loops: Sequence[LoopSpec], c_binary: Path | None,
           envs: dict[str, Any] | None = None) -> list[_Cell]:
    """One round's cells in order: per workload, its C reference (first time only), then each loop.

    ``envs`` holds what each workload's ``environment`` yielded (None for those without one).
    """
    cells: list[_Cell] = []
    seen: set[str] = set()
    for w in workloads:
        if w.reference is not None and c_binary is not None and w.reference not in seen:
            seen.add(w.reference)
            cells.append(_Cell(w, w.reference, C_SERVER, lambda a, b=str(c_binary): [b, *a.flags()]))
        for spec in loops:
            cells.append(_Cell(w, w.name, spec.name, _loop_argv(w, spec.name, (envs or {}).get(w.name))))
    return cells


def _run_cell(cell: _Cell, rnd: int, settings: LoadSettings, server_cpu: int | None,
              count_syscalls: bool) -> ServerRun:
    tmp = tempfile.mkdtemp(prefix="bench-") if cell.workload.unix else None
    address = Address(unix=os.path.join(tmp, "echo.sock")) if tmp else \
        Address(port=free_port() if cell.workload.ready == "port" else 0)
    try:
        metrics, load = measure_cell(cell.argv(address), address, cell.workload.client, settings,
                                     server_cpu, count_syscalls, ready=cell.workload.ready)
        return ServerRun(cell.key, cell.server, rnd, metrics, None, load.raw)
    except servers.Unsupported as exc:
        return ServerRun(cell.key, cell.server, rnd, None, f"not supported: {exc}")
    except (servers.ServerFailed, LoadError, OSError) as exc:
        return ServerRun(cell.key, cell.server, rnd, None, f"failed: {exc}")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _short(run: ServerRun) -> str:
    if run.metrics is None:
        return f"{run.server} n/a"
    rate = run.metrics["ops_per_s"]
    return f"{run.server} {rate / 1e3:.1f}k" if rate >= 1e3 else f"{run.server} {rate:.0f}"


def run(workloads: Sequence[ServerWorkload], loops: Sequence[LoopSpec], rounds: int, seconds: float,
        warmup: float = 0.1, progress: Callable[[str], None] = print) -> ServerResults:
    """Run each server workload on each available loop and the C reference, ``rounds`` times, interleaved.

    Workloads whose ``requires()`` names a problem, loops that are not
    installed and the C server when it cannot be built are left out with a
    ``progress`` note and recorded in the results.  ``progress`` also gets a
    line per workload per round with its throughputs and an ETA.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    usable, missing = probe(loops)
    notes: list[str] = []
    skipped = {w.name: problem for w in workloads if (problem := w.requires()) is not None}
    active = [w for w in workloads if w.name not in skipped]
    unavailable: list[ServerWorkload] = []  # their environment could not be set up: rows that say why

    c_binary: Path | None = None
    if any(w.reference for w in active):
        try:
            c_binary = ctools.build("echo_uring")
        except ctools.BuildError as exc:
            missing[C_SERVER] = str(exc)
    server_cpu, load_cpu, cpu_note = pick_cpus()
    problem = perf_problem() if active else None
    if problem is not None:
        notes.append(f"syscalls per operation omitted: {problem}")
    if cpu_note:
        notes.append(cpu_note)
    for line in [*(f"skipping {n}: {why}" for n, why in {**missing, **skipped}.items()), *notes]:
        progress(line)

    settings = LoadSettings(seconds, warmup, load_cpu)
    with ExitStack() as stack:
        results: list[ServerRun] = []
        envs: dict[str, Any] = {}
        for w in list(active):
            try:
                envs[w.name] = stack.enter_context(w.environment())
            except Unavailable as exc:
                progress(f"not running {w.name}: {exc}")
                active.remove(w)
                results += [ServerRun(w.name, spec.name, 1, None, f"not run: {exc}") for spec in usable]
                unavailable.append(w)
        cells = _cells(active, usable, c_binary, envs)
        _rounds(active, cells, rounds, settings, server_cpu, problem is None, results, progress)
    servers_asked = ([C_SERVER] if any(w.reference for w in workloads) else []) + [spec.name for spec in loops]
    ran = [w for w in workloads if w in active or w in unavailable]
    return ServerResults(ran, servers_asked, missing, skipped, notes, rounds, seconds, results)


def _rounds(active: Sequence[ServerWorkload], cells: Sequence[_Cell], rounds: int, settings: LoadSettings,
            server_cpu: int | None, count_syscalls: bool, results: list[ServerRun],
            progress: Callable[[str], None]) -> None:
    """Run ``cells`` ``rounds`` times, appending to ``results``; a line per workload per round."""
    unsupported: set[tuple[str, str]] = set()
    started, done, planned = time.perf_counter(), 0, rounds * len(cells)
    for rnd in range(1, rounds + 1):
        for w in active:
            line = []
            for cell in (c for c in cells if c.workload is w):
                if (cell.key, cell.server) in unsupported:
                    planned -= 1
                    continue
                result = _run_cell(cell, rnd, settings, server_cpu, count_syscalls)
                if result.error and result.error.startswith("not supported"):
                    unsupported.add((cell.key, cell.server))  # an API does not appear between rounds
                results.append(result)
                line.append(_short(result))
                done += 1
            if line:
                eta = (time.perf_counter() - started) / done * (planned - done)
                progress(f"round {rnd}/{rounds}  {w.name:<24} {'  '.join(line)} ops/s  ETA {eta:4.0f} s")
