"""File operations on the ring: the loop's public ``ring_*`` methods for files and paths.

Each is one io_uring operation returning an op-future; none blocks the loop
or uses a thread (the one exception: ``ring_ftruncate`` on a kernel older
than 6.9, which has no ring opcode for it).  Arguments are checked the way
``os`` checks them, and failures raise the OSError that the matching ``os``
function raises, with the same ``errno``, ``strerror``, ``filename`` and
``filename2``.  ``ringloop.files`` builds its file objects on these.
"""
from __future__ import annotations

import asyncio
import functools
import os
import stat
from typing import Any, Sequence, Union

from .._core.base import LoopCore
from .._core.opfuture import OpenOpFuture, OpFuture
from .._ring.errors import RingClosedError
from .._ring.ring import OP_FTRUNCATE, ignore_completion, probe_opcodes
from .aligned import AlignedPool, AlignedReadFuture
from .futures import BytesOpFuture, IoOpFuture, PathOpFuture, StatOpFuture
from .readfile import FileReadFuture, FileSlots
from .statx import AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, STATX_SIZE

__all__ = ["FileOps", "PathArg"]

PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

_AT_FDCWD = -100  # *at(2): relative paths start at the working directory
_AT_REMOVEDIR = 0x200  # unlinkat(2): remove a directory
_AT_SYMLINK_FOLLOW = 0x400  # linkat(2): link what a symlink points to
#: The most one read or write moves (Linux MAX_RW_COUNT); larger requests come back short.
MAX_RW = 0x7FFFF000
#: Aligned (O_DIRECT) reads are submitted to the kernel every this many, not
#: only at the loop's next wait.  A device read takes hundreds of µs and this
#: VM's disk completes them in bursts: after a burst of 31, the replacements
#: reach the device 8 at a time as the tasks queue them, instead of all 31
#: after the last task ran (paired against fio: 0.62x against 0.49x, 10 rounds;
#: one enter per read was worse).
_ALIGNED_SUBMIT_EVERY = 8


