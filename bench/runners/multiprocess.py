"""Multi-process servers: ``ringloop.serve(workers=N)``, with and without SQPOLL, against uvloop
workers started the way uvicorn (and gunicorn's uvicorn worker) start them: forked by a parent
that listens once, all accepting on that one socket.

    python -m bench.runners.multiprocess [--only W] [--rounds R] [--seconds S] [--json PATH]
        runs the ``multicore`` workloads (bench/workloads/multicore.py), prints the table
    python -m bench.runners.multiprocess serve --server S --mode M --workers N --cpus LIST
        one such server (S: ringloop, ringloop+sqpoll, uvloop; M: http, protocol): prints
        ``PARENT <pid> <port>``, then ``WORKER <pid>`` as each worker listens; stops on SIGTERM

Each cell is a fresh server. Its CPU time is the sum over the parent and every worker (a
SQPOLL thread is a thread of its worker, so it is included); syscalls are counted over the
same processes with ``perf stat`` when perf works here. The server gets the first CPUs (N for
a plain server, 2N with SQPOLL: one per worker and one per SQPOLL thread); the load generator
gets the next CPU, or, when none is left, shares the first worker's CPU.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from ..load.generator import Address, LoadError
from ..registry import LoadSettings, ServerWorkload, select
from ..report.machine import describe
from ..report.stats import paired_ratio
from .procstat import SYSCALL_EVENT, cpu_seconds, perf_problem
from .server_app import EchoProtocol, HttpProtocol

SERVERS = ("ringloop", "ringloop+sqpoll", "uvloop")
FACTORIES = {"http": HttpProtocol, "protocol": EchoProtocol}
START_TIMEOUT = 30.0
REPO = Path(__file__).resolve().parents[2]
DEFAULT_JSON = REPO / "bench" / "out" / "multicore.json"


def _say(line: str) -> None:
    os.write(1, f"{line}\n".encode())  # one write per line: workers share the pipe


# --- the servers ---------------------------------------------------------------------------

async def _ringloop_worker(mode: str, port: int, index: int) -> None:
    from ringloop.scheduler import reuseport_socket

    loop = asyncio.get_running_loop()
    server = await loop.create_server(FACTORIES[mode], sock=reuseport_socket("127.0.0.1", port))
    _say(f"WORKER {os.getpid()}")
    async with server:
        await server.serve_forever()


def _serve_ringloop(mode: str, workers: int, sqpoll: bool, cpus: list[int]) -> None:
    from ringloop.scheduler import reuseport_socket, serve

    holder = reuseport_socket("127.0.0.1", 0, backlog=None)  # the port, for every worker
    port = holder.getsockname()[1]
    _say(f"PARENT {os.getpid()} {port}")
    serve(functools.partial(_ringloop_worker, mode, port), workers, sqpoll=sqpoll, cpus=cpus, stop_timeout=5.0)
    holder.close()


def _uvloop_worker(mode: str, sock: socket.socket) -> None:
    import uvloop

    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    loop = uvloop.new_event_loop()
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    server = loop.run_until_complete(loop.create_server(FACTORIES[mode], sock=sock))
    _say(f"WORKER {os.getpid()}")
    loop.run_forever()
    server.close()
    loop.close()


def _serve_uvloop(mode: str, workers: int, cpus: list[int]) -> None:
    """uvicorn's process model: the parent listens, its workers accept on that socket."""
    os.sched_setaffinity(0, cpus)  # the workers inherit it
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    _say(f"PARENT {os.getpid()} {sock.getsockname()[1]}")
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # taken by sigwait below
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_uvloop_worker, args=(mode, sock)) for _ in range(workers)]
    for process in processes:
        process.start()
    signal.sigwait({signal.SIGTERM})
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(5.0)
        if process.exitcode is None:
            process.kill()
            process.join()


def serve_main(args: argparse.Namespace) -> int:
    """The server side: ``serve --server S --mode M --workers N --cpus LIST``."""
    cpus = [int(cpu) for cpu in args.cpus.split(",")]
    if args.server == "uvloop":
        _serve_uvloop(args.mode, args.workers, cpus)
    else:
        _serve_ringloop(args.mode, args.workers, args.server == "ringloop+sqpoll", cpus)
    return 0


# --- the harness ---------------------------------------------------------------------------

