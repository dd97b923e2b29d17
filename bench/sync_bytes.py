"""Sync bytes on the wire: digest descent vs the whole id->hash map (the seed's approach).

``python -m bench.sync_bytes [--ids N] [--changed F]``: an upstream and a node
each hold N ids; the node then changes a fraction F of them.  Both
approaches run over HTTP on loopback, on ringloop, and end with the same
state; request and response *bodies* are counted (headers are not).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

import aiohttp
from aiohttp import web

import ringloop
from ringloop.recorder import MemoryStorage
from ringloop.sync import Record, Replica, Upstream, start_server, sync_once
from ringloop.sync.model import record_hash

TOKEN = "bench"


async def _replica(node: str, records: list[Record]) -> Replica:
    replica = Replica(MemoryStorage(), node=node)
    await replica.open()
    await replica.apply(records)
    return replica


async def _whole_map(upstream: Replica, node: Replica) -> tuple[int, float]:
    """The seed's sync: GET every id's hash, then POST each differing record and get the winner back."""
    async def hashes(request: web.Request) -> web.Response:
        body = json.dumps({rid: h.hex() for rid, h in upstream.hashes.items()}, separators=(",", ":"))
        return web.Response(text=body, content_type="application/json")

    async def tasks(request: web.Request) -> web.Response:
        sent = [Record(*r[:3], tuple(r[3]), *r[4:]) for r in await request.json()]
        await upstream.apply(sent)
        return web.json_response([upstream.records[r.id].to_wire() for r in sent])

    app = web.Application(client_max_size=1 << 30)
    app.add_routes([web.get("/hashes", hashes), web.post("/tasks", tasks)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    moved = 0
    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/hashes") as response:
            raw = await response.read()
        moved += len(raw)
        theirs = json.loads(raw)
        differ = [rid for rid, h in node.hashes.items() if theirs.get(rid) != h.hex()]
        body = json.dumps([node.records[rid].to_wire() for rid in differ], separators=(",", ":")).encode()
        async with session.post(f"{url}/tasks", data=body) as response:
            raw = await response.read()
        moved += len(body) + len(raw)
    seconds = time.perf_counter() - start
    await runner.cleanup()
    return moved, seconds


async def main(ids: int, changed: float) -> dict[str, float]:
    """Run both syncs on the same data; return bytes and seconds of each."""
    base = [Record(f"task-{n:07d}", "SUCCESS", {"n": n}, (1_700_000_000_000 + n, 0), "upstream") for n in range(ids)]
    rng = random.Random(1)
    picked = rng.sample(range(ids), int(ids * changed))
    newer = [Record(base[n].id, "REVOKED", None, (1_800_000_000_000 + n, 0), "node", 1) for n in picked]
    results = {}
    for approach in ("digest", "whole_map"):
        upstream = await _replica("upstream", base)
        node = await _replica("node", base)
        await node.apply(newer)
        if approach == "digest":
            runner = await start_server(upstream, TOKEN, max_body=1 << 30)
            client = Upstream(f"http://127.0.0.1:{runner.addresses[0][1]}", TOKEN, timeout=600)
            start = time.perf_counter()
            stats = await sync_once(node, client)
            seconds = time.perf_counter() - start
            assert stats.converged and stats.pushed == len(newer), stats
            moved = stats.sent + stats.received
            results["digest_requests"] = stats.requests
            await client.close()
            await runner.cleanup()
        else:
            moved, seconds = await _whole_map(upstream, node)
        assert upstream.tree.root == node.tree.root, approach
        results[f"{approach}_bytes"] = moved
        results[f"{approach}_seconds"] = seconds
    results["ratio"] = results["whole_map_bytes"] / results["digest_bytes"]
    return results


def run() -> None:
    """Command line entry: print one line per measure."""
    parser = argparse.ArgumentParser(prog="python -m bench.sync_bytes")
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.01)
    args = parser.parse_args()
    results = ringloop.run(main(args.ids, args.changed))
    print(f"ids={args.ids} changed={args.changed:.2%} (record_hash: {len(record_hash(Record('a', 'FAILED', 1, (0, 0), 'n')))} bytes)")
    print(f"digest sync:    {results['digest_bytes']:>12,} bytes  {results['digest_seconds']:7.2f} s  "
          f"{results['digest_requests']:.0f} requests")
    print(f"whole id->hash: {results['whole_map_bytes']:>12,} bytes  {results['whole_map_seconds']:7.2f} s")
    print(f"ratio: {results['ratio']:.1f}x fewer bytes")


if __name__ == "__main__":
    run()
