"""A process of the recorder_pg tests: ``python pg_worker.py MODE DSN TABLE LEASE FIRST COUNT``.

Opens a TaskRecorder on PostgresStorage, prints ``READY``, waits for a line
on stdin, then per MODE:

- ``launch``: launches ids FIRST..FIRST+COUNT-1 (trivial bodies), prints
  ``STARTED id`` for each launch it won and ``SUCCESS id`` for each success
  it committed, then ``DONE``.
- ``hang``: launches them with bodies that never end, prints ``WORKING id``
  once each launch is STARTED, then waits to be killed.
- ``gate``: launches them with bodies that end when a second line arrives on
  stdin, prints ``WORKING id`` for each, then ``DONE`` once they ended.
"""
import asyncio
import sys

import ringloop
from ringloop.recorder import Launch, PostgresStorage, State, TaskRecorder


async def main(mode: str, dsn: str, table: str, lease: float, first: int, count: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with TaskRecorder.open(PostgresStorage(dsn, table=table, lease=lease)) as tasks:
        await tasks.query(first)  # connected, schema made
        print("READY", flush=True)
        await reader.readline()
        ids = range(first, first + count)
        if mode == "launch":
            async def trivial() -> None:
                await asyncio.sleep(0)

            outcomes = await asyncio.gather(*(tasks.launch(task_id, trivial) for task_id in ids))
            for task_id, outcome in zip(ids, outcomes):
                if outcome is Launch.STARTED:
                    print("STARTED", task_id, flush=True)
            for task_id, outcome in zip(ids, outcomes):
                if outcome is Launch.STARTED:
                    await tasks.wait(task_id, timeout=60)
                    info = tasks.info(task_id)
                    if info.state is State.SUCCESS and info.error is None:
                        print("SUCCESS", task_id, flush=True)
            print("DONE", flush=True)
        elif mode == "hang":
            for task_id in ids:
                assert await tasks.launch(task_id, asyncio.Event().wait) is Launch.STARTED
                print("WORKING", task_id, flush=True)
            await asyncio.Event().wait()
        elif mode == "gate":
            gate = asyncio.Event()
            for task_id in ids:
                assert await tasks.launch(task_id, gate.wait) is Launch.STARTED
                print("WORKING", task_id, flush=True)
            await reader.readline()
            gate.set()
            for task_id in ids:
                await tasks.wait(task_id, timeout=60)
            print("DONE", flush=True)


if __name__ == "__main__":
    mode, dsn, table, lease, first, count = sys.argv[1:]
    ringloop.run(main(mode, dsn, table, float(lease), int(first), int(count)))
