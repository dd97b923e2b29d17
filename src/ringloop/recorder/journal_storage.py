"""JournalStorage: an append-only journal file written with the running loop's ring ops.

Reads, writes, opens, closes and fsyncs are ring operations (``loop.ring_*``):
nothing blocks the loop and no thread is used.  Three metadata calls have no
ring op and are made directly, each a single quick syscall: ``flock`` (one
writer at a time, on ``<path>.lock``), ``ftruncate`` (dropping a torn tail,
or a write that failed half-way) and ``rename`` (putting a compacted file in
place).

Durability follows the journals people trust (etcd's WAL, LevelDB's log,
PostgreSQL after "fsyncgate"): a batch is acknowledged only after its write
and its fdatasync both succeeded; a failed fdatasync is never retried, since
the kernel may already have dropped the pages it failed to write, so the
batch fails and the journal refuses writes until it is reopened; the
directory is fsynced after the file is created and after a compacted file is
renamed into place.
"""
from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, cast

from .journal import (
    MAGIC,
    Frame,
    JournalCorrupt,
    Scan,
    Scanner,
    build_frames,
    decode_payload,
    encode_record,
    make_frame,
)
from .storage import StorageBroken, StorageClosed, StorageError, check_query

__all__ = ["JournalStorage", "JournalLocked"]

logger = logging.getLogger("ringloop.recorder")

T = TypeVar("T")

_READ_CHUNK = 1 << 20
_SYNC_MODES = ("data", "none")


class _RingOps(Protocol):
    """The ring operations of a ringloop loop that a journal uses (see ringloop.Loop)."""

    def ring_open(self, path: str, flags: int = ..., mode: int = ..., *,
                  dir_fd: int | None = None) -> Awaitable[int]: ...

    def ring_read(self, fd: int, buffer: Any, offset: int = -1) -> Awaitable[int]: ...

    def ring_write(self, fd: int, data: Any, offset: int = -1) -> Awaitable[int]: ...

    def ring_fsync(self, fd: int, *, datasync: bool = False) -> Awaitable[int]: ...

    def ring_close(self, fd: int) -> Awaitable[int]: ...


class JournalLocked(StorageError):
    """Another JournalStorage (in this process or another) has the journal open."""


