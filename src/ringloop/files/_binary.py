"""The binary file object: buffered reads and writes as ring operations at explicit offsets.

Every read and write names its file offset (pread/pwrite semantics); the file
position is this object's own number, never the kernel's.  So a read-ahead
costs nothing to take back (a seek inside the buffer, a write after a read),
and a cancelled read leaves the position where it was: from the caller's side
it did not happen.  A cancelled write is waited out (see :func:`settle`): the
bytes that reached the file count, the position moves past them, and the rest
stays in the write buffer for the next flush.  Pipes and other unseekable
files are read and written at the kernel's position instead (offset -1).
"""
from __future__ import annotations

import asyncio
import errno
import io
import os
import warnings
from typing import Awaitable, Iterable

from ._direct import ALIGNMENT, Aligned
from ._lines import LineIteration
from ._loop import IoOp, ReadableBuffer, RingLoop, WritableBuffer, settle
from ._turns import turn_due

__all__ = ["MAX_RW", "BinaryFile"]

#: The most one read or write moves (Linux MAX_RW_COUNT); bigger transfers take several ops.
MAX_RW = 0x7FFFF000
#: Reads of a regular file up to this size try the page cache first (preadv2
#: RWF_NOWAIT); a bigger one is a ring read straight into the result (no copy
#: out of a buffer).
_CACHED_READ_MAX = 65536
_RWF_NOWAIT: int = getattr(os, "RWF_NOWAIT", 0)
_preadv = os.preadv


def _check_position(offset: object) -> None:
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(f"offset must be an int, not {type(offset).__name__}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")


def _join(parts: list[bytes]) -> bytes:
    """``b"".join(parts)`` without copying a lone part (read() of a huge file stays one copy)."""
    parts = [part for part in parts if part]
    return parts[0] if len(parts) == 1 else b"".join(parts)


