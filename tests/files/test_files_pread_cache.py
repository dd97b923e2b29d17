"""The page-cache try of pread and read (preadv2 RWF_NOWAIT): cached, uncached, partly cached and unsupported
files read right, the position stays right, and cached reads still let other tasks run."""
import asyncio
import os

import pytest
from helpers import run_checked
from pagecache import PAGE, evict, keep_first_page_only
from turns import other_task_turns

from ringloop import files


def _random_file(tmp_path, pages):
    """A file of ``pages`` pages of random bytes (no two offsets alike), and those bytes."""
    path = tmp_path / "f"
    data = os.urandom(pages * PAGE)
    path.write_bytes(data)
    return path, data


def test_pread_of_pages_not_cached_reads_them_with_the_ring(loop, tmp_path):
    path, data = _random_file(tmp_path, 3)
    evict(path)

    async def main():
        async with files.open(path, "rb", buffering=0) as f:
            assert await f.pread(3 * PAGE, 0) == data

    run_checked(loop, main())


def test_pread_of_pages_partly_cached_reads_the_rest_with_the_ring(loop, tmp_path):
    path, data = _random_file(tmp_path, 3)
    keep_first_page_only(path, 3 * PAGE)

    async def main():
        async with files.open(path, "rb", buffering=0) as f:
            # A short cached read is not the end of the file: the ring reads the other two pages.
            assert await f.pread(3 * PAGE, 0) == data
            assert await f.pread(PAGE, 3 * PAGE - 10) == data[-10:]  # short at the real end
            assert await f.pread(PAGE, 3 * PAGE) == b""

    run_checked(loop, main())


def test_pread_where_the_file_system_has_no_nowait_reads_falls_back_to_the_ring(loop):
    with open("/proc/version", "rb") as f:
        expected = f.read()

    async def main():
        # procfs answers RWF_NOWAIT with EOPNOTSUPP: every pread is a ring read (twice, to use that path again).
        async with files.open("/proc/version", "rb", buffering=0) as f:
            assert await f.pread(4096, 0) == expected
            assert await f.pread(4096, 0) == expected

    run_checked(loop, main())


