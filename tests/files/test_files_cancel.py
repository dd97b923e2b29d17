"""Cancellation: ring ops cancelled, buffers released before the cancel arrives, positions consistent, no fd leaks."""
import asyncio
import os

import pytest
from helpers import open_fds, run_checked
from pagecache import evict

from ringloop import files


def test_cancelled_pipe_read_loses_no_data(loop, pipe):
    r, w = pipe

    async def main():
        async with files.open(r, "rb", closefd=False) as f:
            task = asyncio.ensure_future(f.read(5))
            await asyncio.sleep(0)  # the read is queued
            loop._ring.submit()  # and in the kernel, waiting for data
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            os.write(w, b"after")
            assert await f.read(5) == b"after"

    run_checked(loop, main())


@pytest.mark.parametrize("buffering", [0, -1])
def test_a_pipe_read_the_cancel_came_too_late_for_keeps_its_data(loop, pipe, buffering):
    r, w = pipe

    async def main():
        async with files.open(r, "rb", buffering=buffering, closefd=False) as f:
            os.write(w, b"racing")
            task = asyncio.ensure_future(f.read(6))
            await asyncio.sleep(0)
            loop._ring.submit()  # the kernel completes the read at once: data is there
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await f.read(6) == b"racing"

    run_checked(loop, main())


def test_cancelled_readinto_releases_the_buffer_first(loop, pipe):
    r, w = pipe
    buf = bytearray(b"untouched")

    async def main():
        async with files.open(r, "rb", buffering=0, closefd=False) as f:
            task = asyncio.ensure_future(f.readinto(buf))
            await asyncio.sleep(0)
            loop._ring.submit()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            buf.extend(b"!")  # resizable again: the kernel let go of it
            os.write(w, b"late data")
            await loop.ring_nop()
            assert buf == b"untouched!"

    run_checked(loop, main())


@pytest.mark.parametrize("submitted", [False, True])
def test_cancelled_file_read_keeps_the_position(loop, tmp_path, submitted):
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")

    async def main():
        for _ in range(5):
            evict(path)  # a cached read would be done before the cancel: this one must be a ring read
            f = await files.open(path, "rb")
            await f.seek(2)
            task = asyncio.ensure_future(f.read(3))
            await asyncio.sleep(0)
            if not task.done():
                break
            await task  # the page was back in the cache (a busy machine's read-ahead): again
            await f.close()
        else:
            pytest.fail("the page stayed cached: no ring read to cancel")
        async with f:
            if submitted:
                loop._ring.submit()  # the kernel may finish it before the cancel: still not consumed
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await f.tell() == 2
            assert await f.read(3) == b"234"

    run_checked(loop, main())


@pytest.mark.parametrize("buffering", [0, -1])
def test_cancelled_write_accounts_what_landed(loop, tmp_path, buffering):
    path = tmp_path / "f"
    data = b"x" * (3 * files.DEFAULT_BUFFER_SIZE)

    async def main():
        f = await files.open(path, "wb", buffering=buffering)
        task = asyncio.ensure_future(f.write(data))
        await asyncio.sleep(0)
        loop._ring.submit()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        on_disk = path.stat().st_size
        position = await f.tell()
        await f.write(b"END")
        await f.close()
        return on_disk, position

    on_disk, position = run_checked(loop, main())
    content = path.read_bytes()
    if buffering == 0:
        # Unbuffered: what landed counts, the rest is not written behind the caller's back.
        assert position == on_disk
        assert content == data[:on_disk] + b"END"
    else:
        # Buffered: what did not land waits in the write buffer, so nothing is lost.
        assert position == len(data)
        assert content == data + b"END"


def test_cancelled_opens_leak_no_fd(loop, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    before = open_fds()

    async def main():
        for yields in range(8):  # cancel at every stage: queued open, in-kernel open, statx, ...
            for _ in range(10):
                task = asyncio.ensure_future(files.open(path, "rb"))
                for _ in range(yields):
                    await asyncio.sleep(0)
                    loop._ring.submit()
                task.cancel()
                try:
                    f = await task
                except asyncio.CancelledError:
                    continue
                await f.close()
        # Late completions of cancelled opens are closed by the loop within a few iterations.
        for _ in range(1000):
            if open_fds() == before:
                return
            await loop.ring_nop()

    run_checked(loop, main())
    assert open_fds() == before


def test_ten_thousand_open_close_cycles_leave_the_fd_count_flat(loop, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"payload")
    before = open_fds()

    async def main():
        for _ in range(10_000):
            async with files.open(path, "rb") as f:
                assert await f.read() == b"payload"

    run_checked(loop, main(), timeout=120)
    assert open_fds() == before


def test_cancelled_close_still_closes(loop, tmp_path):
    path = tmp_path / "f"
    before = open_fds()

    async def main():
        f = await files.open(path, "wb")
        await f.write(b"data")
        task = asyncio.ensure_future(f.close())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert f.closed
        for _ in range(100):
            if open_fds() == before:
                return
            await loop.ring_nop()

    run_checked(loop, main())
    assert open_fds() == before


def test_closing_a_read_only_file_releases_the_fd_at_once(loop, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    before = open_fds()

    async def main():
        f = await files.open(path, "rb")
        assert open_fds() != before
        await f.close()
        assert open_fds() == before  # no loop iteration needed
        async with files.open(path) as t:
            assert await t.read() == "x"
        assert open_fds() == before

    run_checked(loop, main())


def test_ten_thousand_read_bytes_leave_the_fd_count_flat(loop, tmp_path):
    path = files.Path(tmp_path / "f")
    (tmp_path / "f").write_bytes(b"payload")
    before = open_fds()

    async def main():
        for _ in range(10_000):
            assert await path.read_bytes() == b"payload"

    run_checked(loop, main(), timeout=120)
    assert open_fds() == before