class BinaryFile(LineIteration[bytes]):
    """An open file in binary mode, from :func:`ringloop.files.open`.

    The call shapes are aiofiles': the I/O methods are coroutines (``read``,
    ``write``, ``seek``, ``tell``, ``flush``, ``truncate``, ``close``,
    ``seekable``, ``writable``, ``isatty``), ``readable()``, ``fileno()``,
    ``name``, ``mode`` and ``closed`` are plain.  Results and errors are
    those of the built-in buffered file.  Sequential operations on one object
    must not overlap (await each before starting the next, as with any
    stream); ``pread`` and ``pwrite`` name their offset and may run from many
    tasks at once.
    """

    def __init__(self, loop: RingLoop, fd: int, name: object, mode: str, *, readable: bool, writable: bool,
                 append: bool, seekable: bool, position: int, buffer_size: int, buffered: bool,
                 closefd: bool, size_hint: int | None, direct: Aligned | None) -> None:
        """Wrap an open ``fd`` (use :func:`ringloop.files.open`)."""
        self._loop = loop
        self._fd = fd
        self.name = name
        self.mode = mode
        self._readable = readable
        self._writable = writable
        self._append = append
        self._seekable = seekable
        self._bufsize = buffer_size
        self._buffered = buffered
        self._closefd = closefd
        # A regular file's size at open (None for other files): the first read()
        # needs no fstat.  Regular files are never read short but at their end.
        self._size_hint = size_hint
        self._regular = size_hint is not None
        self._direct = direct
        # Reads try the page cache first (see _pread_cached): regular files only, not O_DIRECT ones.
        self._nowait = self._regular and direct is None and _RWF_NOWAIT != 0
        self._scratch: memoryview | None = None  # the cached reads' buffer, made (or grown) on use
        self._closed = False
        # The read buffer holds the file's bytes from offset _base on; the
        # write buffer, bytes to be written at _base.  At most one is non-empty.
        self._base = position
        self._rbuf = b""
        self._rpos = 0
        self._wbuf = bytearray()

    # -- state ----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def fileno(self) -> int:
        """The file descriptor; ValueError once closed."""
        self._check_open()
        return self._fd

    def readable(self) -> bool:
        """Whether the file was opened for reading."""
        self._check_open()
        return self._readable

    async def writable(self) -> bool:
        """Whether the file was opened for writing (a coroutine, as in aiofiles)."""
        self._check_open()
        return self._writable

    async def seekable(self) -> bool:
        """Whether the file supports seek and tell (pipes do not)."""
        self._check_open()
        return self._seekable

    async def isatty(self) -> bool:
        """Whether the file is a terminal."""
        self._check_open()
        return os.isatty(self._fd)

    def _position(self) -> int:
        return self._base + self._rpos + len(self._wbuf)

    def _offset(self) -> int:
        """The offset of the next transfer: the position, or -1 (the kernel's) for unseekable files."""
        return self._position() if self._seekable else -1

    def _check_open(self) -> None:
        # Every method but pread and pwrite starts here: the one place that
        # settles a line iteration in progress.
        if self._batch is not None:
            self._sync_lines()
        if self._closed:
            raise ValueError("I/O operation on closed file.")

    def _check_readable(self) -> None:
        self._check_open()
        if not self._readable:
            raise io.UnsupportedOperation("read")

    def _check_writable(self) -> None:
        self._check_open()
        if not self._writable:
            raise io.UnsupportedOperation("write")

    def _drop_read_buffer(self) -> None:
        self._base += self._rpos
        self._rbuf = b""
        self._rpos = 0

    def _take(self, size: int) -> bytes:
        """Up to ``size`` bytes from the read buffer, consumed."""
        rpos = self._rpos
        data = self._rbuf[rpos:rpos + size]
        self._rpos = rpos + len(data)
        return data

    def _read_done(self) -> None:
        """Unbuffered files keep no read-ahead past a call (a pipe's cannot be given back)."""
        if not self._buffered and self._seekable:
            self._drop_read_buffer()

    # -- ring transfers -------------------------------------------------------

    async def _raw_read(self, size: int, offset: int) -> bytes:
        """One read of up to ``size`` bytes at ``offset`` (-1: the kernel's position)."""
        if self._direct is not None:
            return await self._direct.read(self._loop, self._fd, size, offset)
        if self._nowait and size <= _CACHED_READ_MAX:
            return await self._pread_cached(size, offset)
        if self._seekable:
            # Into a new bytes object at an explicit offset: a cancelled read
            # consumed nothing, and nobody else will see its buffer.
            return await self._loop.ring_read_bytes(self._fd, min(size, MAX_RW), offset)
        buffer = bytearray(min(size, MAX_RW))
        with memoryview(buffer) as view:
            n = await self._read_consuming(view)
            return view[:n].tobytes()

    async def _read_consuming(self, view: memoryview) -> int:
        """One read at the kernel's position (pipes) into ``view``.

        Such a read consumes what it gets: if the cancel came too late to
        stop it, its bytes go to the read buffer (empty: every caller drops
        it first) for the next read instead of being lost.
        """
        op: IoOp[int] = self._loop.ring_read(self._fd, view, -1)
        try:
            return await op
        except asyncio.CancelledError:
            n = await settle(op)
            if n > 0:
                self._rbuf, self._rpos = view[:n].tobytes(), 0
            raise

    async def _fill(self) -> bool:
        """Refill the consumed read buffer with one read at the position; False at end of file."""
        self._drop_read_buffer()
        self._rbuf = await self._raw_read(self._bufsize, self._offset())
        return bool(self._rbuf)

    async def _write_all(self, data: ReadableBuffer) -> None:
        """Write all of ``data`` at the position (several ops if the kernel writes short)."""
        view = memoryview(data).cast("B")
        done = 0
        total = len(view)
        while done < total:
            chunk = view[done:done + MAX_RW] if done or total > MAX_RW else data
            op = self._loop.ring_write(self._fd, chunk, self._write_offset())
            try:
                n = await op
            except asyncio.CancelledError:
                n = max(await settle(op), 0)
                done += n
                self._landed(n)
                # What did not reach the file waits for the next flush.
                self._wbuf[:0] = view[done:]
                raise
            done += n
            self._landed(n)

    def _write_offset(self) -> int:
        """Where a write goes: the position; -1 (the kernel's) in append mode, where the
        kernel puts every write at the end anyway, and for unseekable files."""
        return -1 if self._append else self._offset()

    def _landed(self, res: int) -> None:
        """Account a write's result: ``res`` bytes (none if < 0) reached the file.

        In append mode they went to the end, wherever the position was: the
        kernel's file position, just moved past them, says where that is.
        """
        if self._append and self._seekable:
            self._base = os.lseek(self._fd, 0, os.SEEK_CUR)
        else:
            self._base += max(res, 0)

    async def _flush_writes(self) -> None:
        if self._wbuf:
            data, self._wbuf = self._wbuf, bytearray()
            await self._write_all(data)

    # -- reading --------------------------------------------------------------

    async def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all up to end of file when negative or None); b"" at end of file."""
        self._check_readable()
        if self._wbuf:
            await self._flush_writes()
        if size is None or size < 0:
            return await self._read_all()
        if size == 0:
            return b""
        if not self._buffered:
            if self._rpos < len(self._rbuf):  # a pipe's read-ahead, left by readline
                return self._take(size)
            self._drop_read_buffer()
            data = await self._raw_read(size, self._offset())
            self._base += len(data)
            return data
        parts = [self._take(size)]
        remaining = size - len(parts[0])
        while remaining > 0:
            if remaining >= self._bufsize:
                self._drop_read_buffer()
                data = await self._raw_read(remaining, self._offset())
                self._base += len(data)
            elif await self._fill():
                data = self._take(remaining)
            else:
                break
            if not data:
                break
            parts.append(data)
            remaining -= len(data)
        return _join(parts)

    async def _read_all(self) -> bytes:
        parts = [self._take(len(self._rbuf))] if self._rpos < len(self._rbuf) else []
        self._drop_read_buffer()
        want = self._bufsize
        if self._regular:
            size = os.fstat(self._fd).st_size if self._size_hint is None else self._size_hint
            self._size_hint = None  # only true right after open
            remaining = max(size - self._base, 0)
            # Asking one byte more than is left makes a small file one read
            # (it comes back short: the end).  A big one is read exactly (a
            # short read would mean a copy of it), then one more read
            # confirms the end.
            want = remaining + 1 if remaining < self._bufsize else remaining
        # A plain regular file: from the page cache when it holds the bytes (a
        # small file's only read then costs no ring op), else one ring read into
        # a new bytes object, without the _raw_read coroutine around either.
        plain = self._regular and self._direct is None
        while True:
            if self._nowait and want <= _CACHED_READ_MAX:
                data = await self._pread_cached(want, self._base)
            elif plain:
                data = await self._loop.ring_read_bytes(self._fd, min(want, MAX_RW), self._base)
            else:
                data = await self._raw_read(want, self._offset())
            if data:
                parts.append(data)
                self._base += len(data)
            if not data or (self._regular and len(data) < want):
                return parts[0] if len(parts) == 1 else _join(parts)
            want = self._bufsize

    async def read1(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes with at most one ring read (buffer_size when negative)."""
        self._check_readable()
        await self._flush_writes()
        if size < 0:
            size = self._bufsize
        if self._rpos < len(self._rbuf):
            return self._take(size)
        if size >= self._bufsize or not self._buffered:
            self._drop_read_buffer()
            data = await self._raw_read(size, self._offset())
            self._base += len(data)
            return data
        await self._fill()
        return self._take(size)

    async def readinto(self, buffer: WritableBuffer) -> int:
        """Read into ``buffer`` until it is full or the file ends; the count of bytes read."""
        self._check_readable()
        await self._flush_writes()
        # Views released on every way out, a cancel included: the caller can
        # resize its buffer again as soon as the call is over.
        with memoryview(buffer) as whole, whole.cast("B") as view:
            data = self._take(len(view))
            got = len(data)
            view[:got] = data
            while got < len(view):
                if len(view) - got < self._bufsize and self._buffered:
                    if not await self._fill():
                        break
                    data = self._take(len(view) - got)
                    view[got:got + len(data)] = data
                    n = len(data)
                else:
                    self._drop_read_buffer()
                    n = await self._raw_readinto(view, got)
                    self._base += n
                    if not self._buffered:
                        got += n
                        break
                if not n:
                    break
                got += n
        self._read_done()
        return got

    async def _raw_readinto(self, view: memoryview, start: int) -> int:
        """One read into ``view[start:]``."""
        if self._direct is not None:
            data = await self._direct.read(self._loop, self._fd, len(view) - start, self._offset())
            view[start:start + len(data)] = data
            return len(data)
        with view[start:start + MAX_RW] as part:
            if not self._seekable:
                return await self._read_consuming(part)
            op: IoOp[int] = self._loop.ring_read(self._fd, part, self._offset())
            try:
                return await op
            except asyncio.CancelledError:
                await settle(op)  # the caller's buffer is free again when the cancel arrives
                raise

    async def readline(self, size: int | None = -1) -> bytes:
        """One line, ending with b"\\n" unless the file ends first or ``size`` bytes came before it."""
        self._check_readable()
        if size is None:
            size = -1
        rbuf, rpos = self._rbuf, self._rpos
        end = rbuf.find(b"\n", rpos)
        if end >= 0 and (size < 0 or end - rpos < size):
            self._rpos = end + 1
            self._read_done()
            return rbuf[rpos:end + 1]
        await self._flush_writes()
        parts: list[bytes] = []
        total = 0
        while True:
            rbuf, rpos = self._rbuf, self._rpos
            limit = len(rbuf) if size < 0 else min(len(rbuf), rpos + size - total)
            end = rbuf.find(b"\n", rpos, limit)
            stop = end + 1 if end >= 0 else limit
            parts.append(rbuf[rpos:stop])
            self._rpos = stop
            total += stop - rpos
            if end >= 0 or 0 <= size <= total or not await self._fill():
                break
        self._read_done()
        return _join(parts)

    def _line_source(self) -> tuple[bytes, int] | None:
        return (self._rbuf, self._rpos) if self._buffered else None

    def _move_cursor(self, index: int) -> None:
        self._rpos = index

    async def _next_line_buffer(self) -> tuple[bytes, bool]:
        # A seekable file's next buffer is read from the position: it starts
        # with the rest again.  A pipe's read cannot give the rest back.
        rest = b"" if self._seekable else self._rbuf[self._rpos:]
        return rest, await self._fill()

    # -- writing --------------------------------------------------------------

    async def write(self, data: ReadableBuffer) -> int:
        """Write ``data``; returns its length (unbuffered: the count the one ring write took).

        Buffered files keep up to buffer_size bytes before a ring write.
        """
        self._check_writable()
        if self._rbuf:
            self._drop_read_buffer()
        if self._direct is not None:
            n = await self._direct.write(self._loop, self._fd, data, self._position(), self._landed, "write")
            self._landed(n)
            return n
        if not self._buffered:
            op = self._loop.ring_write(self._fd, data, self._write_offset())
            try:
                n = await op
            except asyncio.CancelledError:
                self._landed(await settle(op))
                raise
            self._landed(n)
            return n
        size = memoryview(data).nbytes
        if not self._wbuf and size >= self._bufsize:
            await self._write_all(data)
            return size
        self._wbuf += data
        if len(self._wbuf) >= self._bufsize:
            await self._flush_writes()
        return size

    async def writelines(self, lines: Iterable[ReadableBuffer]) -> None:
        """Write each of ``lines`` (no separators are added)."""
        for line in lines:
            await self.write(line)

    async def flush(self) -> None:
        """Write the write buffer out with ring writes."""
        if self._closed:
            raise ValueError("flush of closed file")
        await self._flush_writes()

    # -- positioned I/O (no shared position: safe from many tasks at once) ----

    def pread(self, size: int, offset: int) -> Awaitable[bytes]:
        """Up to ``size`` bytes at ``offset``, as ``os.pread``; the position does not move.

        Await the result.  With ``direct=True`` both must be multiples of
        ALIGNMENT (ValueError otherwise).  Up to 64 KiB of a regular file are
        copied straight from the page cache when all of it is there (see
        :meth:`_pread_cached`); everything else is one ring read.
        """
        if self._closed or not self._readable or self._wbuf or size < 1 or offset < 0:
            return self._pread_checked(size, offset)
        if self._direct is not None:
            if size % ALIGNMENT or offset % ALIGNMENT:
                self._direct.check(size, offset, "pread")  # raises, saying why
            # The loop's aligned read: its own future, no coroutine around it
            # (the pool buffer is the op's, so a cancel needs no waiting out).
            return self._loop.ring_read_aligned(self._fd, size, offset)
        if self._nowait and type(size) is int and size <= _CACHED_READ_MAX and type(offset) is int:
            return self._pread_cached(size, offset)
        # The ring op's own future, no coroutine around it.  Its buffer is a
        # new bytes object, so a cancel needs no waiting out: nobody else
        # will ever see that object.
        return self._loop.ring_read_bytes(self._fd, size, offset)

    async def _pread_cached(self, size: int, offset: int) -> bytes:
        """Up to ``size`` (<= _CACHED_READ_MAX) bytes at ``offset`` of a regular file, short only at its end.

        The bytes come from the page cache without a ring op when it holds
        them; else the ring reads what was not there.  preadv2 with
        RWF_NOWAIT never blocks: it answers EAGAIN (or reads short) where a
        page is not cached.  A short cached read is the end of the file when
        ``fstat`` says the file ends there (a small file's ``read()`` asks one
        byte more than it holds: no ring op to find its end); otherwise the
        ring reads the rest.  So the result means what a ring read of a
        regular file means, and pread, read, read(n), readline and the line
        iteration all use it.  A cached read completes without the loop, so
        it counts for ``turn_due``: every 16th cached read, of any file, yields
        to the loop.  Nothing moves a position here, so a cancel consumes nothing.
        """
        # The file's scratch buffer, shared by every task's cached read: its
        # bytes are copied out before this coroutine awaits anything.  Made
        # as big as the reads need (a small file's read() needs a few KiB).
        scratch = self._scratch
        if scratch is None or len(scratch) < size:
            scratch = self._scratch = memoryview(bytearray(-(-size // 4096) * 4096))
        view = scratch[:size]
        try:
            got = _preadv(self._fd, (view,), offset, _RWF_NOWAIT)
        except BlockingIOError:  # not cached (or the file system is busy): a ring op after all
            return await self._loop.ring_read_bytes(self._fd, size, offset)
        except OSError as exc:
            if exc.errno == errno.EOPNOTSUPP:  # a file system without RWF_NOWAIT reads
                self._nowait = False
            return await self._loop.ring_read_bytes(self._fd, size, offset)  # its own result or error
        data = bytes(view) if got == size else bytes(view[:got])
        ended = got == size or offset + got >= os.fstat(self._fd).st_size
        if turn_due():
            await asyncio.sleep(0)
        if ended:
            return data
        # Short, and not at the end: only the first pages were cached.  The
        # ring reads the rest (a short ring read of a regular file is its end).
        return data + await self._loop.ring_read_bytes(self._fd, size - got, offset + got)

    async def _pread_checked(self, size: int, offset: int) -> bytes:
        self._check_readable()
        _check_position(offset)
        if self._wbuf:
            await self._flush_writes()
        if size == 0:
            return b""
        return await self.pread(size, offset)

    async def pwrite(self, data: ReadableBuffer, offset: int) -> int:
        """Write ``data`` at ``offset`` with one ring write, as ``os.pwrite``; the count written.

        The position does not move; bytes of a read buffer this write
        overlaps are dropped.  With ``direct=True``, ``len(data)`` and
        ``offset`` must be multiples of ALIGNMENT (ValueError otherwise).
        """
        self._check_writable()
        _check_position(offset)
        if self._wbuf:
            await self._flush_writes()
        if self._rbuf:
            self._drop_read_buffer()
        if self._direct is not None:
            return await self._direct.write(self._loop, self._fd, data, offset, None, "pwrite")
        op = self._loop.ring_write(self._fd, data, offset)
        try:
            return await op
        except asyncio.CancelledError:
            await settle(op)
            raise

    # -- position and size ------------------------------------------------------

    async def tell(self) -> int:
        """The position (what the next read or write uses)."""
        self._check_open()
        if not self._seekable:
            raise OSError(errno.ESPIPE, os.strerror(errno.ESPIPE))
        return self._position()

    async def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move the position, as the built-in ``seek``; the new position.

        A target inside the read buffer keeps the buffer (no ring op at all);
        SEEK_END asks the kernel for the size (one statx).
        """
        self._check_open()
        if not isinstance(offset, int):
            raise TypeError(f"'{type(offset).__name__}' object cannot be interpreted as an integer")
        if whence not in (os.SEEK_SET, os.SEEK_CUR, os.SEEK_END):
            raise ValueError(f"whence value {whence} unsupported")
        if not self._seekable:
            raise io.UnsupportedOperation("File or stream is not seekable.")
        if whence == os.SEEK_SET and offset < 0:
            raise ValueError(f"negative seek position {offset}")
        await self._flush_writes()
        if whence == os.SEEK_SET:
            target = offset
        elif whence == os.SEEK_CUR:
            target = self._position() + offset
        else:
            target = os.fstat(self._fd).st_size + offset  # see _open: fstat never waits for I/O
        if target < 0:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        if self._rbuf and self._base <= target <= self._base + len(self._rbuf):
            self._rpos = target - self._base
        else:
            self._rbuf, self._rpos, self._base = b"", 0, target
        return target

    async def truncate(self, size: int | None = None) -> int:
        """Cut or extend the file to ``size`` bytes (default: the position); the position stays."""
        self._check_writable()
        await self._flush_writes()
        if size is None:
            size = self._position()
        self._drop_read_buffer()
        await self._loop.ring_ftruncate(self._fd, size)
        return size

    async def fsync(self) -> None:
        """Flush, then fsync(2): data and metadata on stable storage."""
        await self.flush()
        await self._loop.ring_fsync(self._fd)

    async def fdatasync(self) -> None:
        """Flush, then fdatasync(2): the data (and the size) on stable storage."""
        await self.flush()
        await self._loop.ring_fsync(self._fd, datasync=True)

    async def fallocate(self, offset: int, length: int, mode: int = 0) -> None:
        """Reserve ``length`` bytes at ``offset`` with fallocate(2) (``mode``: FALLOC_FL_* bits)."""
        self._check_writable()
        await self._flush_writes()
        await self._loop.ring_fallocate(self._fd, offset, length, mode)

    # -- closing --------------------------------------------------------------

    async def close(self) -> None:
        """Flush and close; idempotent.

        The descriptor is closed even when the flush fails or is cancelled
        (the error or the cancel then propagates; unwritten bytes are lost).
        """
        if self._closed:
            return
        try:
            await self._flush_writes()
        finally:
            self._closed = True
            position = self._base + self._rpos  # bytes still in the write buffer are lost
            self._rbuf, self._wbuf = b"", bytearray()
            if self._closefd and not self._writable:
                # Nothing to flush, so close(2) has nothing to report: the
                # CLOSE is queued after any op still queued on the fd and
                # submitted at once, with no round trip to wait for.
                self._loop.ring_close_soon(self._fd)
            elif self._closefd:
                # Shielded: a cancel while the close is queued must not leak the fd.
                await asyncio.shield(self._loop.ring_close(self._fd))
            elif self._seekable:
                os.lseek(self._fd, position, os.SEEK_SET)  # the fd's owner sees our position

    async def __aenter__(self) -> BinaryFile:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True) and self._closefd:
            warnings.warn(f"unclosed file {self!r}", ResourceWarning, source=self)
            os.close(self._fd)

    def __repr__(self) -> str:
        return f"<ringloop.files.{type(self).__name__} name={self.name!r} mode={self.mode!r}>"