class JournalStorage:
    """An append-only journal file: framed, checksummed records, one fdatasync per batch.

    Records are JSON values or bytes (see :func:`encode_record`).  Query:
    ``None`` for all records, or a callable ``record -> bool``.

    ``sync="data"`` (the default) makes ``save`` return only once its batch
    is on stable storage; ``sync="none"`` skips every fsync, trading the
    records of the last seconds before a machine crash for speed (a process
    crash loses nothing written).  ``repair=True`` lets :meth:`open` drop
    damaged frames in the middle of the journal (rewriting it without them)
    instead of raising JournalCorrupt.

    The journal is opened by :meth:`open`, or by the first ``save``,
    ``load`` or ``replace``.  It must be used on a ringloop loop.
    """

    encode = staticmethod(encode_record)

    def __init__(self, path: str | os.PathLike[str], *, sync: str = "data", repair: bool = False) -> None:
        """Describe the journal at ``path``; no I/O happens until it is opened."""
        if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, not {type(path).__name__}")
        if sync not in _SYNC_MODES:
            raise ValueError(f"sync must be one of {_SYNC_MODES}, not {sync!r}")
        if not isinstance(repair, bool):
            raise TypeError(f"repair must be a bool, not {type(repair).__name__}")
        self._path = os.path.abspath(os.fspath(path))
        self._sync = sync == "data"
        self._repair = repair
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._end = 0  # where the next frame goes
        self._records = 0  # also the sequence number of the next record
        self._broken: BaseException | None = None
        self._closed = False
        self._mutex: asyncio.Lock | None = None
        self._mutex_loop: asyncio.AbstractEventLoop | None = None
        #: The Scan of the last :meth:`open` (None before the first).
        self.recovery: Scan | None = None

    @property
    def path(self) -> str:
        """The journal file's absolute path."""
        return self._path

    @property
    def records(self) -> int:
        """How many records the journal holds (0 until it is opened)."""
        return self._records

    def __repr__(self) -> str:
        state = ("closed" if self._closed else "broken" if self._broken is not None
                 else "open" if self._fd is not None else "not opened")
        return f"<JournalStorage {self._path!r} {state} records={self._records}>"

    # -- the Storage protocol ----------------------------------------------------

    async def open(self) -> Scan:
        """Open (or create) the journal, take its writer lock and recover it; return what recovery found.

        Recovery drops a torn tail (logging how many bytes) and raises
        JournalCorrupt for damage before the tail unless ``repair=True``.
        Raises JournalLocked when another JournalStorage has the journal
        open, NotAJournal for a file that is not one.  Opening an open
        journal returns the same Scan; opening a closed one reopens it.
        """
        return await self._exclusive(self._open, lazy_open=False)

    async def save(self, batch: list[Any]) -> None:
        """Append ``batch`` (items from :meth:`encode`) with one write and, unless ``sync="none"``, one fdatasync.

        Raises OSError for a failed write (the journal is cut back to what it
        held, so the batch may be retried) and StorageBroken for a failed
        fdatasync, after which every write raises StorageBroken until the
        journal is closed and opened again.  If the caller is cancelled, the
        write and fsync under way still finish, and the journal's state
        follows their result.
        """
        if not isinstance(batch, list):
            raise TypeError(f"a batch is a list, not {type(batch).__name__}")
        await self._exclusive(self._save, batch)

    async def load(self, query: Callable[[Any], bool] | None = None) -> list[Any]:
        """The records ``query`` selects (all for None), in save order, read back from the file."""
        predicate = check_query(query)
        return await self._exclusive(self._load, predicate)

    async def replace(self, items: list[Any]) -> None:
        """Make ``items`` (from :meth:`encode`) the journal's whole content, atomically: compaction.

        Writes ``<path>.compact``, fsyncs it, renames it over the journal and
        fsyncs the directory: a crash leaves the old journal or the new one,
        never a mix.  Raises StorageBroken if the directory fsync fails (the
        new name may not survive a crash).
        """
        if not isinstance(items, list):
            raise TypeError(f"items must be a list, not {type(items).__name__}")
        await self._exclusive(self._replace, items)

    async def close(self) -> None:
        """Close the journal and release its lock; idempotent.  It can be opened again."""
        if self._fd is None and (self._mutex is None or not self._mutex.locked()):
            self._closed = True  # nothing open and nothing opening
            return
        await self._exclusive(self._close, lazy_open=False)

    # -- the work, one operation at a time -----------------------------------------

    async def _exclusive(self, op: Callable[..., Awaitable[T]], *args: Any, lazy_open: bool = True) -> T:
        # Each operation runs in a task of its own under the mutex: cancelling
        # the caller stops its wait, never a write or an fsync half-way (whose
        # outcome would then be unknown).
        loop = asyncio.get_running_loop()
        if not hasattr(loop, "ring_open"):
            raise RuntimeError("JournalStorage needs a ringloop loop (ringloop.run, ringloop.new_event_loop)")
        if self._mutex_loop is not loop:  # an asyncio.Lock is bound to the loop it first waited on
            self._mutex, self._mutex_loop = asyncio.Lock(), loop
        return await asyncio.shield(loop.create_task(self._locked(cast(_RingOps, loop), op, args, lazy_open)))

    async def _locked(self, loop: _RingOps, op: Callable[..., Awaitable[T]], args: tuple[Any, ...],
                      lazy_open: bool) -> T:
        assert self._mutex is not None
        async with self._mutex:
            if self._fd is None and lazy_open:
                if self._closed:
                    raise StorageClosed(f"journal {self._path} is closed")
                await self._open(loop)
            return await op(loop, *args)

    async def _open(self, loop: _RingOps) -> Scan:
        if self._fd is not None:
            assert self.recovery is not None
            return self.recovery
        lock_fd = await loop.ring_open(self._path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        to_close = [lock_fd]  # if opening fails
        try:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise JournalLocked(f"journal {self._path} is already open by a writer "
                                    "(in this process or another); one writer at a time") from None
            try:
                fd = await loop.ring_open(self._path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                created = True
            except FileExistsError:
                fd = await loop.ring_open(self._path, os.O_RDWR)
                created = False
            to_close.append(fd)
            scan = await self._recover(loop, fd)
            end = scan.end
            if scan.corrupt:  # repair=True: rewrite the journal without the damage
                frames = await self._good_frames(loop, fd)
                new_fd = await self._write_new_file(loop, frames)
                to_close.append(new_fd)
                self._rename_into_place()
                to_close.remove(fd)
                await _close_old(loop, fd)
                fd = new_fd
                end = len(MAGIC) + sum(len(frame) for frame, _ in frames)
                logger.warning("journal %s repaired: %d damaged range(s) and %d torn bytes dropped, "
                               "%d records lost", self._path, len(scan.corrupt), scan.torn, scan.records_lost)
            if created or scan.corrupt:
                await self._fsync_directory(loop)
        except BaseException:
            for leftover in to_close:
                await loop.ring_close(leftover)
            raise
        self._fd, self._lock_fd = fd, lock_fd
        self._end = end
        self._records = scan.records
        self._broken = None
        self._closed = False
        self.recovery = scan
        return scan

    async def _recover(self, loop: _RingOps, fd: int) -> Scan:
        """Scan the journal; start a new one, drop a torn tail, or refuse damage (unless repairing)."""
        scanner = Scanner()
        await self._read(loop, fd, scanner, stop=None)
        scan = scanner.result
        assert scan is not None
        if scan.new:
            # Empty, or created by a process that died before MAGIC was stored.
            _truncate(fd, 0)
            await _write_all(loop, fd, MAGIC, 0)
            await self._fdatasync(loop, fd)
            return Scan(len(MAGIC), len(MAGIC), 0, 0, 0, (), 0, False)
        if scan.corrupt:
            if not self._repair:
                start, end = scan.corrupt[0]
                raise JournalCorrupt(
                    f"journal {self._path}: {end - start} damaged bytes at offset {start}, followed by good "
                    f"frames ({len(scan.corrupt)} damaged range(s), {scan.records_lost} records lost); "
                    "open with repair=True to drop them")
        elif scan.torn:
            _truncate(fd, scan.end)
            await self._fdatasync(loop, fd)
            logger.warning("journal %s: dropped a torn tail of %d bytes after offset %d",
                           self._path, scan.torn, scan.end)
        return scan

    async def _good_frames(self, loop: _RingOps, fd: int) -> list[tuple[bytes, int]]:
        """The good frames of the file, renumbered from 0 (for a repair)."""
        frames: list[tuple[bytes, int]] = []
        seq = 0

        def take(frame: Frame) -> None:
            nonlocal seq
            assert frame.payload is not None
            frames.append((make_frame([frame.payload], frame.records, seq), frame.records))
            seq += frame.records

        await self._read(loop, fd, Scanner(keep_payloads=True), stop=None, sink=take)
        return frames

    async def _save(self, loop: _RingOps, batch: list[Any]) -> None:
        fd = self._writable_fd()
        for frame, count in build_frames(batch, self._records):
            try:
                await _write_all(loop, fd, frame, self._end)
            except BaseException:
                # Cut off what part of the frame may have been written, so that
                # neither a retry nor the next batch can leave a stale frame behind.
                try:
                    _truncate(fd, self._end)
                except OSError as exc:
                    self._broken = exc
                raise
            if self._sync:
                try:
                    await loop.ring_fsync(fd, datasync=True)
                except OSError as exc:
                    self._broken = exc
                    try:  # so that a reopen in this boot does not read the failed batch back as stored
                        _truncate(fd, self._end)
                    except OSError:
                        pass
                    raise StorageBroken(f"fdatasync of journal {self._path} failed; the batch is not stored "
                                        "and the journal refuses writes until it is reopened") from exc
            self._end += len(frame)
            self._records += count

    async def _load(self, loop: _RingOps, predicate: Callable[[Any], bool] | None) -> list[Any]:
        records: list[Any] = []

        def take(frame: Frame) -> None:
            assert frame.payload is not None
            batch = decode_payload(frame.payload, frame.records)
            records.extend(batch if predicate is None else filter(predicate, batch))

        assert self._fd is not None
        scanner = Scanner(keep_payloads=True)
        await self._read(loop, self._fd, scanner, stop=self._end, sink=take)
        scan = scanner.result
        assert scan is not None
        if scan.torn or scan.corrupt:
            raise JournalCorrupt(f"journal {self._path} was damaged after it was opened "
                                 f"(bad data at offset {scan.end})")
        return records

    async def _replace(self, loop: _RingOps, items: list[Any]) -> None:
        old_fd = self._writable_fd()
        frames = build_frames(items, 0)
        new_fd = await self._write_new_file(loop, frames)
        try:
            self._rename_into_place()
        except OSError:
            await loop.ring_close(new_fd)
            raise
        self._fd = new_fd
        self._end = len(MAGIC) + sum(len(frame) for frame, _ in frames)
        self._records = sum(count for _, count in frames)
        await _close_old(loop, old_fd)
        try:
            await self._fsync_directory(loop)
        except OSError as exc:
            self._broken = exc
            raise StorageBroken(f"fsync of the directory of journal {self._path} failed after compaction; "
                                "the journal refuses writes until it is reopened") from exc

    async def _close(self, loop: _RingOps) -> None:
        fds = [fd for fd in (self._fd, self._lock_fd) if fd is not None]
        self._fd = self._lock_fd = None
        self._closed = True
        for fd in fds:  # closing the lock file's fd releases the lock
            await loop.ring_close(fd)

    # -- helpers -------------------------------------------------------------

    def _writable_fd(self) -> int:
        if self._broken is not None:
            raise StorageBroken(f"journal {self._path} refuses writes since an earlier write or fsync "
                                f"failed ({self._broken}); close and reopen it") from self._broken
        assert self._fd is not None  # opened by _locked
        return self._fd

    async def _read(self, loop: _RingOps, fd: int, scanner: Scanner, stop: int | None,
                    sink: Callable[[Frame], None] = lambda frame: None) -> None:
        """Feed ``scanner`` the file from offset 0 to ``stop`` (None: end of file), then finish it."""
        buffer = bytearray(_READ_CHUNK)
        offset = 0
        while stop is None or offset < stop:
            want = _READ_CHUNK if stop is None else min(_READ_CHUNK, stop - offset)
            with memoryview(buffer) as view:
                n = await loop.ring_read(fd, view[:want], offset)
                if n == 0:
                    break
                frames = scanner.feed(view[:n])
            offset += n
            for frame in frames:
                sink(frame)
        for frame in scanner.finish():
            sink(frame)

    async def _write_new_file(self, loop: _RingOps, frames: list[tuple[bytes, int]]) -> int:
        """A synced file at ``<path>.compact`` holding MAGIC and ``frames``; returns its fd."""
        fd = await loop.ring_open(self._path + ".compact", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            await _write_all(loop, fd, b"".join([MAGIC, *(frame for frame, _ in frames)]), 0)
            await self._fdatasync(loop, fd)
        except BaseException:
            await loop.ring_close(fd)
            raise
        return fd

    def _rename_into_place(self) -> None:
        # No ring op for rename(2) here; a metadata change, it does not wait for the disk.
        os.rename(self._path + ".compact", self._path)

    async def _fdatasync(self, loop: _RingOps, fd: int) -> None:
        if self._sync:
            await loop.ring_fsync(fd, datasync=True)

    async def _fsync_directory(self, loop: _RingOps) -> None:
        if not self._sync:
            return
        dir_fd = await loop.ring_open(os.path.dirname(self._path), os.O_RDONLY | os.O_DIRECTORY)
        try:
            await loop.ring_fsync(dir_fd)
        finally:
            await loop.ring_close(dir_fd)


def _truncate(fd: int, length: int) -> None:
    os.ftruncate(fd, length)  # no ring op for ftruncate(2); a metadata change, it does not wait for the disk


async def _close_old(loop: _RingOps, fd: int) -> None:
    # The file this fd names was replaced and its data is synced: Linux frees
    # the fd even when close reports an error, and there is nothing to redo.
    try:
        await loop.ring_close(fd)
    except OSError as exc:
        logger.warning("closing a replaced journal file failed: %s", exc)


async def _write_all(loop: _RingOps, fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset``, going on after short writes."""
    with memoryview(data) as view:
        done = 0
        while done < len(view):
            n = await loop.ring_write(fd, view[done:], offset + done)
            if n == 0:
                raise OSError(errno.EIO, f"write of {len(view) - done} bytes wrote nothing")
            done += n
