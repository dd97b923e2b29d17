"""Crash safety with real processes: a child saves records and runs tasks, printing what was acknowledged;
the parent kills it with SIGKILL at a random moment, reopens the journals and checks them."""
import collections
import random
import signal
import subprocess
import sys
import textwrap
import time

import ringloop
from ringloop.recorder import JournalStorage, State, TaskRecorder

CYCLES = 50

CHILD = textwrap.dedent("""
    import asyncio, sys
    import ringloop
    from ringloop.recorder import JournalStorage, Recorder, State, TaskRecorder

    async def work(i):
        await asyncio.sleep(0)
        if i % 5 == 0:
            raise ValueError(i)

    async def main(directory, start):
        rec = Recorder(JournalStorage(directory + "/events"), linger=0)
        tasks = await TaskRecorder.open(JournalStorage(directory + "/tasks"), compact_min=40)
        out = sys.stdout

        async def saver(i):
            while True:
                await rec.save_wait({"id": i, "pad": "x" * (i % 64)})
                out.write(f"R {i}\\n")
                out.flush()
                i += 8

        async def launcher(i):
            while True:
                task_id = f"t{i}"
                await tasks.launch(task_id, work, i)
                if await tasks.wait(task_id) is State.SUCCESS:
                    out.write(f"T {task_id}\\n")
                    out.flush()
                i += 8

        print("ready", flush=True)
        await asyncio.gather(*(saver(start + k) for k in range(8)), *(launcher(start + k) for k in range(8)))

    ringloop.run(main(sys.argv[1], int(sys.argv[2])))
""")


def run_child(directory, start, delay):
    """Start the child, let it run ``delay`` seconds after it is ready, SIGKILL it; return its acknowledgements."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(directory), str(start)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n", child.stderr.read()
        time.sleep(delay)  # not a synchronization: the moment of the kill is what is random
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL, err
    records = [int(line[2:]) for line in out.splitlines() if line.startswith("R ")]
    tasks = [line[2:] for line in out.splitlines() if line.startswith("T ")]
    return records, tasks


async def check(directory, acked_records, acked_tasks):
    events = JournalStorage(directory / "events")
    stored = collections.Counter(record["id"] for record in await events.load())
    await events.close()
    assert not [i for i, n in stored.items() if n > 1], "a record was stored twice"
    missing = acked_records - stored.keys()
    assert not missing, f"acknowledged records lost: {sorted(missing)[:10]}"
    async with TaskRecorder.open(JournalStorage(directory / "tasks")) as tasks:
        assert tasks.ids(State.WORKING) == []
        lost = [task_id for task_id in acked_tasks if tasks.query_quick(task_id) is not State.SUCCESS]
        assert not lost, f"acknowledged successes lost: {lost[:10]}"
        return len(tasks.ids(State.SUCCESS)) + len(tasks.ids(State.FAILED))


def test_acknowledged_data_survives_sigkill(tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    acked_records, acked_tasks = set(), set()
    started = time.monotonic()
    for cycle in range(CYCLES):
        records, tasks = run_child(tmp_path, cycle * 10_000_000, rng.uniform(0.0, 0.12))
        acked_records.update(records)
        acked_tasks.update(tasks)
        try:
            live = ringloop.run(check(tmp_path, acked_records, acked_tasks))
        except AssertionError as exc:
            raise AssertionError(f"cycle {cycle}, seed {seed}: {exc}") from exc
    assert len(acked_records) > CYCLES and len(acked_tasks) > CYCLES  # the kills hit working children
    assert time.monotonic() - started < 120
    # The tasks journal was compacted along the way (compact_min=40): about one record per id, not one
    # per change, plus what was saved since the last compaction.
    records = ringloop.run(journal_records(tmp_path / "tasks"))
    assert records <= 2 * live + 40 + 200, (records, live)


async def journal_records(path):
    journal = JournalStorage(path)
    scan = await journal.open()
    await journal.close()
    return scan.records
