"""asyncpg on a loop: ``python -m bench.apps.pg_query --loop L --port N --pg-socket DIR --pg-port P``.

The process under test is the database client: a pool of 8 connections
(``asyncpg.create_pool(min_size=8, max_size=8)``) to the PostgreSQL the bench
started, over its Unix socket.  It listens on ``--port`` for the load
driver: each connection there sends one JSON line ``{"seconds": S,
"warmup": W}``, and gets back one JSON line in bench/c/loadgen's format once 8
workers have run, for ``W + S`` seconds, ``await pool.fetchrow("SELECT id,
name FROM items WHERE id = $1", n)`` back to back (``n`` cycling over the
table's keys).  A round trip is one query.  Prints ``READY <port>`` once the
pool is open.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import asyncpg

from .common import LOOP_NAMES, listening_socket, new_loop, settle_allocator
from .postgres import ROWS

POOL_SIZE = 8
QUERY = "SELECT id, name FROM items WHERE id = $1"


async def measure(pool: asyncpg.Pool, seconds: float, warmup: float) -> dict[str, object]:
    """``POOL_SIZE`` workers querying for ``warmup + seconds``; the report in loadgen's format."""
    start = time.perf_counter()
    measure_from, end = start + warmup, start + warmup + seconds
    counts = {"total": 0, "measured": 0, "errors": 0}
    latencies: list[float] = []

    async def worker(first: int) -> None:
        key = first
        try:
            while (now := time.perf_counter()) < end:
                row = await pool.fetchrow(QUERY, key)
                if row is None or row["id"] != key:
                    raise RuntimeError(f"wrong row for id {key}: {row!r}")
                done = time.perf_counter()
                counts["total"] += 1
                if now >= measure_from:
                    counts["measured"] += 1
                    latencies.append(done - now)
                key = key % ROWS + 1
        except Exception:  # noqa: BLE001  (counted: the report says how many workers failed)
            counts["errors"] += 1

    await asyncio.gather(*(worker(1 + i * ROWS // POOL_SIZE) for i in range(POOL_SIZE)))
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e6 if latencies else 0.0

    return {"connections": POOL_SIZE, "size": 0, "duration_s": seconds, "round_trips": counts["measured"],
            "round_trips_total": counts["total"], "rt_per_s": counts["measured"] / seconds, "mb_per_s": 0.0,
            "p50_us": pct(0.5), "p99_us": pct(0.99), "errors": counts["errors"], "cpu_util": None}


async def _serve(port: int, pg_socket: str, pg_port: int, user: str) -> None:
    pool = await asyncpg.create_pool(host=pg_socket, port=pg_port, user=user, database="postgres",
                                     min_size=POOL_SIZE, max_size=POOL_SIZE)

    async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = json.loads(await reader.readline())
        report = await measure(pool, float(request["seconds"]), float(request["warmup"]))
        writer.write(json.dumps(report).encode() + b"\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(control, sock=listening_socket(port))
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Future()  # until killed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.apps.pg_query")
    parser.add_argument("--loop", required=True, choices=LOOP_NAMES)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pg-socket", required=True, help="the directory of PostgreSQL's Unix socket")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="bench")
    args = parser.parse_args(argv)
    settle_allocator()
    loop = new_loop(args.loop)
    loop.run_until_complete(_serve(args.port, args.pg_socket, args.pg_port, args.pg_user))
    return 0


if __name__ == "__main__":
    sys.exit(main())
