"""The loop's data ring ops beyond read/write: ring_read_bytes, ring_readv, ring_writev,
ring_fallocate, ring_ftruncate, and settled() of a cancelled read or write."""
import errno
import os

import pytest

from ringloop._fs import ops


@pytest.fixture
def rw_fd(tmp_path):
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    yield fd
    os.close(fd)


def test_read_bytes_returns_what_pread_returns(loop, rw_fd):
    os.write(rw_fd, b"0123456789")

    async def main():
        assert await loop.ring_read_bytes(rw_fd, 4, 3) == b"3456"
        assert await loop.ring_read_bytes(rw_fd, 100, 8) == b"89"  # short at end of file
        assert await loop.ring_read_bytes(rw_fd, 5, 10) == b""
        one = await loop.ring_read_bytes(rw_fd, 1, 0)
        assert one == b"0" and type(one) is bytes
        assert bytes(1) == b"\0"  # the read went into its own object, not a shared one

    loop.run_until_complete(main())


def test_read_bytes_at_the_file_position_of_a_pipe(loop, pipe):
    r, w = pipe
    os.write(w, b"piped")
    assert loop.run_until_complete(loop.ring_read_bytes(r, 100)) == b"piped"


def test_vectored_write_and_read(loop, rw_fd):
    async def main():
        assert await loop.ring_writev(rw_fd, [b"ab", bytearray(b"cde"), memoryview(b"fg")], 0) == 7
        first, second = bytearray(3), bytearray(10)
        assert await loop.ring_readv(rw_fd, (first, second), 0) == 7
        assert first == b"abc" and second[:4] == b"defg"

    loop.run_until_complete(main())


def test_fallocate_and_ftruncate(loop, rw_fd):
    async def main():
        assert await loop.ring_fallocate(rw_fd, 0, 10_000) == 0
        assert os.fstat(rw_fd).st_size == 10_000
        assert await loop.ring_ftruncate(rw_fd, 3) == 0
        assert os.fstat(rw_fd).st_size == 3
        with pytest.raises(OSError) as raised:
            await loop.ring_ftruncate(9999, 0)
        assert raised.value.errno == errno.EBADF

    loop.run_until_complete(main())


def test_ftruncate_falls_back_to_the_executor_without_the_opcode(loop, rw_fd, monkeypatch):
    monkeypatch.setattr(ops, "_ring_has_ftruncate", lambda: False)
    os.write(rw_fd, b"0123456789")
    assert loop.run_until_complete(loop.ring_ftruncate(rw_fd, 4)) == 0
    assert os.fstat(rw_fd).st_size == 4


def test_bad_arguments(loop, rw_fd):
    with pytest.raises(ValueError, match="size"):
        loop.ring_read_bytes(rw_fd, 0)
    with pytest.raises(TypeError, match="size"):
        loop.ring_read_bytes(rw_fd, 1.0)
    with pytest.raises(ValueError, match="length"):
        loop.ring_ftruncate(rw_fd, -1)
    with pytest.raises(ValueError, match="length"):
        loop.ring_fallocate(rw_fd, 0, 0)
    with pytest.raises(TypeError):
        loop.ring_readv(rw_fd, [b"read-only"])


def test_settled_reports_the_kernels_result_after_a_cancel(loop, pipe):
    r, w = pipe
    buf = bytearray(10)

    async def main():
        fut = loop.ring_read(r, buf)
        loop._ring.submit()  # in the kernel: only an ASYNC_CANCEL can stop it now
        fut.cancel()
        assert await fut.settled() == -errno.ECANCELED
        # A settled future asked for after the completion is resolved already.
        assert fut.settled().done()
        done = loop.ring_write(w, b"abc")
        assert await done == 3
        assert await done.settled() == 3

    loop.run_until_complete(main())
