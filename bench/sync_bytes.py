"""Sync bytes on the wire: digest descent vs the whole id->hash map (the seed's approach).

``python -m bench.sync_bytes [--ids N] [--changed F] [--rounds R] [--json PATH]``:
an upstream and a node each hold N ids; the node then changes a fraction F of
them.  Each approach runs over HTTP on loopback, on ringloop, from the same
two starting replicas, and ends in the same state (checked).  Request and
response *bodies* are counted (headers are not).  The approaches run in
interleaved rounds (the order alternates) on fresh replicas; bytes are the
same every round, seconds are paired per round.

- ``digest``: ``ringloop.sync.sync_once`` (binary messages, digest descent), until converged.
- ``whole_map``: the seed's sync as its README describes it: ``GET /hashes``
  answers a JSON object id -> content hash (hex; the full 128-bit hash, as
  the issue requires, where the seed had 4 bytes), then the records that
  differ go up and the winners come back as JSON.  The seed posts one
  request per task; here they travel in one batch each way, which only
  saves the baseline bytes.
- ``whole_map_binary``: the same exchange in a compact binary encoding
  (length-prefixed id + 16 raw hash bytes; records in the sync protocol's
  binary format): not the seed's, shown to separate what the encoding
  saves from what the digest descent saves.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

import ringloop
from ringloop.recorder import MemoryStorage
from ringloop.sync import Record, Replica, Upstream, start_server, sync_once
from ringloop.sync.model import HASH_SIZE
from ringloop.sync.protocol import Reader, Writer

TOKEN = "bench"
APPROACHES = ("digest", "whole_map", "whole_map_binary")
DEFAULT_JSON = Path(__file__).resolve().parent / "out" / "sync_bytes.json"
_BATCH = 0x7F  # the kind byte of the binary whole map's record batches (bench only)


async def _replica(node: str, records: list[Record]) -> Replica:
    replica = Replica(MemoryStorage(), node=node)
    await replica.open()
    await replica.apply(records)
    return replica


def _json_map(replica: Replica) -> bytes:
    return json.dumps({rid: h.hex() for rid, h in replica.hashes.items()}, separators=(",", ":")).encode()


def _json_differ(raw: bytes, node: Replica) -> list[str]:
    theirs = json.loads(raw)
    return [rid for rid, h in node.hashes.items() if theirs.get(rid) != h.hex()]


def _json_records(records: list[Record]) -> bytes:
    return json.dumps([r.to_wire() for r in records], separators=(",", ":")).encode()


def _json_parse(raw: bytes) -> list[Record]:
    return [Record(r[0], r[1], r[2], tuple(r[3]), r[4], r[5]) for r in json.loads(raw)]


def _binary_map(replica: Replica) -> bytes:
    out = bytearray()
    for rid, digest in replica.hashes.items():
        key = rid.encode()
        out.append(len(key))  # ids here are short: one length byte
        out += key
        out += digest
    return bytes(out)


def _binary_differ(raw: bytes, node: Replica) -> list[str]:
    theirs = {}
    at = 0
    while at < len(raw):
        size = raw[at]
        theirs[raw[at + 1:at + 1 + size].decode()] = raw[at + 1 + size:at + 1 + size + HASH_SIZE]
        at += 1 + size + HASH_SIZE
    return [rid for rid, h in node.hashes.items() if theirs.get(rid) != h]


def _binary_records(records: list[Record]) -> bytes:
    return Writer(_BATCH).records(records).finish()


def _binary_parse(raw: bytes) -> list[Record]:
    return Reader(raw, _BATCH).records()


ENCODINGS = {"whole_map": (_json_map, _json_differ, _json_records, _json_parse),
             "whole_map_binary": (_binary_map, _binary_differ, _binary_records, _binary_parse)}


async def _whole_map(upstream: Replica, node: Replica, encoding: str) -> tuple[int, float]:
    """The seed's sync: fetch every id's hash, then post each differing record and get the winner back."""
    make_map, differ, encode, parse = ENCODINGS[encoding]

    async def hashes(request: web.Request) -> web.Response:
        return web.Response(body=make_map(upstream))

    async def tasks(request: web.Request) -> web.Response:
        sent = parse(await request.read())
        await upstream.apply(sent)
        return web.Response(body=encode([upstream.records[r.id] for r in sent]))

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
        body = encode([node.records[rid] for rid in differ(raw, node)])
        async with session.post(f"{url}/tasks", data=body) as response:
            raw = await response.read()
        moved += len(body) + len(raw)
        await node.apply(parse(raw))
    seconds = time.perf_counter() - start
    await runner.cleanup()
    return moved, seconds


async def _digest(upstream: Replica, node: Replica, changed: int) -> tuple[int, float, int]:
    runner = await start_server(upstream, TOKEN, max_body=1 << 30)
    client = Upstream(f"http://127.0.0.1:{runner.addresses[0][1]}", TOKEN, timeout=600)
    moved = requests = pushed = 0
    start = time.perf_counter()
    while True:  # a second sync only after a fingerprint collision (see ringloop.sync.digest): counted too
        stats = await sync_once(node, client)
        moved, requests, pushed = moved + stats.sent + stats.received, requests + stats.requests, pushed + stats.pushed
        if stats.converged:
            break
    seconds = time.perf_counter() - start
    assert pushed == changed, (pushed, changed)
    await client.close()
    await runner.cleanup()
    return moved, seconds, requests


async def main(ids: int, changed: float, rounds: int, progress: Any = print) -> dict[str, Any]:
    """Run every approach ``rounds`` times, interleaved, on the same data; bytes and seconds of each."""
    base = [Record(f"task-{n:07d}", "SUCCESS", {"n": n}, (1_700_000_000_000 + n, 0), "upstream") for n in range(ids)]
    rng = random.Random(1)
    picked = rng.sample(range(ids), int(ids * changed))
    newer = [Record(base[n].id, "REVOKED", None, (1_800_000_000_000 + n, 0), "node", 1) for n in picked]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in APPROACHES}
    for rnd in range(rounds):
        order = APPROACHES if rnd % 2 == 0 else APPROACHES[::-1]
        for approach in order:
            upstream = await _replica("upstream", base)
            node = await _replica("node", base)
            await node.apply(newer)
            gc.collect()
            if approach == "digest":
                moved, seconds, requests = await _digest(upstream, node, len(newer))
            else:
                (moved, seconds), requests = await _whole_map(upstream, node, approach), 2
            assert upstream.tree.root == node.tree.root, approach
            runs[approach].append({"bytes": moved, "seconds": seconds, "requests": requests})
            progress(f"round {rnd + 1}/{rounds} {approach:<17} {moved:>12,} bytes {seconds:7.2f} s")
            del upstream, node
    summary: dict[str, Any] = {"ids": ids, "changed": changed, "rounds": rounds, "runs": runs}
    for approach in APPROACHES:
        summary[approach] = {"bytes": statistics.median(r["bytes"] for r in runs[approach]),
                             "seconds": statistics.median(r["seconds"] for r in runs[approach]),
                             "requests": runs[approach][0]["requests"]}
    for other in APPROACHES[1:]:
        summary[f"{other}/digest"] = {
            key: statistics.median(a[key] / d[key] for a, d in zip(runs[other], runs["digest"]))
            for key in ("bytes", "seconds")}
    return summary


def run() -> None:
    """Command line entry: print a line per run, then the medians and the paired ratios; write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.sync_bytes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    if args.ids < 100 or not 0 < args.changed <= 1 or args.rounds < 1:
        parser.error("--ids at least 100, --changed in (0, 1], --rounds at least 1")
    results = ringloop.run(main(args.ids, args.changed, args.rounds))
    print(f"\nids={args.ids:,} changed={args.changed:.2%} rounds={args.rounds} (medians; ratios paired per round)")
    for approach in APPROACHES:
        r = results[approach]
        print(f"{approach:<17} {r['bytes']:>12,.0f} bytes {r['seconds']:7.2f} s {r['requests']:3.0f} requests")
    for other in APPROACHES[1:]:
        ratio = results[f"{other}/digest"]
        print(f"{other} / digest: {ratio['bytes']:.1f}x the bytes, {ratio['seconds']:.2f}x the seconds")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    run()
