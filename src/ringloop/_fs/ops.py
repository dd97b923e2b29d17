"""File operations on the ring: the loop's public ring_read/ring_write/ring_open/ring_fsync/ring_close.

Each is one io_uring operation returning an :class:`OpFuture`; none blocks the
loop or uses a thread.  ``ringloop.files`` builds its file objects on these.
"""
from __future__ import annotations

import os
from typing import Any

from .._core.base import LoopCore
from .._core.opfuture import OpenOpFuture, OpFuture

__all__ = ["FileOps"]

_AT_FDCWD = -100  # openat(2): relative paths start at the working directory


def _check_fd(fd: object) -> int:
    if isinstance(fd, bool) or not isinstance(fd, int):
        raise TypeError(f"fd must be an int, not {type(fd).__name__}")
    if fd < 0:
        raise ValueError(f"fd must be a file descriptor, got {fd}")
    return fd


def _check_offset(offset: object) -> int:
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(f"offset must be an int, not {type(offset).__name__}")
    if offset < -1:
        raise ValueError(f"offset must be >= 0, or -1 for the file position; got {offset}")
    return offset


class FileOps(LoopCore):
    """Loop methods for files (and any fd) as single ring operations."""

    def ring_read(self, fd: int, buffer: Any, offset: int = -1) -> OpFuture:
        """Read from ``fd`` into the writable ``buffer`` with one ring operation.

        ``offset`` -1 reads at the file position (pipes, sockets, ttys).  The
        future resolves to the number of bytes read (0 at end of file) or
        raises OSError; ``buffer`` stays in use until the kernel is done with it.
        """
        return self._op(OpFuture, self._ring.read, _check_fd(fd), buffer, _check_offset(offset))

    def ring_write(self, fd: int, data: Any, offset: int = -1) -> OpFuture:
        """Write ``data`` (any bytes-like object) to ``fd`` with one ring operation.

        The future resolves to the number of bytes written, which may be short.
        """
        return self._op(OpFuture, self._ring.write, _check_fd(fd), data, _check_offset(offset))

    def ring_fsync(self, fd: int, *, datasync: bool = False) -> OpFuture:
        """Flush ``fd``'s data (and, unless ``datasync``, its metadata) to stable storage.

        One IORING_OP_FSYNC; the future resolves to 0 or raises the OSError of
        fsync(2)/fdatasync(2).  A failure means the data is not known to be
        stored: callers must not retry as if it were (the kernel may have
        dropped the dirty pages already).
        """
        if not isinstance(datasync, bool):
            raise TypeError(f"datasync must be a bool, not {type(datasync).__name__}")
        return self._op(OpFuture, self._ring.fsync, _check_fd(fd), datasync)

    def ring_open(self, path: str | bytes | os.PathLike[str] | os.PathLike[bytes], flags: int = os.O_RDONLY,
                  mode: int = 0o666, *, dir_fd: int | None = None) -> OpenOpFuture:
        """Open ``path`` with one IORING_OP_OPENAT, as ``os.open(path, flags, mode, dir_fd=dir_fd)``.

        The future resolves to the new fd (O_CLOEXEC is always added) or raises
        the OSError that os.open would raise, with ``filename`` set.  If the
        future is cancelled but the kernel opens the file anyway, that fd is
        closed: a cancelled open never leaks a descriptor.
        """
        raw = os.fsencode(path)
        if b"\0" in raw:
            raise ValueError("embedded null byte in path")
        for name, value in (("flags", flags), ("mode", mode)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        dfd = _AT_FDCWD if dir_fd is None else _check_fd(dir_fd)
        fut = self._op(OpenOpFuture, self._ring.openat, dfd, raw, flags | os.O_CLOEXEC, mode)
        fut._filename = os.fspath(path)
        fut._late = self._close_fd
        return fut

    def ring_close(self, fd: int) -> OpFuture:
        """Close ``fd`` with one IORING_OP_CLOSE, queued after every op already queued on it.

        The future resolves to 0 or raises OSError (EBADF for an fd that is not open).
        """
        return self._op(OpFuture, self._ring.close_fd, _check_fd(fd))
