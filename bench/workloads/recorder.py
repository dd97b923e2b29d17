"""Recorder workloads (issue 14): what recording costs a task, and durable records per second.

Pairs to compare: ``taskrecorder_memory`` with ``bare_task`` (target: at most 1.5x its time
per task), ``taskrecorder_journal`` with both; ``recorder_group_commit`` with
``recorder_fsync_per_record`` (target: at least 40x its records/s) and with
``recorder_sqlite`` (target: at least 1.0x its records/s, and 200,000 records/s).  Tasks
are launched in batches of 1,000 and then awaited.  Records are ~100-byte JSON dicts,
saved in batches of 1,024, each batch one write and one fdatasync (or one sqlite3
transaction, WAL, synchronous=FULL, in the executor).

The runner sizes each measurement to about 100 ms of wall clock, so these rows hold 15,000
to 30,000 tasks, not the issue's 100,000, and a pair's two sides are measured about half a
second apart: on a shared machine one side can take others' load the other misses.  The
target is therefore checked with :func:`paired_main` (``python -c "from
bench.workloads.recorder import paired_main; paired_main()" [ROUNDS [TASKS [memory|journal]]]``):
the issue's count, CPU time, both sides alternating in one process.

The Recorder workloads measure records per second, not making a journal: each keeps
one journal (or database) open for the whole process, made in the runner's untimed
first run, so that its creation (a file, a lock file, an fdatasync and a directory
fsync) is not charged to the few hundred records a measurement holds when the runner
calibrates on a slow disk.  A measurement still ends with every record it saved on disk.
"""
from __future__ import annotations

import asyncio
import gc
import json
import sqlite3
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ringloop.recorder import JournalStorage, Recorder, RecorderFull, TaskRecorder

from ..registry import title, workload

title("recorder", "Recorder (ringloop.recorder)")

SCRATCH_DIR = Path(__file__).resolve().parents[1] / "out" / "recorder"

TASK_BATCH = 1000
RECORD_BATCH = 1024
RECORDS = [{"user": i, "event": "login", "ip": f"10.0.{i % 256}.{i // 256 % 256}", "ts": 1_700_000_000.125 + i,
            "ok": True} for i in range(RECORD_BATCH)]


def _fresh(name: str) -> Path:
    """A path in the scratch directory with no journal (nor lock file) left from an earlier run."""
    SCRATCH_DIR.mkdir(parents=True, exist_ok=True)
    path = SCRATCH_DIR / name
    for leftover in (path, path.with_name(name + ".lock"), path.with_name(name + ".compact")):
        leftover.unlink(missing_ok=True)
    return path


class _KeptJournal(JournalStorage):
    """A JournalStorage that outlives the Recorders closing it: one per process and workload."""

    async def close(self) -> None:
        """Left open for the next measurement (the process's end closes it)."""


_KEPT: dict[str, _KeptJournal] = {}


def _kept_journal(name: str) -> _KeptJournal:
    if name not in _KEPT:
        _KEPT[name] = _KeptJournal(_fresh(name))
    return _KEPT[name]


def _batches(n: int, size: int) -> list[int]:
    return [min(size, n - start) for start in range(0, n, size)]


async def _trivial() -> None:
    pass


@workload("bare create_task of a trivial coroutine, then await; per task", group="recorder")
async def bare_task(loop: asyncio.AbstractEventLoop, n: int) -> None:
    for size in _batches(n, TASK_BATCH):
        tasks = [loop.create_task(_trivial()) for _ in range(size)]
        for task in tasks:
            await task


async def _launch_and_wait(tasks: TaskRecorder, n: int) -> None:
    next_id = 0
    for size in _batches(n, TASK_BATCH):
        ids = range(next_id, next_id + size)
        next_id += size
        for task_id in ids:
            tasks.launch(task_id, _trivial)
        for task_id in ids:
            await tasks.wait(task_id)


@workload("TaskRecorder in memory: launch a trivial task, then wait; per task", group="recorder")
async def taskrecorder_memory(loop: asyncio.AbstractEventLoop, n: int) -> None:
    async with TaskRecorder.open() as tasks:
        await _launch_and_wait(tasks, n)


@workload("TaskRecorder on a JournalStorage (SUCCESS on disk before it is reported); per task",
          only_on=("ringloop",), group="recorder")
async def taskrecorder_journal(loop: asyncio.AbstractEventLoop, n: int) -> None:
    async with TaskRecorder.open(JournalStorage(_fresh("tasks.journal"))) as tasks:
        await _launch_and_wait(tasks, n)


async def _save_all(rec: Recorder, n: int) -> None:
    """Save n records as a producer does: never waiting per record, letting the actor run between batches."""
    for size in _batches(n, RECORD_BATCH):
        for record in RECORDS[:size]:
            try:
                rec.save(record)
            except RecorderFull:
                await rec.flush()
                rec.save(record)
        await asyncio.sleep(0)
    await rec.close()