def placement(server: str, workers: int, cpus: Sequence[int]) -> tuple[list[int], int]:
    """(the server's CPUs, the load generator's CPU) for ``workers`` workers of ``server``."""
    wanted = 2 * workers if server == "ringloop+sqpoll" else workers
    given = list(cpus[:wanted])
    spare = [cpu for cpu in cpus if cpu not in given]
    return given, spare[0] if spare else given[0]


class MultiServer:
    """A server started by :func:`start`: its parent, port and worker pids."""

    def __init__(self, proc: subprocess.Popen[str], port: int, pids: list[int]) -> None:
        self.proc = proc
        self.port = port
        self.pids = pids

    def stop(self) -> None:
        """SIGTERM the parent (it stops its workers) and wait; SIGKILL the group if that hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def start(server: str, mode: str, workers: int, cpus: Sequence[int]) -> MultiServer:
    """Start a server and return once its ``workers`` workers listen; RuntimeError if they do not."""
    argv = [sys.executable, "-m", "bench.runners.multiprocess", "serve", "--server", server, "--mode", mode,
            "--workers", str(workers), "--cpus", ",".join(map(str, cpus))]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
                            start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    port, pids = 0, []
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while len(pids) < workers + 1:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError(f"{server} exited before its workers listened")
            words = line.split()
            if words[0] == "PARENT":
                pids.insert(0, int(words[1]))
                port = int(words[2])
            elif words[0] == "WORKER":
                pids.append(int(words[1]))
    except (queue.Empty, RuntimeError):
        MultiServer(proc, port, pids).stop()
        raise RuntimeError(f"{server}: {len(pids)} of {workers} worker(s) and parent ready "
                           f"within {START_TIMEOUT:g} s") from None
    return MultiServer(proc, port, pids)


class SyscallCount:
    """``perf stat`` over several processes, switched on and off through its control pipe (each
    switch acknowledged, so the count covers exactly the load)."""

    def __init__(self, pids: list[int]) -> None:
        ctl_read, self.ctl = os.pipe()
        self.ack, ack_write = os.pipe()
        self.proc = subprocess.Popen(
            ["perf", "stat", "-x,", "-D", "-1", "--control", f"fd:{ctl_read},{ack_write}", "-e", SYSCALL_EVENT,
             "-p", ",".join(map(str, pids))], pass_fds=(ctl_read, ack_write), stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        os.close(ctl_read)
        os.close(ack_write)

    def switch(self, command: bytes) -> None:
        """Send ``enable`` or ``disable`` and wait for perf's acknowledgement."""
        os.write(self.ctl, command + b"\n")
        os.read(self.ack, 16)

    def total(self) -> int | None:
        """End perf; the syscalls counted, or None if it reported none."""
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=START_TIMEOUT)
        os.close(self.ctl)
        os.close(self.ack)
        counts = [line.split(",")[0] for line in err.splitlines() if SYSCALL_EVENT in line]
        return int(counts[0]) if counts and counts[0].isdigit() else None


@dataclass(frozen=True)
class Cell:
    """One measurement: a workload on a server in a round; ``metrics`` or ``error``."""

    workload: str
    server: str
    round: int
    metrics: dict[str, float] | None
    error: str | None = None


def measure(workload: ServerWorkload, server: str, workers: int, seconds: float, count_syscalls: bool) -> dict[str, float]:
    """Start ``server`` with ``workers`` workers, load it with the workload's client, stop it."""
    cpus, load_cpu = placement(server, workers, sorted(os.sched_getaffinity(0)))
    running = start(server, workload.mode, workers, cpus)
    try:
        counter = SyscallCount(running.pids) if count_syscalls else None
        if counter is not None:
            counter.switch(b"enable")
        before = sum(cpu_seconds(pid) for pid in running.pids)
        load = workload.client(Address(port=running.port), LoadSettings(seconds, 0.1, load_cpu))
        used = sum(cpu_seconds(pid) for pid in running.pids) - before
        if counter is not None:
            counter.switch(b"disable")
        syscalls = counter.total() if counter is not None else None
    finally:
        running.stop()
    if load.ops_total == 0 or load.errors:
        raise LoadError(f"{load.ops_total} operations, {load.errors} errors")
    metrics = {"ops_per_s": load.ops_per_s, "cpu_us_per_op": used / load.ops_total * 1e6,
               "p50_us": load.p50_us, "p99_us": load.p99_us}
    if syscalls is not None:
        metrics["syscalls_per_op"] = syscalls / load.ops_total
    return metrics


