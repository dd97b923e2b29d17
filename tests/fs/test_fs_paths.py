"""The loop's path ring ops: ring_stat, ring_rename, ring_unlink, ring_rmdir, ring_mkdir, ring_link, ring_symlink."""
import os

import pytest


def _same_error(loop, ring_call, os_call):
    """ring_call raises what os_call raises: type, errno, strerror, filename, filename2."""
    with pytest.raises(OSError) as stock:
        os_call()
    with pytest.raises(OSError) as ours:
        loop.run_until_complete(ring_call())
    assert type(ours.value) is type(stock.value)
    for attr in ("errno", "strerror", "filename", "filename2"):
        assert getattr(ours.value, attr) == getattr(stock.value, attr), attr


def test_stat_matches_os_stat_field_for_field(loop, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 5000)
    link = tmp_path / "link"
    link.symlink_to(path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    fd = os.open(path, os.O_RDONLY)
    try:
        null = loop.run_until_complete(loop.ring_stat("/dev/null"))
        assert (null.st_mode, null.st_rdev) == (os.stat("/dev/null").st_mode, os.stat("/dev/null").st_rdev)
        # Each pair runs back to back: following a link updates its atime.
        for ours, stock in (
            (lambda: loop.ring_stat(path), lambda: os.stat(path)),
            (lambda: loop.ring_stat(str(link)), lambda: os.stat(link)),
            (lambda: loop.ring_stat(os.fsencode(link), follow_symlinks=False), lambda: os.lstat(link)),
            (lambda: loop.ring_stat(fd), lambda: os.fstat(fd)),
            (lambda: loop.ring_stat(tmp_path), lambda: os.stat(tmp_path)),
            (lambda: loop.ring_stat(fifo), lambda: os.stat(fifo)),
        ):
            result = loop.run_until_complete(ours())
            expected = stock()
            assert isinstance(result, os.stat_result)
            assert result == expected
            for name in ("st_atime", "st_mtime", "st_ctime", "st_atime_ns", "st_mtime_ns", "st_ctime_ns",
                         "st_blksize", "st_blocks", "st_rdev"):
                assert getattr(result, name) == getattr(expected, name), name
    finally:
        os.close(fd)


def test_stat_relative_to_dir_fd(loop, tmp_path):
    (tmp_path / "inside").write_bytes(b"abc")
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert loop.run_until_complete(loop.ring_stat("inside", dir_fd=dfd)).st_size == 3
    finally:
        os.close(dfd)


def test_directory_and_link_ops_do_what_os_does(loop, tmp_path):
    async def main():
        await loop.ring_mkdir(tmp_path / "d", 0o700)
        assert (tmp_path / "d").is_dir()
        assert (tmp_path / "d").stat().st_mode & 0o777 == 0o700 & ~_umask()
        (tmp_path / "d" / "f").write_bytes(b"data")
        assert await loop.ring_link(tmp_path / "d" / "f", tmp_path / "hard") == 0
        assert (tmp_path / "hard").stat().st_ino == (tmp_path / "d" / "f").stat().st_ino
        assert await loop.ring_symlink("d/f", tmp_path / "soft") == 0
        assert os.readlink(tmp_path / "soft") == "d/f"
        assert await loop.ring_rename(tmp_path / "hard", tmp_path / "renamed") == 0
        assert (tmp_path / "renamed").read_bytes() == b"data"
        (tmp_path / "other").write_bytes(b"old")
        await loop.ring_rename(tmp_path / "renamed", tmp_path / "other")  # replaces, like os.replace
        assert (tmp_path / "other").read_bytes() == b"data"
        await loop.ring_unlink(tmp_path / "d" / "f")
        await loop.ring_rmdir(tmp_path / "d")
        assert not (tmp_path / "d").exists()

    loop.run_until_complete(main())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_errors_are_the_os_functions_errors(loop, tmp_path):
    missing, existing = tmp_path / "missing", tmp_path / "existing"
    existing.mkdir()
    (existing / "f").write_bytes(b"")
    cases = [
        (lambda: loop.ring_stat(missing), lambda: os.stat(missing)),
        (lambda: loop.ring_stat(str(missing)), lambda: os.stat(str(missing))),
        (lambda: loop.ring_stat(os.fsencode(missing)), lambda: os.stat(os.fsencode(missing))),
        (lambda: loop.ring_stat(9999), lambda: os.stat(9999)),
        (lambda: loop.ring_rename(missing, tmp_path / "b"), lambda: os.rename(missing, tmp_path / "b")),
        (lambda: loop.ring_unlink(missing), lambda: os.unlink(missing)),
        (lambda: loop.ring_unlink(existing), lambda: os.unlink(existing)),
        (lambda: loop.ring_rmdir(existing), lambda: os.rmdir(existing)),
        (lambda: loop.ring_rmdir(missing), lambda: os.rmdir(missing)),
        (lambda: loop.ring_mkdir(existing), lambda: os.mkdir(existing)),
        (lambda: loop.ring_link(missing, tmp_path / "l"), lambda: os.link(missing, tmp_path / "l")),
        (lambda: loop.ring_symlink("x", existing), lambda: os.symlink("x", existing)),
    ]
    for ring_call, os_call in cases:
        _same_error(loop, ring_call, os_call)


def test_bad_arguments_are_rejected_naming_the_argument(loop):
    with pytest.raises(ValueError, match="null"):
        loop.ring_unlink("a\0b")
    with pytest.raises(TypeError):
        loop.ring_stat(3.5)
    with pytest.raises(TypeError, match="mode"):
        loop.ring_mkdir("d", "0o777")
    with pytest.raises(TypeError, match="src_dir_fd"):
        loop.ring_rename("a", "b", src_dir_fd="3")
    with pytest.raises(ValueError, match="dir_fd"):
        loop.ring_stat(0, dir_fd=3)
    with pytest.raises(ValueError, match="fd"):
        loop.ring_stat(-1)
