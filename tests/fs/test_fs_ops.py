"""The loop's file ring ops: ring_open, ring_fsync, ring_close."""
import os

import pytest
from helpers import open_fds


def test_open_write_fsync_close_roundtrip(loop, tmp_path):
    path = tmp_path / "f"

    async def main():
        fd = await loop.ring_open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        assert os.get_inheritable(fd) is False  # O_CLOEXEC always added
        assert await loop.ring_write(fd, b"hello") == 5
        assert await loop.ring_fsync(fd, datasync=True) == 0
        assert await loop.ring_fsync(fd) == 0
        assert await loop.ring_close(fd) == 0
        with pytest.raises(OSError):
            os.fstat(fd)

    loop.run_until_complete(main())
    assert path.read_bytes() == b"hello"
    assert path.stat().st_mode & 0o777 == 0o600


def test_open_errors_match_os_open(loop, tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError) as stock:
        os.open(missing, os.O_RDONLY)
    with pytest.raises(FileNotFoundError) as ours:
        loop.run_until_complete(loop.ring_open(missing))
    assert (ours.value.errno, ours.value.strerror, ours.value.filename) == (
        stock.value.errno, stock.value.strerror, stock.value.filename)
    (tmp_path / "x").write_bytes(b"")
    with pytest.raises(FileExistsError):
        loop.run_until_complete(loop.ring_open(tmp_path / "x", os.O_CREAT | os.O_EXCL | os.O_WRONLY))


def test_open_relative_to_dir_fd(loop, tmp_path):
    (tmp_path / "inside").write_bytes(b"abc")
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = loop.run_until_complete(loop.ring_open("inside", dir_fd=dfd))
        buf = bytearray(3)
        assert loop.run_until_complete(loop.ring_read(fd, buf, 0)) == 3
        assert buf == b"abc"
        loop.run_until_complete(loop.ring_close(fd))
    finally:
        os.close(dfd)


def test_bad_arguments_are_rejected(loop):
    with pytest.raises(ValueError):
        loop.ring_open("a\0b")
    with pytest.raises(TypeError):
        loop.ring_open("a", "r")
    with pytest.raises(TypeError):
        loop.ring_open(3.5)
    with pytest.raises(TypeError):
        loop.ring_fsync(0, datasync=1)
    with pytest.raises(ValueError):
        loop.ring_fsync(-1)
    with pytest.raises(OSError):
        loop.run_until_complete(loop.ring_close(10_000))


def test_cancelled_open_never_leaks_an_fd(loop, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"")
    before = open_fds()

    async def cancel_while_in_kernel():
        fut = loop.ring_open(path)
        loop._ring.submit()  # in the kernel: the cancel must race the open, not unqueue it
        fut.cancel()
        # The open's completion (an fd, or -ECANCELED) arrives within a few
        # ring round trips; a leaked fd would stay open forever.
        for _ in range(10_000):
            if open_fds() == before:
                return
            await loop.ring_nop()

    for _ in range(50):
        loop.run_until_complete(cancel_while_in_kernel())
        assert open_fds() == before
