"""Path functions and files.Path: os' and pathlib's results and errors, through ring ops."""
import os

import pytest
from helpers import run_checked

from ringloop import files


def test_path_functions_do_what_os_does(loop, tmp_path):
    async def main():
        await files.mkdir(tmp_path / "d")
        (tmp_path / "d" / "f").write_bytes(b"abc")
        assert await files.stat(tmp_path / "d" / "f") == os.stat(tmp_path / "d" / "f")
        await files.symlink("d/f", tmp_path / "s")
        assert await files.lstat(tmp_path / "s") == os.lstat(tmp_path / "s")
        assert await files.exists(tmp_path / "s")
        await files.link(tmp_path / "d" / "f", tmp_path / "h")
        assert os.stat(tmp_path / "h").st_nlink == 2
        await files.rename(tmp_path / "h", tmp_path / "h2")
        (tmp_path / "other").write_bytes(b"other")
        await files.replace(tmp_path / "other", tmp_path / "h2")
        assert (tmp_path / "h2").read_bytes() == b"other"
        await files.unlink(tmp_path / "h2")
        assert sorted(await files.listdir(tmp_path)) == ["d", "s"]
        await files.unlink(tmp_path / "d" / "f")
        assert not await files.exists(tmp_path / "s")  # a broken symlink, as os.path.exists
        await files.remove(tmp_path / "s")
        await files.rmdir(tmp_path / "d")
        assert os.listdir(tmp_path) == []
        assert not await files.exists("bad\0path")

    run_checked(loop, main())


def test_path_function_errors_are_os_errors(loop, tmp_path):
    missing = tmp_path / "missing"
    (tmp_path / "dir").mkdir()
    cases = [
        (files.stat(missing), lambda: os.stat(missing)),
        (files.unlink(tmp_path / "dir"), lambda: os.unlink(tmp_path / "dir")),
        (files.rename(missing, tmp_path / "x"), lambda: os.rename(missing, tmp_path / "x")),
        (files.mkdir(tmp_path / "dir"), lambda: os.mkdir(tmp_path / "dir")),
        (files.rmdir(missing), lambda: os.rmdir(missing)),
    ]
    for ours, stock in cases:
        with pytest.raises(OSError) as expected:
            stock()
        with pytest.raises(OSError) as raised:
            loop.run_until_complete(ours)
        assert type(raised.value) is type(expected.value)
        assert str(raised.value) == str(expected.value)


def test_path_class(loop, tmp_path):
    async def main():
        base = files.Path(tmp_path)
        nested = base / "a" / "b"
        assert isinstance(nested, files.Path) and nested.name == "b"
        await nested.mkdir(parents=True)
        await nested.mkdir(exist_ok=True)
        with pytest.raises(FileExistsError):
            await nested.mkdir()
        target = nested / "t.txt"
        assert await target.write_text("héllo\n") == 6
        assert await target.read_text() == "héllo\n"
        assert await target.read_bytes() == "héllo\n".encode()
        assert await target.write_bytes(b"\x00\x01") == 2
        assert await target.is_file() and await nested.is_dir() and not await target.is_dir()
        assert (await target.stat()).st_size == 2
        async with target.open("rb") as f:
            assert await f.read() == b"\x00\x01"
        moved = await target.rename(base / "moved")
        assert moved == base / "moved" and await moved.exists() and not await target.exists()
        assert sorted([p async for p in base.iterdir()]) == [base / "a", base / "moved"]
        await moved.unlink()
        await moved.unlink(missing_ok=True)
        with pytest.raises(FileNotFoundError):
            await moved.unlink()
        await nested.rmdir()

    run_checked(loop, main())


def _direct_supported(path):
    try:
        fd = os.open(path / "probe", os.O_RDWR | os.O_CREAT | os.O_DIRECT)
    except OSError:
        return False
    os.close(fd)
    return True


def test_direct_reads_and_writes(loop, tmp_path):
    if not _direct_supported(tmp_path):
        pytest.skip("this file system has no O_DIRECT")
    path = tmp_path / "d"
    data = os.urandom(5 * files.ALIGNMENT + 100)
    path.write_bytes(data)

    async def main():
        async with files.open(path, "r+b", direct=True) as f:
            assert await f.pread(files.ALIGNMENT, files.ALIGNMENT) == data[4096:8192]
            assert await f.read(10) == data[:10]  # unaligned reads are aligned inside
            assert await f.read(5000) == data[10:5010]
            assert await f.read() == data[5010:]
            with pytest.raises(ValueError, match="multiples of 4096"):
                await f.pread(100, 0)
            with pytest.raises(ValueError, match="multiples of 4096"):
                await f.pwrite(b"x" * 4096, 10)
            assert await f.pwrite(b"y" * 4096, 0) == 4096
            await f.seek(8192)
            assert await f.write(b"z" * 4096) == 4096
            with pytest.raises(ValueError, match="multiples of 4096"):
                await f.write(b"short")
        with pytest.raises(ValueError, match="binary"):
            files.open(path, "r", direct=True)

    run_checked(loop, main())
    content = path.read_bytes()
    assert content[:4096] == b"y" * 4096 and content[8192:12288] == b"z" * 4096


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "latin-1"])
def test_read_text_and_read_bytes_match_pathlib(loop, tmp_path, encoding):
    import pathlib
    path = tmp_path / "t"
    text = "line one\r\nline two\rthree\n\u00e9" * 5000  # bigger than one read: read on from the slot
    path.write_bytes(text.encode(encoding))
    plain = pathlib.Path(path)

    async def main():
        p = files.Path(path)
        assert await p.read_bytes() == plain.read_bytes()
        assert await p.read_text(encoding=encoding) == plain.read_text(encoding=encoding)
        assert await p.read_text(encoding=encoding, errors="replace") == plain.read_text(encoding, "replace")

    run_checked(loop, main())


def test_read_bytes_and_read_text_errors(loop, tmp_path):
    async def main():
        missing = files.Path(tmp_path / "missing")
        with pytest.raises(FileNotFoundError) as info:
            await missing.read_bytes()
        assert info.value.filename == str(missing)
        with pytest.raises(IsADirectoryError):
            await files.Path(tmp_path).read_text()
        with pytest.raises(LookupError):
            await missing.read_text(encoding="no-such-codec")  # before any I/O, as pathlib
        (tmp_path / "bad").write_bytes(b"\xff\xfe\xfd")
        with pytest.raises(UnicodeDecodeError):
            await files.Path(tmp_path / "bad").read_text(encoding="utf-8")

    run_checked(loop, main())
