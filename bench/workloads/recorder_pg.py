"""PostgreSQL workloads (issue 16): Recorder records/s and TaskRecorder launches/s on PostgresStorage.

Pairs to compare: ``recorder_pg_batched`` with ``recorder_group_commit`` (the
journal, bench/workloads/recorder.py); ``taskrecorder_pg`` (one process) and
``taskrecorder_pg_4proc`` (four worker processes, each launching a quarter
of the ids, distinct ids) with ``taskrecorder_journal``.  The server is the
bench's throwaway cluster (bench/apps/postgres.py), started once on first use
and stopped at exit; it runs with fsync, synchronous_commit and
full_page_writes on, so a batch or a task's end is on the disk when
acknowledged, as with the journal (whose rows include an fdatasync per batch).  A task is one claim, one finish and one wait: three
round trips.
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import subprocess
import sys
import uuid
from pathlib import Path

from ringloop.recorder import PostgresStorage, Recorder, TaskRecorder

from ..apps import postgres as pg
from ..registry import workload
from .recorder import RECORD_BATCH, TASK_BATCH, _batches, _save_all

PORT = 5434
WORKERS = 4
ROOT = Path(__file__).resolve().parents[2]
WORKER_MAIN = "import sys, ringloop; from bench.workloads.recorder_pg import _worker; ringloop.run(_worker(sys.argv[1]))"

_dsn: str | None = None
_workers: list[subprocess.Popen[str]] = []


def _server() -> str:
    """The DSN of the bench's PostgreSQL, started on first use, stopped (with the workers) at exit."""
    global _dsn
    if _dsn is None:
        stack = contextlib.ExitStack()
        cluster = stack.enter_context(pg.cluster(port=PORT, durable=True))  # records must reach the disk, as the journal's
        atexit.register(stack.close)
        _dsn = f"postgresql://{cluster.user}@/postgres?host={cluster.socket_dir}&port={cluster.port}"
    return _dsn


async def _trivial() -> None:
    pass


async def _launch_and_wait(tasks: TaskRecorder, prefix: str, n: int) -> None:
    next_id = 0
    for size in _batches(n, TASK_BATCH):
        ids = [f"{prefix}{i}" for i in range(next_id, next_id + size)]
        next_id += size
        await asyncio.gather(*(tasks.launch(task_id, _trivial) for task_id in ids))
        for task_id in ids:
            await tasks.wait(task_id)


@workload("Recorder on PostgresStorage, one COPY per 1,024 records; per record", only_on=("ringloop",),
          group="recorder")
async def recorder_pg_batched(loop: asyncio.AbstractEventLoop, n: int) -> None:
    await _save_all(Recorder(PostgresStorage(_server(), table="bench_events"), max_batch=RECORD_BATCH, linger=0), n)


@workload("TaskRecorder on PostgresStorage, one process: claim, run, finish, wait; per task",
          only_on=("ringloop",), group="recorder")
async def taskrecorder_pg(loop: asyncio.AbstractEventLoop, n: int) -> None:
    async with TaskRecorder.open(PostgresStorage(_server(), table="bench_tasks")) as tasks:
        await _launch_and_wait(tasks, uuid.uuid4().hex + "-", n)


@workload("TaskRecorder on PostgresStorage, 4 processes launching distinct ids; per task (all processes)",
          only_on=("ringloop",), group="recorder")
async def taskrecorder_pg_4proc(loop: asyncio.AbstractEventLoop, n: int) -> None:
    if not _workers:
        dsn = _server()
        for _ in range(WORKERS):
            # Not ``-m`` this module: run as __main__ it would register its workloads a second time.
            worker = subprocess.Popen([sys.executable, "-c", WORKER_MAIN, dsn], cwd=ROOT,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            _workers.append(worker)
            atexit.register(worker.kill)
        for worker in _workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "READY"
    run = uuid.uuid4().hex
    for number, worker in enumerate(_workers):
        assert worker.stdin is not None
        worker.stdin.write(f"{run}-{number}- {n // WORKERS + (number < n % WORKERS)}\n")
        worker.stdin.flush()
    for worker in _workers:  # the loop has nothing else to do: plain blocking reads
        assert worker.stdout is not None and worker.stdout.readline().strip() == "DONE"


async def _worker(dsn: str) -> None:
    """Each stdin line ``PREFIX COUNT``: launch and wait COUNT tasks, then print DONE."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with TaskRecorder.open(PostgresStorage(dsn, table="bench_tasks")) as tasks:
        await tasks.query("warm-up")
        print("READY", flush=True)
        while line := await reader.readline():
            prefix, count = line.split()
            await _launch_and_wait(tasks, prefix.decode(), int(count))
            print("DONE", flush=True)
