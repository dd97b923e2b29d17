"""Many processes, one PostgreSQL: task ids succeed once in the whole fleet, and a dead holder's claim expires.

It starts a throwaway PostgreSQL (the bench's helper: initdb + pg_ctl in a
temporary directory, Unix socket only); in your code, pass your own dsn.
"""
import asyncio
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # for bench.apps.postgres, the throwaway server

import ringloop  # noqa: E402
from bench.apps.postgres import cluster  # noqa: E402
from ringloop.recorder import CLAIM_LOST, PostgresStorage, Recorder, State, TaskRecorder  # noqa: E402

CHILD = """
import asyncio, sys, ringloop
from ringloop.recorder import PostgresStorage, TaskRecorder

async def charge(order):
    await asyncio.sleep(0.05)

async def main(dsn):
    async with TaskRecorder.open(PostgresStorage(dsn, table="shop", lease=1.0)) as tasks:
        outcomes = await asyncio.gather(*(tasks.launch(f"order-{n}", charge, n) for n in range(5)))
        print([o.name for o in outcomes].count("STARTED"))

ringloop.run(main(sys.argv[1]))
"""


async def shared_tasks(dsn: str) -> None:
    # Three processes launch the same five orders at once: each is charged once in all.
    racing = [subprocess.Popen([sys.executable, "-c", CHILD, dsn], stdout=subprocess.PIPE, text=True)
              for _ in range(3)]
    started = sum(int(p.communicate()[0]) for p in racing)
    print("started in all processes:", started)
    storage = PostgresStorage(dsn, table="shop", lease=1.0)
    print("SUCCESS everywhere:", await storage.ids(State.SUCCESS))

    async with TaskRecorder.open(storage) as tasks:
        print("revoke order-0:", await tasks.revoke("order-0"), await tasks.query("order-0"))

        # A holder that stalls past its lease (a stopped VM, a long pause) loses its claim:
        # its success is refused by the database, and the id can run elsewhere.
        async def stalls() -> None:
            time.sleep(1.5)

        print("launch order-9:", (await tasks.launch("order-9", stalls)).name)
        print("order-9 after the stall:", (await tasks.wait("order-9", timeout=10)).name)
    print("this process learned:", tasks.info("order-9").error == CLAIM_LOST, "lost claims:", tasks.lost_claims)


async def records(dsn: str) -> None:
    rec = Recorder(PostgresStorage(dsn, table="events"), max_batch=1024)
    for n in range(3000):
        rec.save({"user": n % 3, "event": "login"})  # batched: one COPY per 1,024 records
    await rec.flush()
    print("stored:", rec.stats().stored, "in", rec.stats().batches, "batches")
    print("user 1's records:", len(await rec.records({"user": 1})))  # JSON containment, in the database
    await rec.close()


with cluster(port=5435) as server:
    dsn = f"postgresql://{server.user}@/postgres?host={server.socket_dir}&port={server.port}"
    ringloop.run(shared_tasks(dsn))
    ringloop.run(records(dsn))
