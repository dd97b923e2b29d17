"""The websockets load: ``python -m bench.apps.ws_client --port N --clients 64 --size 1024 --seconds S``.

Each client connects with ``websockets.asyncio.client.connect`` and plays
ping-pong (send ``size`` bytes, wait for the echo, send the next).  Runs on
uvloop when installed, else on stock asyncio (``--loop``), never on the loop
under test.  Prints one JSON line in bench/c/loadgen's format, so
:func:`bench.load.generator.parse_loadgen` reads it.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

from websockets.asyncio.client import connect


def default_loop() -> str:
    """uvloop when installed (the fastest client), else asyncio."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


async def _run(port: int, clients: int, size: int, seconds: float, warmup: float) -> dict[str, object]:
    payload = os.urandom(size)
    start = time.perf_counter()
    measure_from, end = start + warmup, start + warmup + seconds
    counts = {"total": 0, "measured": 0, "errors": 0}
    latencies: list[float] = []

    async def client() -> None:
        try:
            async with connect(f"ws://127.0.0.1:{port}/", compression=None, max_size=None, proxy=None,
                               open_timeout=10) as ws:
                while (now := time.perf_counter()) < end:
                    await ws.send(payload)
                    if await ws.recv() != payload:
                        raise RuntimeError("the echo differs from the message")
                    done = time.perf_counter()
                    counts["total"] += 1
                    if now >= measure_from:
                        counts["measured"] += 1
                        latencies.append(done - now)
        except Exception:  # noqa: BLE001  (counted: the report says how many clients failed)
            counts["errors"] += 1

    cpu0 = time.process_time()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - start
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e6 if latencies else 0.0

    return {"connections": clients, "size": size, "duration_s": seconds, "round_trips": counts["measured"],
            "round_trips_total": counts["total"], "rt_per_s": counts["measured"] / seconds,
            "mb_per_s": counts["measured"] * size / seconds / 1e6, "p50_us": pct(0.5), "p99_us": pct(0.99),
            "errors": counts["errors"], "cpu_util": (time.process_time() - cpu0) / wall if wall else 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.apps.ws_client")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--warmup", type=float, default=0.1)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default=default_loop())
    args = parser.parse_args(argv)
    if args.loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    report = loop.run_until_complete(_run(args.port, args.clients, args.size, args.seconds, args.warmup))
    loop.close()
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
