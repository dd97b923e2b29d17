"""ring_read_file (OPENAT -> READ -> READ linked on a fixed file slot) and ring_close_soon."""
import asyncio
import errno
import os
import threading
import time

import pytest
from helpers import open_fds, run_checked

SIZE = 65536  # ring_read_file's default first read
PROBE = 4096  # the end-of-file read's buffer


def free_slots(loop):
    slots = loop._file_slots
    return None if slots is None or slots._free is None else len(slots._free)


async def settle_slots(loop, expected):
    """Let the loop run until every slot is free again (closes complete one iteration after the read)."""
    for _ in range(1000):
        if free_slots(loop) == expected:
            return
        await loop.ring_nop()
    raise AssertionError(f"{free_slots(loop)} slots free, expected {expected}")


@pytest.mark.parametrize("size", [0, 1, 4096, SIZE - 1, SIZE, SIZE + PROBE - 1, SIZE + PROBE, SIZE + PROBE + 1,
                                  3 * SIZE, 5 * 2**20 + 7])
def test_reads_the_whole_file(loop, tmp_path, size):
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    got = run_checked(loop, loop.ring_read_file(path))
    assert got == data and type(got) is bytes


def test_one_submission_and_one_round_trip_for_a_small_file(loop, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"small")
    waits = []
    ring = loop._ring
    original = ring.wait

    def counting_wait(timeout):
        events = original(timeout)
        waits.append(len(events))
        return events

    async def main():
        fut = loop.ring_read_file(path)
        assert ring.inflight == 1 + 3  # the wake-up read, then OPENAT, READ, READ queued together
        ring.wait = counting_wait
        try:
            assert await fut == b"small"
        finally:
            ring.wait = original
        assert sum(waits) >= 3 and waits[0] == 3  # the chain's three completions in the first wait

    run_checked(loop, main())


def test_small_and_big_files_with_a_small_first_read(loop, tmp_path):
    data = os.urandom(100_000)
    path = tmp_path / "f"
    path.write_bytes(data)

    async def main():
        for size in (1, 7, 4096, 99_999, 100_000, 200_000):
            assert await loop.ring_read_file(path, size) == data

    run_checked(loop, main())


def test_errors_are_those_of_open_and_read(loop, tmp_path):
    missing = tmp_path / "missing"

    async def main():
        with pytest.raises(FileNotFoundError) as info:
            await loop.ring_read_file(missing)
        assert info.value.errno == errno.ENOENT and info.value.filename == str(missing)
        with pytest.raises(IsADirectoryError) as info:
            await loop.ring_read_file(tmp_path)
        assert info.value.errno == errno.EISDIR and info.value.filename == str(tmp_path)
        (tmp_path / "f").write_bytes(b"")
        with pytest.raises(NotADirectoryError):
            await loop.ring_read_file(tmp_path / "f" / "x")
        with pytest.raises(ValueError, match="null byte"):
            loop.ring_read_file("a\0b")
        with pytest.raises(ValueError, match="size"):
            loop.ring_read_file(tmp_path / "f", 0)
        with pytest.raises(TypeError):
            loop.ring_read_file(tmp_path / "f", "64")

    run_checked(loop, main())


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_permission_denied(loop, tmp_path):
    path = tmp_path / "secret"
    path.write_bytes(b"x")
    path.chmod(0)
    with pytest.raises(PermissionError):
        run_checked(loop, loop.ring_read_file(path))


def test_dir_fd(loop, tmp_path):
    (tmp_path / "rel").write_bytes(b"relative")
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert run_checked(loop, loop.ring_read_file("rel", dir_fd=dfd)) == b"relative"
    finally:
        os.close(dfd)


