"""pread's page-cache try (preadv2 RWF_NOWAIT): cached, uncached, partly cached and unsupported files read right,
and cached reads still let other tasks run."""
import asyncio
import os
import time

import pytest
from helpers import run_checked

from ringloop import files

PAGE = 4096


def _evict(path):
    """Drop ``path``'s pages from the page cache (written back first); skip where the kernel keeps them."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        for _ in range(50):  # a page still locked by write-back or read-ahead stays: try again
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            try:
                os.preadv(fd, [bytearray(PAGE)], 0, os.RWF_NOWAIT)
            except BlockingIOError:
                # That probe may have started read-ahead: let it finish (a
                # page under I/O cannot be dropped), then drop the pages again.
                os.pread(fd, os.fstat(fd).st_size, 0)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                return
            time.sleep(0.01)
    finally:
        os.close(fd)
    pytest.skip("this file system keeps the pages cached (tmpfs?): nothing to evict")


def test_pread_of_pages_not_cached_reads_them_with_the_ring(loop, tmp_path):
    path = tmp_path / "f"
    data = os.urandom(3 * PAGE)
    path.write_bytes(data)
    _evict(path)

    async def main():
        async with files.open(path, "rb", buffering=0) as f:
            assert await f.pread(3 * PAGE, 0) == data

    run_checked(loop, main())


def test_pread_of_pages_partly_cached_reads_the_rest_with_the_ring(loop, tmp_path):
    path = tmp_path / "f"
    data = os.urandom(3 * PAGE)
    path.write_bytes(data)
    _evict(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.pread(fd, 3 * PAGE, 0)
        os.posix_fadvise(fd, PAGE, 2 * PAGE, os.POSIX_FADV_DONTNEED)  # the first page stays cached
        try:
            got = os.preadv(fd, [bytearray(3 * PAGE)], 0, os.RWF_NOWAIT)
        except BlockingIOError:
            got = 0
        # That probe may have started read-ahead of the other pages: let it
        # finish (a page under I/O cannot be dropped), then drop them again.
        os.pread(fd, 3 * PAGE, 0)
        os.posix_fadvise(fd, PAGE, 2 * PAGE, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    if got != PAGE:
        pytest.skip(f"the kernel read {got} bytes of the partly cached range; the case needs exactly one page")

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
    turns = 0

    async def other():
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    async def main():
        task = asyncio.ensure_future(other())
        await asyncio.sleep(0)  # the other task runs once and waits for its next turn
        before = turns
        async with files.open(path, "rb", buffering=0) as f:
            for i in range(reads):
                await f.pread(PAGE, (i % 16) * PAGE)
        task.cancel()
        # Every 16th cached read yields: the other task gets its turns meanwhile
        # (a cached read that never yielded would leave it at `before`).
        assert turns - before >= reads // 16 - 1

    run_checked(loop, main())


def test_concurrent_cached_preads_each_get_their_own_bytes(loop, tmp_path):
    # Cached preads share the file's scratch buffer: each copies its bytes
    # out before it yields (every 16th does), or another task's read lands
    # in them.  Random bytes, so no two offsets hold the same content.
    path = tmp_path / "f"
    data = os.urandom(64 * PAGE)
    path.write_bytes(data)
    path.read_bytes()  # cached

    async def main():
        async with files.open(path, "rb") as f:
            offsets = [i * 100 for i in range(len(data) // 100)]
            chunks = await asyncio.gather(*[f.pread(100 + i % 7, off) for i, off in enumerate(offsets)])
            assert chunks == [data[off:off + 100 + i % 7] for i, off in enumerate(offsets)]

    run_checked(loop, main())
