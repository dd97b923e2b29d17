"""How long should an idle SQPOLL thread spin before it sleeps (``sq_idle_ms``)?

    python -m bench.sqpoll_idle [--quick] [--json PATH]

For each setting (no SQPOLL, then ``sq_idle_ms`` = 1, 10, 100, 1000) a fresh
``ringloop.serve(workers=1)`` echo server is started (its loop on the first CPU, the SQPOLL
thread pinned to the last), and a client on the loop's CPU sends one 64-byte request after
each idle gap of 0.5, 5, 50, 500 and 1500 ms, timing the round trip. Per gap it reports the
latency p50 and p99 (the maximum below 100 samples) and the CPU the SQPOLL thread burned over
that part of the run, as a share of one CPU: the price of keeping it awake.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from .report.machine import describe
from .runners.procstat import cpu_seconds

SETTINGS: tuple[int | None, ...] = (None, 1, 10, 100, 1000)  # None: no SQPOLL
GAPS_MS = (0.5, 5.0, 50.0, 500.0, 1500.0)
#: Requests after each gap; the long gaps get few, or the run would take many minutes.
SAMPLES = {0.5: 400, 5.0: 200, 50.0: 60, 500.0: 16, 1500.0: 8}
DEFAULT_JSON = Path(__file__).resolve().parent / "out" / "sqpoll_idle.json"
TIMEOUT = 30.0


async def _echo_worker(port: int, index: int) -> None:
    import asyncio

    from ringloop.scheduler import reuseport_socket

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)  # type: ignore[attr-defined]

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, sock=reuseport_socket("127.0.0.1", port))
    os.write(1, f"READY {os.getpid()}\n".encode())
    async with server:
        await server.serve_forever()


def _serve(idle: int | None, port: int) -> None:
    """The server side: one worker, SQPOLL with ``idle`` ms (None: without)."""
    from ringloop.scheduler import serve

    cpus = sorted(os.sched_getaffinity(0))
    if idle is None:
        serve(functools.partial(_echo_worker, port), 1, sqpoll=False, cpus=cpus[:1])
    else:
        serve(functools.partial(_echo_worker, port), 1, sqpoll=True, cpus=[cpus[0], cpus[-1]], sq_idle_ms=idle)


def _sqpoll_seconds(pid: int) -> float:
    """CPU time of the SQPOLL threads of ``pid`` so far."""
    total = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            if f.read().startswith("iou-sqp-"):
                total += cpu_seconds(int(tid), proc=f"/proc/{pid}/task")
    return total


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(idle: int | None, samples: dict[float, int]) -> dict[str, Any]:
    """One setting: {gap: {"p50_us", "p99_us", "sqpoll_cpu"}}, after a start-up round trip."""
    from ringloop.scheduler import reuseport_socket

    holder = reuseport_socket("127.0.0.1", 0, backlog=None)
    port = holder.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "bench.sqpoll_idle", "--serve", str(idle or 0), str(port)],
                              stdout=subprocess.PIPE, text=True, start_new_session=True,
                              cwd=Path(__file__).resolve().parent.parent)
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[0]})  # the client shares the loop's CPU, never the SQPOLL thread's
    try:
        assert server.stdout is not None
        words = server.stdout.readline().split()
        if words[:1] != ["READY"]:
            raise RuntimeError(f"the server did not start: {words}")
        worker = int(words[1])
        results: dict[str, Any] = {}
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            message = b"x" * 64
            sock.sendall(message)
            sock.recv(64)
            for gap, count in samples.items():
                latencies = []
                cpu_before, wall_before = _sqpoll_seconds(worker), time.monotonic()
                for _ in range(count):
                    time.sleep(gap / 1000)  # the idle gap is the workload itself
                    started = time.perf_counter()
                    sock.sendall(message)
                    received = 0
                    while received < len(message):
                        received += len(sock.recv(64))
                    latencies.append((time.perf_counter() - started) * 1e6)
                share = (_sqpoll_seconds(worker) - cpu_before) / (time.monotonic() - wall_before)
                results[f"{gap:g}"] = {"p50_us": statistics.median(latencies), "p99_us": _percentile(latencies, 0.99),
                                       "samples": count, "sqpoll_cpu": share}
        return results
    finally:
        os.sched_setaffinity(0, cpus)
        server.send_signal(signal.SIGTERM)
        server.wait(TIMEOUT)
        if server.stdout is not None:
            server.stdout.close()
        holder.close()


def render(results: dict[str, dict[str, Any]]) -> str:
    """The table for docs/multicore.md: per setting and gap, p50 / p99 µs and SQPOLL CPU %."""
    gaps = list(next(iter(results.values())))
    head = "| sq_idle_ms | " + " | ".join(f"after {gap} ms: p50 / p99 µs, SQPOLL CPU" for gap in gaps) + " |"
    rows = [head, "|---|" + "---:|" * len(gaps)]
    for setting, cells in results.items():
        rows.append(f"| {setting} | " + " | ".join(
            f"{cells[g]['p50_us']:.0f} / {cells[g]['p99_us']:.0f}, {cells[g]['sqpoll_cpu'] * 100:.0f}%" for g in gaps) + " |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure every setting and print the table (or, with ``--serve``, be the server)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--serve"]:
        idle, port = int(argv[1]), int(argv[2])
        _serve(idle or None, port)
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.sqpoll_idle", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the samples")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    if len(os.sched_getaffinity(0)) < 2:
        print("SQPOLL needs a CPU of its own: this machine has one", file=sys.stderr)
        return 1
    samples = {gap: max(4, n // 4) if args.quick else n for gap, n in SAMPLES.items()}
    results = {}
    for idle in SETTINGS:
        name = "no SQPOLL" if idle is None else str(idle)
        print(f"measuring {name}", flush=True)
        results[name] = measure(idle, samples)
    print(f"\n{describe()}\n\n{render(results)}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": describe(), "results": results}, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