def run(names: list[str] | None, rounds: int, seconds: float, progress: Any = print) -> tuple[list[Cell], dict[str, str]]:
    """Every multicore workload (or those named) on every server, ``rounds`` times, interleaved.

    Returns the cells and {workload: why it was skipped}.
    """
    from ..workloads import multicore

    chosen = [w for w in select(names or ["multicore"]) if isinstance(w, ServerWorkload) and w.group == "multicore"]
    skipped = {w.name: why for w in chosen if (why := multicore.problem(w.name)) is not None}
    for name, why in skipped.items():
        progress(f"skipping {name}: {why}")
    problem = perf_problem()
    if problem is not None:
        progress(f"syscalls per operation omitted: {problem}")
    cells = []
    for rnd in range(1, rounds + 1):
        for workload in (w for w in chosen if w.name not in skipped):
            workers = multicore.SETUPS[workload.name][0]
            line = []
            for server in SERVERS:
                try:
                    cell = Cell(workload.name, server, rnd, measure(workload, server, workers, seconds, problem is None))
                    line.append(f"{server} {cell.metrics['ops_per_s'] / 1e3:.1f}k")  # type: ignore[index]
                except (RuntimeError, LoadError, OSError) as exc:
                    cell = Cell(workload.name, server, rnd, None, f"failed: {exc}")
                    line.append(f"{server} n/a")
                cells.append(cell)
            progress(f"round {rnd}/{rounds}  {workload.name:<20} {'  '.join(line)} ops/s")
    return cells, skipped


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def table(cells: list[Cell]) -> str:
    """A Markdown table: per workload and server, requests/s as median (min–max) over the rounds,
    paired ratios of requests/s (each round's own ratio, then the median: a slow spell of the
    machine hits both sides of a round), and the medians of the other metrics."""
    rows = ["| workload | server | requests/s | ÷ uvloop | ÷ without SQPOLL | CPU µs/request | syscalls/request "
            "| p50 µs | p99 µs |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for workload in dict.fromkeys(cell.workload for cell in cells):
        rate = {server: {c.round: c.metrics["ops_per_s"] for c in cells
                         if c.workload == workload and c.server == server and c.metrics}
                for server in SERVERS}
        for server in SERVERS:
            runs = [c.metrics for c in cells if c.workload == workload and c.server == server and c.metrics]
            if not runs:
                rows.append(f"| {workload} | {server} | failed | | | | | | |")
                continue

            def median(key: str, runs: list[dict[str, float]] = runs) -> str:
                values = [m[key] for m in runs if key in m]
                return _number(statistics.median(values)) if values else "–"

            def ratio(other: str, server: str = server) -> str:
                value = paired_ratio(rate[server], rate[other]) if server != other else None
                return f"{value:.2f}" if value is not None else ""

            rates = list(rate[server].values())
            rows.append(f"| {workload} | {server} | {_number(statistics.median(rates))} "
                        f"({_number(min(rates))}–{_number(max(rates))}) | {ratio('uvloop')} | "
                        f"{ratio('ringloop') if server == 'ringloop+sqpoll' else ''} | {median('cpu_us_per_op')} | "
                        f"{median('syscalls_per_op')} | {median('p50_us')} | {median('p99_us')} |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the multicore workloads (or, with ``serve``, be one of the servers)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        parser = argparse.ArgumentParser(prog="python -m bench.runners.multiprocess serve")
        parser.add_argument("--server", required=True, choices=SERVERS)
        parser.add_argument("--mode", required=True, choices=sorted(FACTORIES))
        parser.add_argument("--workers", required=True, type=int)
        parser.add_argument("--cpus", required=True)
        return serve_main(parser.parse_args(argv[1:]))
    parser = argparse.ArgumentParser(prog="python -m bench.runners.multiprocess", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", metavar="WORKLOAD", help="multicore workloads to run (default: all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    names = None if args.only is None else [n for arg in args.only for n in arg.split(",") if n]
    cells, skipped = run(names, args.rounds, args.seconds)
    print(f"\n{describe()}\n\n{table(cells)}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": describe(), "skipped": skipped,
                                     "cells": [asdict(cell) for cell in cells]}, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
