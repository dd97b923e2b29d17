"""Writing a Storage: sqlite3 in the executor, with its own query type, used by a Recorder and a TaskRecorder."""
import asyncio
import json
import os
import sqlite3
import tempfile
from typing import Any

import ringloop
from ringloop.recorder import Recorder, State, TaskRecorder


class SqliteStorage:
    """Records as JSON text in one sqlite3 table.

    Query: None (all records) or a dict {field: value} that a record (a JSON
    object) must match.  sqlite3 blocks, so every call runs in the executor.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None

    # Optional: called by Recorder.save() itself, so a bad record is refused at
    # that call, and later changes to the record do not reach the storage.
    def encode(self, record: Any) -> str:
        return json.dumps(record, allow_nan=False)

    async def save(self, batch: list[str]) -> None:
        await self._run(self._insert, batch)

    async def load(self, query: dict[str, Any] | None = None) -> list[Any]:
        if query is not None and not isinstance(query, dict):
            raise TypeError("query is None or a dict of field -> value")
        return await self._run(self._select, query)

    # Optional: lets a Recorder (and a TaskRecorder, which compacts) replace everything at once.
    async def replace(self, items: list[str]) -> None:
        await self._run(self._replace, items)

    # Optional, idempotent: Recorder.close() and TaskRecorder.close() call it.
    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await self._run(lambda: db.close())

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("CREATE TABLE IF NOT EXISTS records (body TEXT NOT NULL)")
        return self._db

    def _insert(self, batch: list[str]) -> None:
        db = self._connection()
        with db:  # one transaction per batch: all of it is stored, or none
            db.execute("BEGIN")
            db.executemany("INSERT INTO records (body) VALUES (?)", [(item,) for item in batch])

    def _select(self, query: dict[str, Any] | None) -> list[Any]:
        rows = self._connection().execute("SELECT body FROM records ORDER BY rowid").fetchall()
        records = [json.loads(body) for body, in rows]
        if query is None:
            return records
        return [r for r in records if isinstance(r, dict) and all(r.get(k) == v for k, v in query.items())]

    def _replace(self, items: list[str]) -> None:
        db = self._connection()
        with db:
            db.execute("BEGIN")
            db.execute("DELETE FROM records")
            db.executemany("INSERT INTO records (body) VALUES (?)", [(item,) for item in items])


async def main(directory: str) -> None:
    rec = Recorder(SqliteStorage(os.path.join(directory, "events.db")))
    for user in range(100):
        rec.save({"user": user, "event": "login" if user % 10 else "signup"})
    signups = await rec.records({"event": "signup"})
    print("signups:", [r["user"] for r in signups])
    assert len(signups) == 10
    await rec.close()

    async def job(n: int) -> None:
        await asyncio.sleep(0)

    path = os.path.join(directory, "tasks.db")
    async with TaskRecorder.open(SqliteStorage(path)) as tasks:
        for n in range(5):
            await tasks.launch(f"job-{n}", job, n)
        for n in range(5):
            assert await tasks.wait(f"job-{n}") is State.SUCCESS
    async with TaskRecorder.open(SqliteStorage(path)) as tasks:  # replayed from sqlite
        print("after reopening:", tasks.ids(State.SUCCESS))
        assert len(tasks.ids(State.SUCCESS)) == 5


with tempfile.TemporaryDirectory() as directory:
    ringloop.run(main(directory))
