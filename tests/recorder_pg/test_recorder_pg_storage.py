"""PostgresStorage in one process: records in batches, claims and their fencing, revoke, bad input."""
import asyncio
import time

import asyncpg
import pytest

import ringloop
from ringloop.recorder import (
    CLAIM_LOST, Claim, Launch, PostgresStorage, Recorder, State, StorageClosed, TaskRecorder, TaskStateStorage,
)


def run(coro):
    return ringloop.run(asyncio.wait_for(coro, 60))


def test_recorder_batches_are_one_transaction_each_and_load_answers_queries(pg_dsn, table):
    async def main():
        storage = PostgresStorage(pg_dsn, table=table)
        rec = Recorder(storage, max_batch=1024, linger=0.001)
        for n in range(5000):
            rec.save({"n": n, "odd": n % 2 == 1, "float": n + 0.5})
        rec.save(b"\x00raw")
        rec.save([1, "two", None])
        await rec.flush()
        stats = rec.stats()
        records = await storage.load(None)
        assert records[:2] == [{"n": 0, "odd": False, "float": 0.5}, {"n": 1, "odd": True, "float": 1.5}]
        assert records[-2:] == [b"\x00raw", [1, "two", None]] and len(records) == 5002
        assert [r["n"] for r in records[:5000]] == list(range(5000))
        assert len(await storage.load({"odd": True})) == 2500
        assert await storage.load(lambda r: isinstance(r, bytes)) == [b"\x00raw"]
        # One transaction per batch: the rows of a batch share their inserting transaction (xmin).
        conn = await asyncpg.connect(pg_dsn)
        try:
            transactions = await conn.fetchval(f"SELECT count(DISTINCT xmin::text) FROM {table}_records")
        finally:
            await conn.close()
        assert transactions == stats.batches <= 5002 // 1024 + 3
        with pytest.raises(TypeError, match="query"):
            await storage.load(42)
        with pytest.raises(TypeError, match="encode"):
            await storage.save([{"not": "encoded"}])
        with pytest.raises(TypeError):
            rec.save({1j})
        await rec.close()
        with pytest.raises(StorageClosed):
            await storage.load(None)
    run(main())


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="dsn or a pool"):
        PostgresStorage()
    with pytest.raises(ValueError, match="identifier"):
        PostgresStorage("postgresql:///x", table="x; DROP TABLE y")
    with pytest.raises(TypeError, match="lease"):
        PostgresStorage("postgresql:///x", lease="30")
    with pytest.raises(ValueError, match="lease"):
        PostgresStorage("postgresql:///x", lease=0)
    assert isinstance(PostgresStorage("postgresql:///x"), TaskStateStorage)


def test_a_holder_whose_lease_expired_cannot_record_success(pg_dsn, table):
    async def main():
        first = PostgresStorage(pg_dsn, table=table, lease=0.5)
        second = PostgresStorage(pg_dsn, table=table, lease=0.5)
        try:
            claim = await first.claim("order-1", time.time())
            assert isinstance(claim, Claim) and claim.attempts == 1
            assert await second.claim("order-1", time.time()) is Launch.ALREADY_WORKING
            info = await second.wait("order-1", timeout=30)  # wakes at the lease's end
            assert info.state is State.FAILED and "lease expired" in info.error
            assert await first.renew([("order-1", claim.token)]) == set()  # expired: not renewed
            newer = await second.claim("order-1", time.time())
            assert isinstance(newer, Claim) and newer.token > claim.token and newer.attempts == 2
            assert not await first.finish("order-1", claim.token, State.SUCCESS, time.time(), None)
            assert await second.renew([("order-1", newer.token)]) == {"order-1"}
            assert await second.finish("order-1", newer.token, State.SUCCESS, time.time(), None)
            assert not await first.finish("order-1", claim.token, State.SUCCESS, time.time(), None)
            assert not await second.finish("order-1", newer.token, State.SUCCESS, time.time(), None)  # once
            info = await first.task_info("order-1")
            assert (info.state, info.attempts) == (State.SUCCESS, 2)
            # A token is never granted again, even after a revoke resets the id.
            assert await first.revoke("order-1")
            again = await first.claim("order-1", time.time())
            assert isinstance(again, Claim) and again.token > newer.token and again.attempts == 1
            assert not await first.finish("order-1", claim.token, State.SUCCESS, time.time(), None)
        finally:
            await first.close()
            await second.close()
    run(main())


def test_a_task_recorder_that_stalls_past_its_lease_learns_it_lost_the_claim(pg_dsn, table):
    async def main():
        async def stalls():
            time.sleep(1.0)  # the loop is blocked: no renewal, as in a long GC pause or a stopped VM

        async def quick():
            pass

        async with TaskRecorder.open(PostgresStorage(pg_dsn, table=table, lease=0.4)) as tasks:
            assert await tasks.launch(b"\x01id", stalls) is Launch.STARTED
        # Closed: every run of it has ended, and its end was refused by the database.
        assert tasks.lost_claims == 1
        info = tasks.info(b"\x01id")
        assert (info.state, info.error) == (State.FAILED, CLAIM_LOST)
        async with TaskRecorder.open(PostgresStorage(pg_dsn, table=table)) as other:
            assert await other.query(b"\x01id") is State.FAILED  # never SUCCESS
            assert await other.launch(b"\x01id", quick) is Launch.STARTED
            assert await other.wait(b"\x01id", timeout=30) is State.SUCCESS
            assert other.info(b"\x01id").attempts == 2
            assert other.lost_claims == 0
    run(main())


def test_revoke_is_seen_by_every_process_and_only_for_a_success(pg_dsn, table):
    async def main():
        async def quick():
            pass

        async with TaskRecorder.open(PostgresStorage(pg_dsn, table=table)) as one, \
                TaskRecorder.open(PostgresStorage(pg_dsn, table=table)) as two:
            gate = asyncio.Event()
            assert await one.launch("a", gate.wait) is Launch.STARTED
            assert await two.launch("a", quick) is Launch.ALREADY_WORKING
            assert not await two.revoke("a")  # WORKING: refused, nothing changes
            gate.set()
            assert await two.wait("a", timeout=30) is State.SUCCESS
            assert await two.launch("a", quick) is Launch.ALREADY_SUCCEEDED
            assert await two.revoke("a")
            assert not await two.revoke("a")
            assert await one.query("a") is State.NOT_FOUND
            assert await one.launch("a", quick) is Launch.STARTED
            assert await two.wait("a", timeout=30) is State.SUCCESS
            assert await one.query(12) is State.NOT_FOUND
            with pytest.raises(TypeError, match="task id"):
                await one.query(1.5)
    run(main())