def test_cached_preads_let_other_tasks_run(loop, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(os.urandom(16 * PAGE))
    path.read_bytes()  # cached
    reads = 320

    async def main():
        task, turns = other_task_turns()
        await asyncio.sleep(0)  # the other task runs once and waits for its next turn
        before = turns()
        async with files.open(path, "rb", buffering=0) as f:
            for i in range(reads):
                await f.pread(PAGE, (i % 16) * PAGE)
        task.cancel()
        # Every 16th cached read yields: the other task gets its turns meanwhile
        # (a cached read that never yielded would leave it at `before`).
        assert turns() - before >= reads // 16 - 1

    run_checked(loop, main())


def test_concurrent_cached_preads_each_get_their_own_bytes(loop, tmp_path):
    # Cached preads share the file's scratch buffer: each copies its bytes
    # out before it yields (every 16th does), or another task's read lands
    # in them.  Random bytes, so no two offsets hold the same content.
    path, data = _random_file(tmp_path, 64)
    path.read_bytes()  # cached

    async def main():
        async with files.open(path, "rb") as f:
            offsets = [i * 100 for i in range(len(data) // 100)]
            chunks = await asyncio.gather(*[f.pread(100 + i % 7, off) for i, off in enumerate(offsets)])
            assert chunks == [data[off:off + 100 + i % 7] for i, off in enumerate(offsets)]

    run_checked(loop, main())


@pytest.mark.parametrize("buffering", [0, -1])
def test_read_of_a_partly_cached_file_reads_the_rest_with_the_ring(loop, tmp_path, buffering):
    path, data = _random_file(tmp_path, 3)
    keep_first_page_only(path, 3 * PAGE)

    async def main():
        async with files.open(path, "rb", buffering=buffering) as f:
            # read() asks 3 pages + 1 byte: the cache gives one page, which is not the end.
            assert await f.read() == data
            assert await f.tell() == len(data)
            assert await f.read() == b""

    run_checked(loop, main())


def test_read_of_an_uncached_file_and_read_n_after_it(loop, tmp_path):
    path, data = _random_file(tmp_path, 3)
    evict(path)

    async def main():
        async with files.open(path, "rb") as f:
            assert await f.read(100) == data[:100]
            assert await f.read() == data[100:]

    run_checked(loop, main())


@pytest.mark.parametrize("change", ["grown", "shrunk"])
def test_read_after_the_file_changed_size_since_the_open(loop, tmp_path, change):
    # read() asks what the size at open says is left, plus one byte; a short
    # cached read is the end only when fstat says so now.
    path = tmp_path / "f"
    path.write_bytes(b"a" * (2 * PAGE))

    async def main():
        async with files.open(path, "rb") as f:
            with open(path, "r+b") as other:
                if change == "grown":
                    other.seek(0, 2)
                    other.write(b"b" * 100)
                else:
                    other.truncate(100)
            return await f.read(), await f.tell()

    data, position = run_checked(loop, main())
    assert data == path.read_bytes()
    assert position == len(data)


def test_read_position_mixes_with_ring_reads(loop, tmp_path):
    # Cached reads and ring reads (after the pages were dropped) at the same
    # position, in any order: each moves it by what it read.
    path, data = _random_file(tmp_path, 8)
    evict(path)

    async def main():
        async with files.open(path, "rb", buffering=PAGE) as f:
            got = [await f.read(PAGE + 1)]  # ring reads (not cached)
            got.append(await f.read(PAGE))  # from the pages just read: cached
            evict(path)
            got.append(await f.read(10))  # the rest of the buffer, then a ring read
            got.append(await f.read())
            assert b"".join(got) == data
            assert await f.tell() == len(data)
            await f.seek(3)
            assert await f.read(5) == data[3:8]  # cached again

    run_checked(loop, main())


def test_cancelled_while_a_cached_read_yields_consumes_nothing(loop, tmp_path):
    path, data = _random_file(tmp_path, 1)
    path.read_bytes()  # cached

    async def main():
        cancelled = 0
        async with files.open(path, "rb", buffering=0) as f:
            for _ in range(40):  # every 16th cached read yields: the cancel lands there
                position = await f.tell()
                task = asyncio.ensure_future(f.read(7))
                await asyncio.sleep(0)
                if task.cancel():
                    with pytest.raises(asyncio.CancelledError):
                        await task
                    cancelled += 1
                    assert await f.tell() == position
                else:
                    assert task.result() == data[position:position + 7]
                    assert await f.tell() == position + 7
        assert cancelled >= 2

    run_checked(loop, main())


def test_a_loop_of_cached_small_file_reads_lets_other_tasks_run(loop, tmp_path):
    # Opened by fd (no ring op for the open) and closed with closefd=False (no
    # CLOSE): only the cached reads' yield gives the other task its turns.
    paths = [tmp_path / f"{i}" for i in range(320)]
    for p in paths:
        p.write_bytes(os.urandom(100))
    fds = [os.open(p, os.O_RDONLY) for p in paths]

    async def main():
        task, turns = other_task_turns()
        await asyncio.sleep(0)  # the other task runs once and waits for its next turn
        before = turns()
        for fd, p in zip(fds, paths):
            async with files.open(fd, "rb", closefd=False) as f:
                assert await f.read() == p.read_bytes()
        task.cancel()
        assert turns() - before >= len(paths) // 16 - 1

    try:
        run_checked(loop, main())
    finally:
        for fd in fds:
            os.close(fd)


def test_line_iteration_of_a_cached_file_lets_other_tasks_run(loop, tmp_path):
    path = tmp_path / "f"
    path.write_bytes((b"x" * 63 + b"\n") * (320 * PAGE // 64))
    path.read_bytes()  # cached

    async def main():
        task, turns = other_task_turns()
        await asyncio.sleep(0)
        before = turns()
        async with files.open(path, "rb", buffering=PAGE) as f:  # 320 buffers, each one cached read
            lines = 0
            async for _ in f:
                lines += 1
        task.cancel()
        assert lines == 320 * PAGE // 64
        assert turns() - before >= 320 // 16 - 1

    run_checked(loop, main())