def writer_thread(path, pieces, pause):
    def write():
        fd = os.open(path, os.O_WRONLY)
        for piece in pieces:
            os.write(fd, piece)
            time.sleep(pause)
        os.close(fd)

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_a_fifo_is_read_to_its_end_not_to_its_first_short_read(loop, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    pieces = [b"a" * 100, b"b" * 5000, b"c" * 200_000, b"d"]
    thread = writer_thread(fifo, pieces, 0.02)
    try:
        assert run_checked(loop, loop.ring_read_file(fifo)) == b"".join(pieces)
    finally:
        thread.join()


def test_without_slots_it_opens_reads_and_closes_a_descriptor(loop, tmp_path):
    data = os.urandom(70_000)
    (tmp_path / "big").write_bytes(data)
    (tmp_path / "small").write_bytes(b"small")
    before = open_fds()

    async def main():
        assert await loop.ring_read_file(tmp_path / "small") == b"small"  # registers the table
        slots = loop._file_slots
        taken = []
        while (slot := slots.take()) is not None:  # every slot in use
            taken.append(slot)
        assert await loop.ring_read_file(tmp_path / "big") == data
        assert await loop.ring_read_file(tmp_path / "small", 2) == b"small"
        with pytest.raises(FileNotFoundError) as info:
            await loop.ring_read_file(tmp_path / "missing")
        assert info.value.filename == str(tmp_path / "missing")
        for slot in taken:
            slots.give(slot)

    run_checked(loop, main())
    assert open_fds() == before


def test_a_refused_table_means_plain_descriptors(loop, tmp_path, monkeypatch):
    (tmp_path / "f").write_bytes(b"payload")

    def refuse(count):
        raise OSError(errno.EINVAL, "refused")

    monkeypatch.setattr(loop._ring, "register_files_sparse", refuse)
    assert run_checked(loop, loop.ring_read_file(tmp_path / "f")) == b"payload"
    assert loop._file_slots._refused


def test_ten_thousand_reads_leave_fds_and_slots_flat(loop, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"payload")
    before = open_fds()

    async def main():
        for _ in range(10_000):
            assert await loop.ring_read_file(path) == b"payload"
        total = loop._file_slots.size
        await settle_slots(loop, total)
        missing = tmp_path / "missing"
        for _ in range(1000):
            with pytest.raises(FileNotFoundError):
                await loop.ring_read_file(missing)
        await settle_slots(loop, total)

    run_checked(loop, main(), timeout=120)
    assert open_fds() == before


def test_many_at_once_beyond_the_slots(loop, tmp_path):
    paths = []
    for i in range(600):
        p = tmp_path / f"f{i}"
        p.write_bytes(str(i).encode() * (i % 50))
        paths.append(p)

    async def main():
        got = await asyncio.gather(*[loop.ring_read_file(p) for p in paths])
        assert got == [p.read_bytes() for p in paths]
        await settle_slots(loop, loop._file_slots.size)

    run_checked(loop, main())


@pytest.mark.parametrize("yields", range(5))
def test_cancelled_reads_leak_nothing(loop, tmp_path, yields):
    small, big = tmp_path / "small", tmp_path / "big"
    small.write_bytes(b"x" * 100)
    big.write_bytes(os.urandom(1 << 20))
    before = open_fds()

    async def main():
        await loop.ring_read_file(small)
        total = loop._file_slots.size
        cancelled = 0
        for path in (small, big, small, big):
            fut = loop.ring_read_file(path)
            for _ in range(yields):  # cancel at every stage: queued, in the kernel, between reads
                await asyncio.sleep(0)
                loop._ring.submit()
            if fut.cancel():
                cancelled += 1
                with pytest.raises(asyncio.CancelledError):
                    await fut
            else:  # it was done before the cancel
                assert await fut == path.read_bytes()
        assert cancelled >= 2  # the big file's reads take several round trips
        await settle_slots(loop, total)
        assert await loop.ring_read_file(small) == b"x" * 100  # buffers reused only once the kernel let go

    run_checked(loop, main())
    assert open_fds() == before


def test_cancel_while_the_open_waits_for_a_fifo_writer(loop, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    async def main():
        await loop.ring_read_file(__file__)
        total = loop._file_slots.size
        fut = loop.ring_read_file(fifo)  # the open blocks in a kernel worker: no writer
        await asyncio.sleep(0.05)
        fut.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fut
        await settle_slots(loop, total)

    run_checked(loop, main())


def test_cancel_while_a_read_waits_for_fifo_data(loop, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    keep_open = threading.Event()

    def writer():
        fd = os.open(fifo, os.O_WRONLY)
        os.write(fd, b"first")
        keep_open.wait(10)
        os.close(fd)

    thread = threading.Thread(target=writer)
    thread.start()

    async def main():
        await loop.ring_read_file(__file__)
        total = loop._file_slots.size
        fut = loop.ring_read_file(fifo)  # the first read gets "first", the second waits for more
        await asyncio.sleep(0.05)
        fut.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fut
        await settle_slots(loop, total)  # the waiting read was cancelled too, the slot closed

    try:
        run_checked(loop, main())
    finally:
        keep_open.set()
        thread.join()


def test_close_soon_closes_before_returning(loop, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    before = open_fds()

    async def main():
        fd = await loop.ring_open(path)
        assert fd in open_fds()
        loop.ring_close_soon(fd)
        assert open_fds() == before
        with pytest.raises(TypeError):
            loop.ring_close_soon("3")

    run_checked(loop, main())


def test_close_soon_after_the_loop_closed(tmp_path):
    import ringloop

    loop = ringloop.new_event_loop()
    fd = os.open(tmp_path / "f", os.O_RDONLY | os.O_CREAT)
    loop.close()
    loop.ring_close_soon(fd)  # no ring: closed directly
    with pytest.raises(OSError):
        os.fstat(fd)


def _direct_fd(path):
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError:
        pytest.skip("no O_DIRECT on this file system")


def test_read_aligned_returns_bytes_from_page_aligned_memory(loop, tmp_path):
    data = os.urandom(5 * 4096 + 100)
    (tmp_path / "f").write_bytes(data)
    fd = _direct_fd(tmp_path / "f")

    async def main():
        assert await loop.ring_read_aligned(fd, 4096, 4096) == data[4096:8192]
        assert await loop.ring_read_aligned(fd, 8192, 4 * 4096) == data[4 * 4096:]  # short at the end
        assert await loop.ring_read_aligned(fd, 4096, 8 * 4096) == b""
        with pytest.raises(OSError) as info:  # O_DIRECT refuses an unaligned offset
            await loop.ring_read_aligned(fd, 4096, 100)
        assert info.value.errno == errno.EINVAL
        got = await asyncio.gather(*[loop.ring_read_aligned(fd, 4096, off) for off in range(0, 5 * 4096, 4096)] * 20)
        assert got == [data[off:off + 4096] for off in range(0, 5 * 4096, 4096)] * 20
        with pytest.raises(ValueError):
            loop.ring_read_aligned(fd, 0, 0)
        with pytest.raises(TypeError):
            loop.ring_read_aligned(fd, "4096", 0)

    try:
        run_checked(loop, main())
    finally:
        os.close(fd)


def test_cancelled_aligned_read_keeps_its_buffer_until_the_kernel_is_done(loop, pipe):
    r, w = pipe

    async def main():
        fut = loop.ring_read_aligned(r, 4096)  # a pipe: waits for data
        await asyncio.sleep(0)
        loop._ring.submit()
        pool = loop._aligned_pool
        assert not pool._free.get(4096)  # the buffer is the op's
        fut.cancel()
        assert await fut.settled() < 0  # -ECANCELED: the kernel let go
        assert len(pool._free[4096]) == 1  # only now back in the pool
        os.write(w, b"after")
        assert await loop.ring_read_aligned(r, 4096) == b"after"

    run_checked(loop, main())
