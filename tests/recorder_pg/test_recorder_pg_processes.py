"""PostgresStorage with real processes: succeed-once across 4 launchers, SIGKILL and leases, wait via NOTIFY."""
import asyncio
import collections
import signal
import subprocess
import sys
import time
from pathlib import Path

import ringloop
from ringloop.recorder import Launch, PostgresStorage, State, TaskRecorder

WORKER = str(Path(__file__).with_name("pg_worker.py"))


def spawn(mode, dsn, table, lease, first, count):
    return subprocess.Popen([sys.executable, WORKER, mode, dsn, table, str(lease), str(first), str(count)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def expect(proc, word):
    line = proc.stdout.readline()
    assert line.split()[:1] == [word], f"expected {word}, got {line!r} (exit {proc.poll()})"
    return line


def test_four_processes_launching_the_same_ids_succeed_each_exactly_once(pg_dsn, table):
    procs = [spawn("launch", pg_dsn, table, 30, 0, 1000) for _ in range(4)]
    try:
        for proc in procs:
            expect(proc, "READY")
        for proc in procs:  # all connected: now they race
            proc.stdin.write("go\n")
            proc.stdin.flush()
        started, succeeded = collections.Counter(), collections.Counter()
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0
            lines = out.split("\n")
            assert "DONE" in lines
            for line in lines:
                if line.startswith(("STARTED ", "SUCCESS ")):
                    kind, task_id = line.split()
                    (started if kind == "STARTED" else succeeded)[int(task_id)] += 1
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    assert started == succeeded == collections.Counter(range(1000))
    assert sum(1 for proc_count in started.values() if proc_count == 1) == 1000

    async def check():
        storage = PostgresStorage(pg_dsn, table=table)
        try:
            assert sorted(await storage.ids(State.SUCCESS)) == list(range(1000))
            assert {(await storage.task_info(n)).attempts for n in range(0, 1000, 97)} == {1}
        finally:
            await storage.close()
    ringloop.run(check())


def test_ids_of_a_worker_killed_mid_task_are_relaunched_after_the_lease_and_succeed_once(pg_dsn, table):
    proc = spawn("hang", pg_dsn, table, 1.0, 0, 20)
    try:
        expect(proc, "READY")
        proc.stdin.write("go\n")
        proc.stdin.flush()
        for _ in range(20):
            expect(proc, "WORKING")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    async def relaunch():
        ran = collections.Counter()

        async def body(n):
            ran[n] += 1

        async with TaskRecorder.open(PostgresStorage(pg_dsn, table=table, lease=1.0)) as tasks:
            assert await tasks.launch(0, body, 0) is Launch.ALREADY_WORKING  # the lease still holds
            start = time.monotonic()
            # Woken when the dead holder's lease ends, not by a NOTIFY (nobody sends one).
            assert await tasks.wait(0, timeout=30) is State.FAILED
            assert time.monotonic() - start < 5
            assert "lease expired" in tasks.info(0).error
            for n in range(20):
                await tasks.wait(n, timeout=30)
                assert await tasks.launch(n, body, n) is Launch.STARTED
            for n in range(20):
                assert await tasks.wait(n, timeout=30) is State.SUCCESS
                assert tasks.info(n).attempts == 2
                assert await tasks.launch(n, body, n) is Launch.ALREADY_SUCCEEDED
        assert ran == collections.Counter(range(20))
    ringloop.run(relaunch())


def test_wait_in_one_process_wakes_when_another_finishes_the_task(pg_dsn, table):
    proc = spawn("gate", pg_dsn, table, 30, 7, 1)  # a 30 s lease: only a NOTIFY can wake the wait early
    try:
        expect(proc, "READY")
        proc.stdin.write("go\n")
        proc.stdin.flush()
        expect(proc, "WORKING")

        async def wait_for_it():
            async with TaskRecorder.open(PostgresStorage(pg_dsn, table=table)) as tasks:
                assert await tasks.query(7) is State.WORKING
                waiting = asyncio.ensure_future(tasks.wait(7, timeout=60))
                # Still waiting: the child holds the task open until it reads "finish".
                assert not (await asyncio.wait((waiting,), timeout=0.5))[0]
                start = time.monotonic()
                proc.stdin.write("finish\n")
                proc.stdin.flush()
                assert await waiting is State.SUCCESS
                return time.monotonic() - start
        elapsed = ringloop.run(wait_for_it())
        assert elapsed < 5, elapsed
        expect(proc, "DONE")
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
