"""Path functions as ring operations, with ``os``' signatures, results and errors.

stat/lstat/exists are IORING_OP_STATX, rename/replace RENAMEAT, unlink/remove
and rmdir UNLINKAT, mkdir MKDIRAT, link LINKAT, symlink SYMLINKAT.  Listing a
directory has no ring opcode (getdents is not an io_uring operation), so
:func:`listdir` runs ``os.listdir`` in the loop's default executor: a thread,
but never a blocked loop.
"""
from __future__ import annotations

import os

from ._loop import PathArg, ring_loop

__all__ = [
    "exists",
    "link",
    "listdir",
    "lstat",
    "mkdir",
    "remove",
    "rename",
    "replace",
    "rmdir",
    "stat",
    "symlink",
    "unlink",
]


async def stat(path: PathArg | int, *, dir_fd: int | None = None, follow_symlinks: bool = True) -> os.stat_result:
    """``os.stat`` (an int ``path`` is an open fd: ``os.fstat``), as one STATX."""
    return await ring_loop().ring_stat(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)


async def lstat(path: PathArg, *, dir_fd: int | None = None) -> os.stat_result:
    """``os.lstat``: a symbolic link itself, not what it points to."""
    return await ring_loop().ring_stat(path, dir_fd=dir_fd, follow_symlinks=False)


async def exists(path: PathArg | int) -> bool:
    """``os.path.exists``: False for a broken symlink, and for any error (as os.path.exists)."""
    try:
        await ring_loop().ring_stat(path)
    except (OSError, ValueError):
        return False
    return True


async def rename(src: PathArg, dst: PathArg, *, src_dir_fd: int | None = None,
                 dst_dir_fd: int | None = None) -> None:
    """``os.rename``: ``dst`` is replaced if it exists (on Linux, as ``os.replace``)."""
    await ring_loop().ring_rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)


async def replace(src: PathArg, dst: PathArg, *, src_dir_fd: int | None = None,
                  dst_dir_fd: int | None = None) -> None:
    """``os.replace``: rename over ``dst`` atomically."""
    await ring_loop().ring_rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)


async def unlink(path: PathArg, *, dir_fd: int | None = None) -> None:
    """``os.unlink``: remove a file (IsADirectoryError for a directory)."""
    await ring_loop().ring_unlink(path, dir_fd=dir_fd)


remove = unlink


async def mkdir(path: PathArg, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
    """``os.mkdir``: ``mode`` masked by the umask."""
    await ring_loop().ring_mkdir(path, mode, dir_fd=dir_fd)


async def rmdir(path: PathArg, *, dir_fd: int | None = None) -> None:
    """``os.rmdir``: remove an empty directory."""
    await ring_loop().ring_rmdir(path, dir_fd=dir_fd)


async def link(src: PathArg, dst: PathArg, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None,
               follow_symlinks: bool = True) -> None:
    """``os.link``: ``dst`` becomes a hard link to ``src``."""
    await ring_loop().ring_link(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd,
                                follow_symlinks=follow_symlinks)


async def symlink(src: PathArg, dst: PathArg, target_is_directory: bool = False, *,
                  dir_fd: int | None = None) -> None:
    """``os.symlink``: ``dst`` becomes a symbolic link to ``src`` (``target_is_directory``
    is ignored, as on every POSIX system)."""
    await ring_loop().ring_symlink(src, dst, dir_fd=dir_fd)


async def listdir(path: str | os.PathLike[str] = ".") -> list[str]:
    """``os.listdir``, in the default executor: no ring opcode lists a directory."""
    return await ring_loop().run_in_executor(None, os.listdir, path)