def _check_int(value: object, name: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


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


def _raw_path(path: PathArg) -> bytes:
    """``path`` as the NUL-terminated C string's bytes; TypeError and ValueError as os gives."""
    raw = os.fsencode(path)
    if b"\0" in raw:
        raise ValueError("embedded null byte in path")
    return raw


def _dir_fd(dir_fd: int | None, name: str = "dir_fd") -> int:
    return _AT_FDCWD if dir_fd is None else _check_int(dir_fd, name)


@functools.cache
def _ring_has_ftruncate() -> bool:
    return OP_FTRUNCATE in probe_opcodes()[1]


def _ftruncate_blocking(fd: int, length: int) -> int:
    os.ftruncate(fd, length)
    return 0


class FileOps(LoopCore):
    """Loop methods for files, paths and any fd, as single ring operations."""

    _file_slots: FileSlots | None = None  # the fixed file table, registered on first use
    _aligned_pool: AlignedPool | None = None  # page-aligned read buffers, made on first use
    _aligned_queued = 0  # aligned reads queued since ring_read_aligned last submitted

    # -- data ----------------------------------------------------------------

    def ring_read(self, fd: int, buffer: Any, offset: int = -1) -> IoOpFuture:
        """Read from ``fd`` into the writable ``buffer`` with one ring operation.

        ``offset`` -1 reads at the file position (pipes, sockets, ttys).  The
        future resolves to the number of bytes read (0 at end of file) or
        raises OSError; ``buffer`` stays in use until the kernel is done with
        it, which ``settled()`` of the future tells after a cancel.
        """
        return self._op(IoOpFuture, self._ring.read, _check_fd(fd), buffer, _check_offset(offset))

    def ring_read_bytes(self, fd: int, size: int, offset: int = -1) -> BytesOpFuture:
        """Read up to ``size`` bytes (1 to MAX_RW) from ``fd`` into a new bytes object, as ``os.pread`` does.

        The future resolves to the bytes read (b"" at end of file); the kernel
        reads straight into the returned object, so no copy is made.
        ``offset`` -1 reads at the file position.
        """
        # The hot path of random reads (the files layer's pread): one test
        # for the common case, then _op spelled out; anything unusual takes
        # the checked path.
        if (type(fd) is not int or fd < 0 or type(size) is not int or not 0 < size <= MAX_RW
                or type(offset) is not int or offset < -1 or self._closed or self._debug):
            return self._read_bytes_checked(fd, size, offset)
        data = bytes(size)  # at least 1 byte: a new object, never a cached one
        fut = BytesOpFuture(loop=self)
        fut._data = data
        ring = fut._ring = self._ring  # OpFuture._attach, without its frame
        fut._token = ring.read_fresh(fd, data, offset, fut._complete)
        return fut

    def _read_bytes_checked(self, fd: object, size: object, offset: object) -> BytesOpFuture:
        if not 0 < _check_int(size, "size") <= MAX_RW:
            raise ValueError(f"size must be between 1 and {MAX_RW}, got {size}")
        data = bytes(size)  # type: ignore[call-overload]
        fut = self._op(BytesOpFuture, self._ring.read_fresh, _check_fd(fd), data, _check_offset(offset))
        fut._data = data
        return fut

    def ring_read_aligned(self, fd: int, size: int, offset: int = -1) -> AlignedReadFuture:
        """Read up to ``size`` bytes from ``fd`` into page-aligned memory; resolves to a bytes copy of them.

        For files opened with O_DIRECT, whose reads need memory that starts on
        a block boundary (a bytes object's data never does): the read goes into
        a pinned, page-aligned buffer from the loop's pool, and the future
        resolves to the bytes read (b"" at end of file), copied out, after
        which the buffer is reused.  Offset and size must suit the file
        (O_DIRECT: multiples of its block size); the kernel's EINVAL otherwise.
        ``settled()`` as for ``ring_read``.  Every _ALIGNED_SUBMIT_EVERY-th
        such read is submitted to the kernel at once, not at the loop's next
        wait, so that a device gets new reads while tasks are still queueing.
        """
        pool = self._aligned_pool
        # The hot path of O_DIRECT reads, as in ring_read_bytes: one test for
        # the common case, the pool's take inline; anything else is checked.
        if (type(fd) is not int or fd < 0 or type(size) is not int or not 0 < size <= MAX_RW
                or type(offset) is not int or offset < -1 or self._closed or self._debug or pool is None):
            pool = self._aligned_checked(fd, size, offset)
        kept = pool._free.get(size)
        entry = kept.pop() if kept else pool.take(size)
        fut = AlignedReadFuture(loop=self)
        fut._pool = pool
        fut._entry = entry
        ring = fut._ring = self._ring
        try:
            fut._token = ring.read_pinned(fd, entry[1], offset, fut._complete)
        except BaseException:
            pool.give(entry)
            raise
        self._aligned_queued += 1
        if self._aligned_queued >= _ALIGNED_SUBMIT_EVERY:
            self._aligned_queued = 0
            try:
                ring.submit()
            except (OSError, RuntimeError):
                pass  # a thread the SINGLE_ISSUER ring does not accept: the loop's next wait submits them
        return fut

    def _aligned_checked(self, fd: object, size: object, offset: object) -> AlignedPool:
        """ring_read_aligned's checks, in order; the pool, made on first use."""
        if not 0 < _check_int(size, "size") <= MAX_RW:
            raise ValueError(f"size must be between 1 and {MAX_RW}, got {size}")
        _check_fd(fd)
        _check_offset(offset)
        self._check_closed()
        if self._debug:
            self._check_thread()
        if self._aligned_pool is None:
            self._aligned_pool = AlignedPool()
        return self._aligned_pool

    def ring_readv(self, fd: int, buffers: Sequence[Any], offset: int = -1) -> IoOpFuture:
        """Read from ``fd`` into the writable ``buffers`` in order, with one ring operation (readv).

        The future resolves to the total number of bytes read.
        """
        return self._op(IoOpFuture, self._ring.readv, _check_fd(fd), list(buffers), _check_offset(offset))

    def ring_write(self, fd: int, data: Any, offset: int = -1) -> IoOpFuture:
        """Write ``data`` (any bytes-like object) to ``fd`` with one ring operation.

        The future resolves to the number of bytes written, which may be short.
        """
        return self._op(IoOpFuture, self._ring.write, _check_fd(fd), data, _check_offset(offset))

    def ring_writev(self, fd: int, buffers: Sequence[Any], offset: int = -1) -> IoOpFuture:
        """Write ``buffers`` in order with one ring operation (writev); resolves to the bytes written."""
        return self._op(IoOpFuture, self._ring.writev, _check_fd(fd), list(buffers), _check_offset(offset))

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

    def ring_fallocate(self, fd: int, offset: int, length: int, mode: int = 0) -> OpFuture:
        """Allocate (or, per ``mode``'s FALLOC_FL_* bits, punch or keep size) ``length`` bytes at ``offset``.

        One IORING_OP_FALLOCATE: fallocate(2); mode 0 is ``os.posix_fallocate``.
        The future resolves to 0 or raises fallocate(2)'s OSError.
        """
        _check_int(offset, "offset")
        _check_int(length, "length", 1)
        return self._op(OpFuture, self._ring.fallocate, _check_fd(fd), _check_int(mode, "mode"), offset, length)

    def ring_ftruncate(self, fd: int, length: int) -> Any:
        """Truncate or extend ``fd``'s file to ``length`` bytes, as ``os.ftruncate``; resolves to 0.

        IORING_OP_FTRUNCATE exists from Linux 6.9 on.  On an older kernel this
        runs ``os.ftruncate`` in the loop's default executor instead, because
        truncating can block on the file system and the loop must not.
        """
        _check_fd(fd)
        _check_int(length, "length")
        if _ring_has_ftruncate():
            return self._op(OpFuture, self._ring.ftruncate, fd, length)
        return self.run_in_executor(None, _ftruncate_blocking, fd, length)

    # -- opening and closing --------------------------------------------------

    def ring_open(self, path: PathArg, flags: int = os.O_RDONLY, mode: int = 0o666,
                  *, dir_fd: int | None = None) -> OpFuture:
        """Open ``path`` with one IORING_OP_OPENAT, as ``os.open(path, flags, mode, dir_fd=dir_fd)``.

        The future resolves to the new fd (O_CLOEXEC is always added) or raises
        the OSError that os.open would raise, with ``filename`` set.  If the
        future is cancelled but the kernel opens the file anyway, that fd is
        closed: a cancelled open never leaks a descriptor.
        """
        raw = _raw_path(path)
        for name, value in (("flags", flags), ("mode", mode)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        fut = self._op(OpenOpFuture, self._ring.openat, _dir_fd(dir_fd), raw, flags | os.O_CLOEXEC, mode)
        fut._filename = os.fspath(path)
        fut._late = self._close_fd
        return fut

    def ring_read_file(self, path: PathArg, size: int = 65536, *,
                       dir_fd: int | None = None) -> asyncio.Future[bytes]:
        """The whole contents of the file at ``path``, as ``open(path, "rb").read()``; one submission when small.

        An OPENAT into a slot of the ring's fixed file table, linked to a READ
        of up to ``size`` bytes and a READ that finds the end of the file, all
        queued by one call into C: a file of fewer than ``size`` bytes (plus
        4 KiB) costs one submission and one round trip, then its slot is
        closed (nobody waits for that).  A bigger file, or a pipe still being
        written, goes on with reads from the slot into one growing buffer
        (the result is the only copy).  Resolves to the bytes, or raises the
        OSError that opening or reading raises (``filename`` set).  Cancelling
        cancels the operations in flight; the slot is always closed.  Without
        a fixed file table (Linux before 5.19), or with every slot in use, it
        opens, reads and closes a plain descriptor instead.
        """
        raw = _raw_path(path)
        if not 0 < _check_int(size, "size") <= MAX_RW - 4096:
            raise ValueError(f"size must be between 1 and {MAX_RW - 4096}, got {size}")
        dfd = _dir_fd(dir_fd)
        self._check_closed()
        if self._debug:
            self._check_thread()
        slots = self._file_slots
        if slots is None:
            slots = self._file_slots = FileSlots(self._ring)
        slot = slots.take()
        if slot is None:
            return self.create_task(self._read_file_plainly(path, size, dfd))
        fut = FileReadFuture(loop=self)
        fut._ring = self._ring
        # No O_CLOEXEC: a fixed file has no descriptor (and the kernel refuses the flag).
        fut._start(slots, slot, dfd, raw, os.O_RDONLY, size, os.fspath(path))
        return fut

    async def _read_file_plainly(self, path: PathArg, size: int, dir_fd: int) -> bytes:
        """ring_read_file without a fixed file slot: open, read to the end, close."""
        fd = await self.ring_open(path, os.O_RDONLY, dir_fd=None if dir_fd == _AT_FDCWD else dir_fd)
        try:
            st = os.fstat(fd)  # the inode is in memory: never waits for I/O
            regular = stat.S_ISREG(st.st_mode)
            want = st.st_size + 1 if regular and st.st_size < MAX_RW else size
            parts = []
            while True:
                try:
                    data = await self.ring_read_bytes(fd, want, -1)
                except OSError as exc:
                    exc.filename = os.fspath(path)
                    raise
                if data:
                    parts.append(data)
                if not data or (regular and len(data) < want):
                    return parts[0] if len(parts) == 1 else b"".join(parts)
                want = size
        finally:
            self.ring_close_soon(fd)

    def ring_close_soon(self, fd: int) -> None:
        """Close ``fd`` with a ring CLOSE, queued after every op already queued on it, and submitted now.

        Nothing to await and no result: for descriptors whose close has
        nothing to report (a file opened only for reading has no data to
        flush).  The descriptor is closed when this returns (with SQPOLL,
        moments later, by the kernel thread).
        """
        _check_fd(fd)
        try:
            self._ring.close_fd(fd, ignore_completion)
        except (RingClosedError, OSError):
            os.close(fd)  # no ring to queue it on: nothing can be queued behind it either
            return
        try:
            self._ring.submit()  # the close runs inline in this enter (with SQPOLL, moments later)
        except (OSError, RuntimeError):
            pass  # a thread the SINGLE_ISSUER ring does not accept: the loop's next wait submits it

    def ring_close(self, fd: int) -> OpFuture:
        """Close ``fd`` with one IORING_OP_CLOSE, queued after every op already queued on it.

        The future resolves to 0 or raises OSError (EBADF for an fd that is not open).
        """
        return self._op(OpFuture, self._ring.close_fd, _check_fd(fd))

    # -- paths ----------------------------------------------------------------

    def _path_op(self, filenames: tuple[Any, ...], queue: Any, *args: Any) -> PathOpFuture:
        fut = self._op(PathOpFuture, queue, *args)
        fut._filenames = filenames
        return fut

    def ring_stat(self, path: int | PathArg, *, dir_fd: int | None = None,
                  follow_symlinks: bool = True) -> StatOpFuture:
        """``os.stat`` as one IORING_OP_STATX: ``path`` may be an open fd (then as ``os.fstat``).

        Resolves to the ``os.stat_result`` os.stat would give, or raises its
        OSError; ``follow_symlinks=False`` is ``os.lstat``.
        """
        out = bytearray(STATX_SIZE)
        flags = 0 if follow_symlinks else AT_SYMLINK_NOFOLLOW
        name: object
        if isinstance(path, int):  # an fd (a bool is refused by _check_fd)
            if dir_fd is not None:
                raise ValueError("dir_fd cannot be used with an fd as path")
            dfd, raw, flags, name = _check_fd(path), b"", flags | AT_EMPTY_PATH, path
        else:
            dfd, raw, name = _dir_fd(dir_fd), _raw_path(path), os.fspath(path)
        fut = self._op(StatOpFuture, self._ring.statx, dfd, raw, flags, STATX_BASIC_STATS, out)
        fut._buffer = out
        fut._filenames = (name,)
        return fut

    def ring_rename(self, src: PathArg, dst: PathArg, *,
                    src_dir_fd: int | None = None, dst_dir_fd: int | None = None) -> PathOpFuture:
        """``os.rename`` (and ``os.replace``: on Linux they are one call) as one IORING_OP_RENAMEAT; resolves to 0."""
        return self._path_op((os.fspath(src), None, os.fspath(dst)), self._ring.renameat,
                             _dir_fd(src_dir_fd, "src_dir_fd"), _raw_path(src),
                             _dir_fd(dst_dir_fd, "dst_dir_fd"), _raw_path(dst), 0)

    def ring_unlink(self, path: PathArg, *, dir_fd: int | None = None) -> PathOpFuture:
        """``os.unlink`` as one IORING_OP_UNLINKAT; resolves to 0."""
        return self._path_op((os.fspath(path),), self._ring.unlinkat, _dir_fd(dir_fd), _raw_path(path), 0)

    def ring_rmdir(self, path: PathArg, *, dir_fd: int | None = None) -> PathOpFuture:
        """``os.rmdir`` as one IORING_OP_UNLINKAT with AT_REMOVEDIR; resolves to 0."""
        return self._path_op((os.fspath(path),), self._ring.unlinkat, _dir_fd(dir_fd), _raw_path(path),
                             _AT_REMOVEDIR)

    def ring_mkdir(self, path: PathArg, mode: int = 0o777, *,
                   dir_fd: int | None = None) -> PathOpFuture:
        """``os.mkdir`` as one IORING_OP_MKDIRAT (``mode`` masked by the umask); resolves to 0."""
        return self._path_op((os.fspath(path),), self._ring.mkdirat, _dir_fd(dir_fd), _raw_path(path),
                             _check_int(mode, "mode"))

    def ring_link(self, src: PathArg, dst: PathArg, *,
                  src_dir_fd: int | None = None, dst_dir_fd: int | None = None,
                  follow_symlinks: bool = True) -> PathOpFuture:
        """``os.link``: ``dst`` becomes a hard link to ``src``, as one IORING_OP_LINKAT; resolves to 0."""
        flags = _AT_SYMLINK_FOLLOW if follow_symlinks else 0
        return self._path_op((os.fspath(src), None, os.fspath(dst)), self._ring.linkat,
                             _dir_fd(src_dir_fd, "src_dir_fd"), _raw_path(src),
                             _dir_fd(dst_dir_fd, "dst_dir_fd"), _raw_path(dst), flags)

    def ring_symlink(self, src: PathArg, dst: PathArg, *,
                     dir_fd: int | None = None) -> PathOpFuture:
        """``os.symlink``: ``dst`` becomes a symbolic link to ``src``, as one IORING_OP_SYMLINKAT; resolves to 0."""
        return self._path_op((os.fspath(src), None, os.fspath(dst)), self._ring.symlinkat,
                             _raw_path(src), _dir_fd(dir_fd), _raw_path(dst))
