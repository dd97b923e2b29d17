"""PostgresStorage.wait when its LISTEN connection is lost (backend killed, server restarted): it LISTENs and reads again."""
import asyncio
import logging
import os
import pwd
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg

import ringloop
from bench.apps import postgres as pg
from ringloop.recorder import PostgresStorage, State


async def listen_backend(admin, table, other_than=None):
    """The pid of the backend LISTENing on the table's channel (another process's connection: polled)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid = await admin.fetchval("SELECT pid FROM pg_stat_activity WHERE query = $1 AND pid <> $2",
                                   f'LISTEN "{table}_tasks"', other_than or 0)
        if pid is not None:
            return pid
        await asyncio.sleep(0.02)
    raise AssertionError("no backend LISTENs on the channel")


async def read_after_listen(admin, listen_pid):
    """Wait until the waiter has read the state once after LISTEN: a pooled connection was reset after it.

    asyncpg resets a pooled connection when it is given back, so pg_stat_activity
    shows that reset, not the read, as its last query: one that began after the
    LISTEN is the read's.
    """
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity used, pg_stat_activity listening WHERE listening.pid = $1 "
                "AND used.pid <> $1 AND used.state = 'idle' AND used.query LIKE 'SELECT pg_advisory_unlock_all()%' "
                "AND used.query_start > listening.query_start", listen_pid):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the waiter never read the state")


class LostListens(logging.Handler):
    """Counts the storage's "LISTEN connection was lost" warnings: the moments a waiter saw its listener go."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "LISTEN connection was lost" in record.getMessage():
            self.count += 1
            self.changed.set()

    async def reach(self, count: int) -> None:
        while self.count < count:
            self.changed.clear()
            await self.changed.wait()


def test_wait_survives_a_killed_listen_connection_and_reads_the_state_again(pg_dsn, table):
    async def main():
        lost = LostListens()
        logging.getLogger("ringloop.recorder").addHandler(lost)
        waiter = PostgresStorage(pg_dsn, table=table)  # 30 s leases: only a NOTIFY or a new read wakes it early
        holder = PostgresStorage(pg_dsn, table=table)
        admin = await asyncpg.connect(pg_dsn)
        try:
            await holder.claim("lost", time.time())
            waiting = asyncio.ensure_future(waiter.wait("lost", timeout=60))
            first = await listen_backend(admin, table)
            await read_after_listen(admin, first)  # and found it WORKING: the UPDATE below comes after
            # The task ends with no NOTIFY, as an end notified while the listener is down would be: lost.
            await admin.execute(f"UPDATE {table}_tasks SET state = 'S', lease_until = NULL WHERE id = 's:lost'")
            assert not (await asyncio.wait((waiting,), timeout=0.3))[0]  # nothing told it
            start = time.monotonic()
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
            info = await asyncio.wait_for(waiting, 10)
            assert info.state is State.SUCCESS and time.monotonic() - start < 10

            # Killed again, and the holder finishes the task (with its NOTIFY) while the waiter reconnects.
            claim = await holder.claim("again", time.time())
            waiting = asyncio.ensure_future(waiter.wait("again", timeout=60))
            second = await listen_backend(admin, table, other_than=first)
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", second)
            start = time.monotonic()
            assert await holder.finish("again", claim.token, State.SUCCESS, time.time(), None)
            info = await asyncio.wait_for(waiting, 10)
            assert info.state is State.SUCCESS and time.monotonic() - start < 10
            # Once the waiter has seen the second listener go, a later wait
            # LISTENs again.  (Not checked before: the kill may land after
            # the NOTIFY reached the waiter, which then had no reason to
            # reconnect, and a wait made before it noticed the loss finds its
            # listener still set.)
            await asyncio.wait_for(lost.reach(2), 10)
            assert (await waiter.wait("again", timeout=10)).state is State.SUCCESS
            await listen_backend(admin, table, other_than=second)
        finally:
            logging.getLogger("ringloop.recorder").removeHandler(lost)
            await admin.close()
            await waiter.close()
            await holder.close()

    ringloop.run(asyncio.wait_for(main(), 60))


def restart_server(dsn):
    """``pg_ctl restart`` of the test cluster (as the user owning its data directory), back up on return."""
    socket_dir = Path(parse_qs(urlsplit(dsn).query)["host"][0])
    data = socket_dir.parent / "data"  # bench/apps/postgres.py's layout: <tmp>/sock and <tmp>/data
    owner = pwd.getpwuid(data.stat().st_uid).pw_name
    as_owner = [] if owner == pwd.getpwuid(os.geteuid()).pw_name else ["runuser", "-u", owner, "--"]
    # -l: the new server's output goes to the cluster's log, not to pipes this process would wait on.
    subprocess.run([*as_owner, str(pg.find_bin() / "pg_ctl"), "-D", str(data), "-l", str(data.parent / "log"),
                    "-m", "fast", "-w", "-t", "60", "restart"], check=True, capture_output=True, timeout=90)


def test_wait_survives_a_server_restart(pg_dsn, table):
    async def main():
        waiter = PostgresStorage(pg_dsn, table=table)
        holder = PostgresStorage(pg_dsn, table=table)
        try:
            claim = await holder.claim("across", time.time())
            waiting = asyncio.ensure_future(waiter.wait("across", timeout=60))
            assert not (await asyncio.wait((waiting,), timeout=0.3))[0]
            # Blocking on purpose: the waiter cannot run meanwhile, and finds every connection gone after.
            restart_server(pg_dsn)
            assert not (await asyncio.wait((waiting,), timeout=0.3))[0]  # reconnected, still WORKING
            start = time.monotonic()
            assert await holder.finish("across", claim.token, State.SUCCESS, time.time(), None)
            info = await asyncio.wait_for(waiting, 10)
            assert info.state is State.SUCCESS and time.monotonic() - start < 10
        finally:
            await waiter.close()
            await holder.close()

    ringloop.run(asyncio.wait_for(main(), 90))
