"""PostgresStorage: records and task states shared by many processes, in PostgreSQL through asyncpg.

One storage object per process; any number of processes (on any number of
machines) open the same database and ``table``.  It creates, when missing:

- ``<table>_records (seq bigserial, record json, raw bytea)``: the Recorder's
  records, one row each (a JSON value in ``record``, bytes in ``raw``); a
  batch is one ``COPY`` (one round trip, one transaction).
- ``<table>_tasks``: one row per task id, for a TaskRecorder (see
  :mod:`ringloop.recorder.claims`): state, fencing token, lease end, times.
  Leases are measured on the database's clock, so the processes' clocks do
  not matter.  Ends and revokes are announced with ``NOTIFY <table>_tasks``.
- ``<table>_tokens``: the sequence fencing tokens come from.

Query of ``load``: ``None`` (all records), a dict or list (the JSON records
that contain it, PostgreSQL's ``@>``), or a callable ``record -> bool``
(applied in this process to every record).  Records come back in ``seq``
order: the order their batches were committed, batch by batch.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs

from .claims import Claim
from .journal import JsonText, encode_record
from .storage import StorageClosed
from .tasks import Launch, State, TaskId, TaskInfo, _check_id

__all__ = ["PostgresStorage"]

_TABLE = re.compile(r"[a-z_][a-z0-9_]{0,40}\Z")
_STATE_OF = {"W": State.WORKING, "S": State.SUCCESS, "F": State.FAILED}
_CODE_OF = {State.SUCCESS: "S", State.FAILED: "F"}
LEASE_EXPIRED = "lease expired: the process running it stopped renewing its claim"
_MAX_KEY = 4000  # a NOTIFY payload is at most 8000 bytes
# What a lost connection or a restarting server raises: wait() tries again after a pause.
_CONNECTION_LOST = (OSError, asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError)

logger = logging.getLogger("ringloop.recorder")


class PostgresStorage:
    """Records (for a Recorder) and task states with claims (for a TaskRecorder) in PostgreSQL.

    ``dsn``: an asyncpg connection string (``postgresql://user@/db?host=/run/postgresql``),
    or ``pool``: an asyncpg pool to use (and not to close).  ``table``: the
    prefix of the tables, a lowercase SQL identifier.  ``lease``: seconds a
    task's claim lasts unless renewed (a TaskRecorder renews every third).
    Connects and creates the schema on first use, or at ``await open()``.
    """

    def __init__(self, dsn: str | None = None, *, pool: asyncpg.Pool | None = None, table: str = "ringloop",
                 lease: float = 30.0) -> None:
        """Check the arguments; nothing connects yet."""
        if (dsn is None) == (pool is None):
            raise TypeError("give a dsn or a pool (one of them)")
        if dsn is not None and not isinstance(dsn, str):
            raise TypeError(f"dsn must be a str, not {type(dsn).__name__}")
        if pool is not None and not isinstance(pool, asyncpg.Pool):
            raise TypeError(f"pool must be an asyncpg.Pool, not {type(pool).__name__}")
        if not isinstance(table, str):
            raise TypeError(f"table must be a str, not {type(table).__name__}")
        if not _TABLE.match(table):
            raise ValueError(f"table must be a lowercase SQL identifier of at most 41 characters, got {table!r}")
        if isinstance(lease, bool) or not isinstance(lease, (int, float)):
            raise TypeError(f"lease must be a number of seconds, not {type(lease).__name__}")
        if not 0.1 <= lease <= 86400:
            raise ValueError(f"lease must be between 0.1 and 86400 seconds, got {lease}")
        self.lease = float(lease)
        self.table = table
        self._dsn = dsn
        self._pool: asyncpg.Pool | None = pool
        self._owns_pool = pool is None
        self._opening: asyncio.Future[None] | None = None
        self._listener: Any = None  # a connection LISTENing, made by the first wait()
        self._listening: asyncio.Lock | None = None
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._closed = False
        records, tasks, tokens = f"{table}_records", f"{table}_tasks", f"{table}_tokens"
        self._records, self._channel = records, tasks
        self._schema = (
            f"CREATE TABLE IF NOT EXISTS {records} (seq bigserial PRIMARY KEY, record json, raw bytea);"
            f"CREATE SEQUENCE IF NOT EXISTS {tokens};"
            f"CREATE TABLE IF NOT EXISTS {tasks} (id text PRIMARY KEY, state char(1) NOT NULL, "
            f"token bigint NOT NULL, attempts int NOT NULL, lease_until timestamptz, "
            f"started double precision, finished double precision, error text);")
        # Claimable: never launched, FAILED, or WORKING under a lease that is over (its process is gone).
        self._claim_sql = (
            f"INSERT INTO {tasks} AS t (id, state, token, attempts, lease_until, started) "
            f"VALUES ($1, 'W', nextval('{tokens}'), 1, clock_timestamp() + make_interval(secs => $2), $3) "
            f"ON CONFLICT (id) DO UPDATE SET state = 'W', token = EXCLUDED.token, attempts = t.attempts + 1, "
            f"lease_until = EXCLUDED.lease_until, started = EXCLUDED.started, finished = NULL, error = NULL "
            f"WHERE t.state = 'F' OR (t.state = 'W' AND t.lease_until < clock_timestamp()) "
            f"RETURNING token, attempts")
        # The fencing: only the current token, under its unexpired lease, may end the id.
        self._finish_sql = (
            f"WITH ended AS (UPDATE {tasks} SET state = $3, finished = $4, error = $5, lease_until = NULL "
            f"WHERE id = $1 AND token = $2 AND state = 'W' AND lease_until >= clock_timestamp() RETURNING id) "
            f"SELECT pg_notify('{tasks}', id) FROM ended")
        self._renew_sql = (
            f"UPDATE {tasks} AS t SET lease_until = clock_timestamp() + make_interval(secs => $3) "
            f"FROM unnest($1::text[], $2::bigint[]) AS held(id, token) WHERE t.id = held.id "
            f"AND t.token = held.token AND t.state = 'W' AND t.lease_until >= clock_timestamp() RETURNING t.id")
        self._info_sql = (
            f"SELECT state, attempts, started, finished, error, lease_until < clock_timestamp() AS expired, "
            f"extract(epoch FROM lease_until - clock_timestamp())::float8 AS left FROM {tasks} WHERE id = $1")
        self._revoke_sql = (
            f"WITH gone AS (DELETE FROM {tasks} WHERE id = $1 AND state = 'S' RETURNING id) "
            f"SELECT pg_notify('{tasks}', id) FROM gone")
        self._ids_sql = (
            f"SELECT id FROM {tasks} WHERE CASE WHEN state = 'W' AND lease_until < clock_timestamp() "
            f"THEN 'F' ELSE state END = $1 ORDER BY id")

    def __repr__(self) -> str:
        return f"<PostgresStorage table={self.table!r} lease={self.lease}{' closed' if self._closed else ''}>"

    async def open(self) -> None:
        """Connect (unless given a pool) and create the tables when missing; later calls return at once."""
        if self._closed:
            raise StorageClosed(f"{self!r} is closed")
        if self._opening is None:
            self._opening = asyncio.get_running_loop().create_task(self._open())
        await asyncio.shield(self._opening)

    async def _open(self) -> None:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=4)
        async with self._pool.acquire() as conn, conn.transaction():
            # Processes starting together would race in CREATE ... IF NOT EXISTS (it is not atomic).
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.table)
            await conn.execute(self._schema)

    async def _ready(self) -> asyncpg.Pool:
        if self._closed:
            raise StorageClosed(f"{self!r} is closed")
        if self._opening is None or not self._opening.done():
            await self.open()
        self._opening.result()  # type: ignore[union-attr]  # set by open()
        assert self._pool is not None
        return self._pool

    # -- records (the Storage protocol) -----------------------------------------------

    def encode(self, record: Any) -> JsonText | bytes:
        """Check one record and encode it (compact JSON text, or bytes); TypeError/ValueError if it cannot be stored."""
        return encode_record(record)

    async def save(self, batch: list[Any]) -> None:
        """Store the encoded records of ``batch`` (what ``encode`` returned) with one COPY, all or none."""
        if not isinstance(batch, list):
            raise TypeError(f"a batch is a list of records, not {type(batch).__name__}")
        rows: list[tuple[str | None, bytes | None]] = []
        for item in batch:
            if type(item) is JsonText:
                rows.append((item, None))
            elif type(item) is bytes:
                rows.append((None, item))
            else:
                raise TypeError(f"save() takes what encode() returned, not {type(item).__name__}")
        if rows:
            pool = await self._ready()
            await pool.copy_records_to_table(self._records, records=rows, columns=("record", "raw"))

    async def load(self, query: dict[str, Any] | list[Any] | Callable[[Any], bool] | None = None) -> list[Any]:
        """The records ``query`` selects, in order: None all, a dict/list those containing it, a callable its choice."""
        if query is not None and not isinstance(query, (dict, list)) and not callable(query):
            raise TypeError(f"query must be None, a dict or list (JSON containment) or a callable record -> bool, "
                            f"not {type(query).__name__}")
        pool = await self._ready()
        if isinstance(query, (dict, list)):
            rows = await pool.fetch(f"SELECT record, raw FROM {self._records} "
                                    f"WHERE record::jsonb @> $1::jsonb ORDER BY seq", json.dumps(query))
        else:
            rows = await pool.fetch(f"SELECT record, raw FROM {self._records} ORDER BY seq")
        records = [json.loads(text) if text is not None else raw for text, raw in rows]
        if callable(query):
            return [record for record in records if query(record)]
        return records

    async def close(self) -> None:
        """Stop listening and close the pool this storage made (not one it was given); idempotent."""
        if self._closed:
            return
        self._closed = True
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.set_exception(StorageClosed(f"{self!r} was closed"))
        if self._listener is not None:
            listener, self._listener = self._listener, None
            listener.remove_termination_listener(self._listener_lost)
            with contextlib.suppress(Exception):  # a broken connection is closed all the same
                await listener.remove_listener(self._channel, self._notified)
            await self._let_go(listener)
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
        if self._owns_pool and self._pool is not None:
            await self._pool.close()

    # -- task states (the TaskStateStorage protocol) ----------------------------------

    async def claim(self, task_id: TaskId, started: float) -> Claim | Launch:
        """Claim the id for ``lease`` seconds when it is claimable; else why not (see TaskStateStorage)."""
        key = _key(task_id)
        pool = await self._ready()
        while True:
            row = await pool.fetchrow(self._claim_sql, key, self.lease, started)
            if row is not None:
                return Claim(row["token"], row["attempts"])
            state = await pool.fetchval(f"SELECT state FROM {self._channel} WHERE id = $1", key)
            if state is not None:  # None: revoked in between, so try again
                return Launch.ALREADY_SUCCEEDED if state == "S" else Launch.ALREADY_WORKING

    async def renew(self, claims: Sequence[tuple[TaskId, int]]) -> set[TaskId]:
        """Extend the leases of the claims still held, in one statement; the ids whose claim was."""
        by_key = {_key(task_id): task_id for task_id, _ in claims}
        pool = await self._ready()
        rows = await pool.fetch(self._renew_sql, [_key(task_id) for task_id, _ in claims],
                                [token for _, token in claims], self.lease)
        return {by_key[row["id"]] for row in rows}

    async def finish(self, task_id: TaskId, token: int, state: State, finished: float, error: str | None) -> bool:
        """Commit the end (SUCCESS or FAILED) if ``token`` holds the current, unexpired claim; else False."""
        if state not in _CODE_OF:
            raise ValueError(f"a task ends SUCCESS or FAILED, not {state}")
        pool = await self._ready()
        rows = await pool.fetch(self._finish_sql, _key(task_id), token, _CODE_OF[state], finished, error)
        return len(rows) == 1

    async def task_info(self, task_id: TaskId) -> TaskInfo:
        """The id's state for every process: WORKING past its lease reads FAILED (LEASE_EXPIRED)."""
        return (await self._info(_key(task_id)))[0]

    async def _info(self, key: str) -> tuple[TaskInfo, float]:
        """The info of ``key`` and the seconds its lease has left (0 unless WORKING)."""
        pool = await self._ready()
        row = await pool.fetchrow(self._info_sql, key)
        if row is None:
            return TaskInfo(State.NOT_FOUND, 0, None, None, None), 0.0
        if row["state"] == "W" and row["expired"]:
            return TaskInfo(State.FAILED, row["attempts"], row["started"], None, LEASE_EXPIRED), 0.0
        info = TaskInfo(_STATE_OF[row["state"]], row["attempts"], row["started"], row["finished"], row["error"])
        return info, (row["left"] or 0.0) if row["state"] == "W" else 0.0

    async def revoke(self, task_id: TaskId) -> bool:
        """Make a SUCCESS id NOT_FOUND for every process and return True; False, changing nothing, otherwise."""
        pool = await self._ready()
        return len(await pool.fetch(self._revoke_sql, _key(task_id))) == 1

    async def ids(self, state: State) -> list[TaskId]:
        """Every id in ``state`` (WORKING, FAILED or SUCCESS) for every process, ordered by their key."""
        if not isinstance(state, State):
            raise TypeError(f"state must be a State, not {type(state).__name__}")
        if state is State.NOT_FOUND:
            raise ValueError("the ids NOT_FOUND are all the others")
        pool = await self._ready()
        code = {State.WORKING: "W", State.SUCCESS: "S", State.FAILED: "F"}[state]
        return [_id_of(row["id"]) for row in await pool.fetch(self._ids_sql, code)]

    async def wait(self, task_id: TaskId, timeout: float | None) -> TaskInfo:
        """Wait until the id is not WORKING, woken by NOTIFY or by its lease's end; TimeoutError after ``timeout``.

        A lost connection (the LISTEN one killed, PostgreSQL restarting) does
        not end the wait: it connects again with backoff, LISTENs, and reads
        the state again, since a notification sent meanwhile is lost.
        """
        key = _key(task_id)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        backoff = _Backoff(deadline, f"task {task_id!r}: PostgreSQL out of reach for {timeout} s")
        while True:
            await self._listen(backoff)
            # Registered after LISTEN and before the query: an end committed after the query is notified to it.
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.setdefault(key, set()).add(future)
            try:
                try:
                    info, lease_left = await self._info(key)
                except _CONNECTION_LOST as exc:
                    await backoff.pause(exc)
                    continue
                if info.state is not State.WORKING:
                    return info
                # A holder that dies notifies nobody: look again when its lease ends.
                delay = lease_left + 0.01
                if deadline is not None:
                    if loop.time() >= deadline:
                        raise TimeoutError(f"task {task_id!r} still WORKING after {timeout} s")
                    delay = min(delay, deadline - loop.time())
                await asyncio.wait((future,), timeout=delay)
                if future.done() and future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]  # StorageClosed
            finally:
                waiters = self._waiters.get(key)
                if waiters is not None:
                    waiters.discard(future)
                    if not waiters:
                        del self._waiters[key]

    async def _listen(self, backoff: _Backoff) -> None:
        """Have a connection LISTENing on the channel, connecting (again) with ``backoff`` until one is."""
        if self._listener is not None:
            return
        if self._listening is None:
            self._listening = asyncio.Lock()
        async with self._listening:
            while self._listener is None:
                pool = await self._ready()
                try:
                    listener = await (asyncpg.connect(self._dsn) if self._owns_pool else pool.acquire())
                except _CONNECTION_LOST as exc:
                    await backoff.pause(exc)
                    continue
                try:
                    await listener.add_listener(self._channel, self._notified)
                except _CONNECTION_LOST as exc:
                    await self._let_go(listener)
                    await backoff.pause(exc)
                    continue
                except BaseException:
                    await self._let_go(listener)
                    raise
                listener.add_termination_listener(self._listener_lost)
                self._listener = listener

    def _listener_lost(self, connection: Any) -> None:
        # Called by asyncpg once the LISTEN connection is gone.  What was
        # notified meanwhile is lost: every waiter wakes, LISTENs again
        # (wait() reconnects) and reads its id's state again.
        if connection is not self._listener:
            return
        self._listener = None
        logger.warning("%r: the LISTEN connection was lost; waiters reconnect and read again", self)
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.set_result(None)

    async def _let_go(self, listener: Any) -> None:
        """Close the LISTEN connection (or give it back to the pool it came from)."""
        with contextlib.suppress(Exception):  # a broken connection is let go all the same
            if self._owns_pool:
                await listener.close()
            elif self._pool is not None:
                await self._pool.release(listener)

    def _notified(self, _connection: Any, _pid: int, _channel: str, key: str) -> None:
        for future in self._waiters.get(key, ()):
            if not future.done():
                future.set_result(None)


