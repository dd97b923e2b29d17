"""The open that needs no ring op (openat2 with RESOLVE_CACHED): used when the path is cached, the file as
the ring's open leaves it, the ring's open for everything else, and other tasks still get their turns."""
import asyncio
import os
import threading

import pytest
from helpers import open_fds, run_checked
from turns import other_task_turns

from ringloop import files


def test_an_open_of_a_cached_path_completes_without_the_loop(loop, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    path.read_bytes()  # every component of the path is in the dentry cache now

    async def main():
        at_once = 0
        for _ in range(32):
            task = asyncio.ensure_future(files.open(path, "rb"))
            await asyncio.sleep(0)  # one step of the task: a ring open would still be waiting
            at_once += task.done()
            await (await task).close()
        # Every 16th gives the other tasks a turn first: at most 2 of 32 wait.
        assert at_once >= 30

    run_checked(loop, main())


@pytest.mark.parametrize("mode", ["rb", "r+b", "r", "rb+"])
def test_a_cached_open_leaves_the_file_blocking_and_close_on_exec(loop, tmp_path, mode):
    path = tmp_path / "f"
    path.write_bytes(b"data")

    async def main():
        async with files.open(path, mode) as f:
            assert os.get_blocking(f.fileno())  # the O_NONBLOCK of the cached try is off again
            assert not os.get_inheritable(f.fileno())
            assert await f.read() in (b"data", "data")

    run_checked(loop, main())


def test_a_fifo_opened_for_reading_waits_in_the_read_not_the_open(loop, tmp_path):
    # As io_uring's own open: the open does not wait for a writer, the read does.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    async def main():
        async with files.open(fifo, "rb") as f:
            assert os.get_blocking(f.fileno())
            writer = threading.Thread(target=lambda: fifo.write_bytes(b"through the fifo"))
            writer.start()
            try:
                assert await f.read() == b"through the fifo"
            finally:
                writer.join()

    run_checked(loop, main())


@pytest.mark.parametrize("name, error", [("missing", FileNotFoundError), ("dir", IsADirectoryError)])
def test_errors_of_a_cached_path_are_the_builtin_ones(loop, tmp_path, name, error):
    (tmp_path / "dir").mkdir()
    path = tmp_path / name
    with pytest.raises(error) as builtin:
        open(path, "rb")

    async def main():
        with pytest.raises(error) as ours:
            await files.open(path, "rb")
        assert (ours.value.errno, ours.value.strerror, ours.value.filename) == (
            builtin.value.errno, builtin.value.strerror, builtin.value.filename)

    run_checked(loop, main())


def test_a_loop_of_cached_opens_lets_other_tasks_run(loop, tmp_path):
    # No read, and a read-only close submits its CLOSE at once: only the
    # cached opens' turns let the other task run.
    path = tmp_path / "f"
    path.write_bytes(b"x")
    opens = 320
    before_fds = open_fds()

    async def main():
        task, turns = other_task_turns()
        await asyncio.sleep(0)
        before = turns()
        for _ in range(opens):
            async with files.open(path, "rb"):
                pass
        task.cancel()
        assert turns() - before >= opens // 16 - 1

    run_checked(loop, main())
    assert open_fds() == before_fds
