"""files.open: the built-in open's arguments, errors and modes, and the running-loop requirement."""
import asyncio
import io
import os
import warnings

import pytest
from helpers import open_fds, run_checked

from ringloop import files

BAD_MODES = ["rw", "rr", "", "q", "rt+b", "tb", "x+w", "+", "b", "t", "rU", "ab+t", 3]
BAD_TEXT_ARGS = [
    dict(mode="rb", encoding="utf-8"), dict(mode="rb", errors="strict"), dict(mode="rb", newline=""),
    dict(mode="r", newline="x"), dict(mode="r", buffering=0), dict(mode="r", encoding=3),
    dict(mode="r", errors=3), dict(mode="r", newline=3), dict(mode="r", buffering=1.5),
    dict(mode="r", buffering="1"), dict(mode="r", encoding="no-such-codec"), dict(mode="r", encoding="hex"),
]


def _stock_error(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the comparison is the point
        return type(exc), str(exc)
    raise AssertionError("the built-in accepted it")


@pytest.mark.parametrize("mode", BAD_MODES, ids=repr)
def test_bad_modes_raise_the_builtins_error(loop, mode, tmp_path):
    path = tmp_path / "f"

    async def ours():
        files.open(path, mode)

    with pytest.raises(Exception) as raised:
        run_checked(loop, ours())
    assert (type(raised.value), str(raised.value)) == _stock_error(lambda: open(path, mode))


@pytest.mark.parametrize("kwargs", BAD_TEXT_ARGS, ids=repr)
def test_bad_text_arguments_raise_the_builtins_error(loop, kwargs, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"")

    async def ours():
        files.open(path, **kwargs)

    with pytest.raises(Exception) as raised:
        run_checked(loop, ours())
    assert (type(raised.value), str(raised.value)) == _stock_error(lambda: open(path, **kwargs).close())


def test_open_errors_match_the_builtin(loop, tmp_path):
    existing = tmp_path / "existing"
    existing.write_bytes(b"")
    private = tmp_path / "private"
    private.write_bytes(b"")
    private.chmod(0)
    cases = [((tmp_path / "missing",), {}), ((tmp_path,), {}), ((tmp_path, "w"), {}),
             ((existing, "x"), {}), ((str(existing).encode(), "xb"), {})]
    if os.geteuid() != 0:  # root opens anything
        cases.append(((private,), {}))
    for args, kwargs in cases:
        with pytest.raises(OSError) as stock:
            open(*args, **kwargs)
        with pytest.raises(OSError) as ours:
            run_checked(loop, _await(files, args, kwargs))
        assert type(ours.value) is type(stock.value)
        assert (ours.value.errno, ours.value.strerror, ours.value.filename) == (
            stock.value.errno, stock.value.strerror, stock.value.filename)


async def _await(module, args, kwargs):
    return await module.open(*args, **kwargs)


def test_opening_a_directory_leaks_no_fd(loop, tmp_path):
    before = open_fds()
    for _ in range(20):
        with pytest.raises(IsADirectoryError):
            run_checked(loop, _await(files, (tmp_path,), {}))
    assert open_fds() == before


def test_await_and_async_with_both_work(loop, tmp_path):
    path = tmp_path / "f"

    async def main():
        async with files.open(path, "w") as f:
            assert isinstance(f, files.TextFile)
            await f.write("x")
        assert f.closed
        f = await files.open(path, "rb")
        assert isinstance(f, files.BinaryFile)
        assert await f.read() == b"x"
        await f.close()
        await f.close()  # idempotent

    run_checked(loop, main())


@pytest.mark.parametrize("mode", ["r", "rb", "w", "wb", "a", "ab", "r+", "r+b", "w+", "w+b", "a+b", "x", "xb"])
def test_mode_attribute_and_abilities_match_the_builtin(loop, tmp_path, mode):
    path = tmp_path / "f"
    if "x" not in mode:
        path.write_bytes(b"")
    with open(path, mode) as stock:
        expected = (stock.mode, stock.readable(), stock.writable(), stock.seekable(), stock.name)
    if "x" in mode:
        path.unlink()

    async def main():
        async with files.open(path, mode) as f:
            return f.mode, f.readable(), await f.writable(), await f.seekable(), f.name

    assert run_checked(loop, main()) == expected


def test_reading_a_write_only_file_and_writing_a_read_only_one(loop, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"data")

    async def main():
        for mode, op in (("wb", "read"), ("w", "read"), ("rb", "write"), ("r", "write")):
            async with files.open(path, mode) as f:
                with open(path, mode) as stock:
                    args = ("",) if op == "write" and "b" not in mode else (b"",) if op == "write" else ()
                    with pytest.raises(io.UnsupportedOperation) as expected:
                        getattr(stock, op)(*args)
                with pytest.raises(io.UnsupportedOperation) as raised:
                    await getattr(f, op)(*args)
                assert str(raised.value) == str(expected.value)

    run_checked(loop, main())


def test_closed_file_raises_value_error(loop, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"data")

    async def main():
        for mode in ("rb", "r", "r+b"):
            f = await files.open(path, mode)
            await f.close()
            with pytest.raises(ValueError, match="closed file"):
                await f.read()
            with pytest.raises(ValueError, match="closed file"):
                await f.tell()
            with pytest.raises(ValueError):
                f.fileno()

    run_checked(loop, main())


def test_fd_and_closefd_and_opener(loop, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    fd = os.open(path, os.O_RDONLY)
    os.lseek(fd, 2, os.SEEK_SET)
    seen = []

    def opener(name, flags):
        seen.append((name, flags & os.O_ACCMODE))
        return os.open(name, flags)

    async def main():
        async with files.open(fd, "rb", closefd=False) as f:
            assert f.name == fd
            assert await f.read(3) == b"234"  # from the fd's position
        assert os.lseek(fd, 0, os.SEEK_CUR) == 5  # the fd's owner sees where we stopped
        with pytest.raises(ValueError, match="closefd"):
            files.open(path, closefd=False)
        async with files.open(path, "rb", opener=opener) as f:
            assert await f.read() == b"0123456789"
        assert seen == [(str(path), os.O_RDONLY)]

    run_checked(loop, main())
    os.close(fd)


def test_binary_line_buffering_warns_as_the_builtin(loop, tmp_path):
    path = tmp_path / "f"

    async def main():
        with pytest.warns(RuntimeWarning, match="line buffering"):
            f = files.open(path, "wb", buffering=1)
        await (await f).close()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_checked(loop, main())


def test_needs_a_running_ringloop_loop(tmp_path):
    with pytest.raises(RuntimeError, match="no event loop is running"):
        files.open(tmp_path / "f")

    async def on_stock_asyncio():
        with pytest.raises(RuntimeError, match="ringloop event loop"):
            files.open(tmp_path / "f")
        with pytest.raises(RuntimeError, match="ringloop event loop"):
            await files.stat(tmp_path)

    asyncio.run(on_stock_asyncio())