class _Backoff:
    """Pauses between attempts to reach PostgreSQL: doubling from 50 ms to 2 s, never past ``deadline``."""

    FIRST, LAST = 0.05, 2.0

    def __init__(self, deadline: float | None, timeout_message: str) -> None:
        self._deadline = deadline
        self._message = timeout_message
        self._delay = self.FIRST

    async def pause(self, error: BaseException) -> None:
        """Sleep before the next attempt after ``error``; TimeoutError when the deadline comes first."""
        loop = asyncio.get_running_loop()
        if self._deadline is not None and loop.time() + self._delay >= self._deadline:
            raise TimeoutError(f"{self._message} (last error: {type(error).__name__}: {error})") from error
        logger.info("PostgreSQL out of reach (%s: %s); trying again in %.2f s", type(error).__name__, error,
                    self._delay)
        await asyncio.sleep(self._delay)
        self._delay = min(self._delay * 2, self.LAST)


def _key(task_id: TaskId) -> str:
    """The id as the tasks table keys it: its type, then its text (bytes in hex)."""
    _check_id(task_id)
    if isinstance(task_id, str):
        key = "s:" + str(task_id)
    elif isinstance(task_id, bytes):
        key = "b:" + task_id.hex()
    else:
        key = f"i:{int(task_id)}"
    if len(key) > _MAX_KEY:
        raise ValueError(f"a task id stored in PostgreSQL is at most {_MAX_KEY - 2} characters (bytes: half)")
    return key


def _id_of(key: str) -> TaskId:
    kind, text = key[:2], key[2:]
    if kind == "s:":
        return text
    if kind == "i:":
        return int(text)
    return bytes.fromhex(text)