@workload("Recorder on a JournalStorage, group commit (1,024 per write + fdatasync); per record",
          only_on=("ringloop",), group="recorder")
async def recorder_group_commit(loop: asyncio.AbstractEventLoop, n: int) -> None:
    await _save_all(Recorder(_kept_journal("group_commit.journal"), max_batch=RECORD_BATCH, linger=0), n)


@workload("Recorder on a JournalStorage, one write + fdatasync per record; per record",
          only_on=("ringloop",), group="recorder")
async def recorder_fsync_per_record(loop: asyncio.AbstractEventLoop, n: int) -> None:
    await _save_all(Recorder(_kept_journal("fsync_per_record.journal"), max_batch=1, linger=0), n)


class SqliteStorage:
    """The same records in sqlite3 (WAL, synchronous=FULL): JSON-encoded and inserted in the executor."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE records (body TEXT NOT NULL)")

    def _insert(self, batch: list[Any]) -> None:
        with self._db:  # one transaction, one WAL fsync, per batch
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO records (body) VALUES (?)", [(json.dumps(r),) for r in batch])

    async def save(self, batch: list[Any]) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._insert, batch)

    async def load(self, query: None = None) -> list[Any]:
        rows = self._db.execute("SELECT body FROM records ORDER BY rowid").fetchall()
        return [json.loads(body) for body, in rows]

    async def close(self) -> None:
        """Left open for the next measurement, like the journals (the process's end closes it)."""


_SQLITE: list[SqliteStorage] = []


@workload("Recorder on sqlite3 (WAL, synchronous=FULL, executor), 1,024 rows per transaction; per record",
          group="recorder")
async def recorder_sqlite(loop: asyncio.AbstractEventLoop, n: int) -> None:
    if not _SQLITE:
        path = _fresh("events.sqlite")
        for suffix in ("-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        _SQLITE.append(SqliteStorage(path))
    await _save_all(Recorder(_SQLITE[0], max_batch=RECORD_BATCH, linger=0), n)


def _cpu_seconds(workload_fn: Callable[[asyncio.AbstractEventLoop, int], Awaitable[None]], n: int) -> float:
    """CPU time (time.process_time) of one run of ``workload_fn`` with n tasks on a fresh ringloop loop."""
    import ringloop

    loop = ringloop.new_event_loop()
    try:
        gc.collect()  # the previous run's garbage is not this run's cost
        start = time.process_time()
        loop.run_until_complete(workload_fn(loop, n))
        return time.process_time() - start
    finally:
        loop.close()


def paired_cpu_rounds(workload_fn: Callable[[asyncio.AbstractEventLoop, int], Awaitable[None]],
                      rounds: int, n: int) -> list[float]:
    """Per round, the CPU time of ``workload_fn`` over that of :func:`bare_task`, n tasks each.

    Both run in this process, one after the other, the order swapped every
    round, after one untimed run of each.  CPU time leaves out the time
    other processes held the CPU, and the two sides of a pair are measured
    back to back, so a shared machine moves the ratio far less than it
    moves the wall-clock bench's.
    """
    if rounds < 1 or n < 1:
        raise ValueError(f"rounds and n must be at least 1, got {rounds} and {n}")
    _cpu_seconds(bare_task, n)
    _cpu_seconds(workload_fn, n)
    ratios = []
    for number in range(rounds):
        if number % 2:
            bare = _cpu_seconds(bare_task, n)
            recorded = _cpu_seconds(workload_fn, n)
        else:
            recorded = _cpu_seconds(workload_fn, n)
            bare = _cpu_seconds(bare_task, n)
        ratios.append(recorded / bare)
    return ratios


def paired_main(args: list[str] | None = None) -> None:
    """Print :func:`paired_cpu_rounds` for ``[ROUNDS [TASKS [memory|journal]]]`` (default: sys.argv[1:]).

    Run as ``python -c "from bench.workloads.recorder import paired_main; paired_main()" 10 100000``
    (not with ``-m``: the bench package registers this module's workloads when it is imported).
    """
    args = sys.argv[1:] if args is None else args
    rounds = int(args[0]) if args else 10
    n = int(args[1]) if len(args) > 1 else 100_000
    kind = args[2] if len(args) > 2 else "memory"
    workload_fn = {"memory": taskrecorder_memory, "journal": taskrecorder_journal}[kind]
    ratios = sorted(paired_cpu_rounds(workload_fn, rounds, n))
    quartiles = statistics.quantiles(ratios, n=4) if rounds > 1 else [ratios[0]] * 3
    print(f"TaskRecorder {kind} / bare create_task + await, CPU time, {rounds} paired rounds of {n:,} tasks: "
          f"median {statistics.median(ratios):.3f}, quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f}, "
          f"range {ratios[0]:.3f}-{ratios[-1]:.3f}")
