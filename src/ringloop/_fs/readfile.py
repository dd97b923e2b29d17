"""A whole file read with one submission: OPENAT -> READ -> READ, linked, on a fixed file slot.

A read cannot be linked to the open of a normal fd (its number does not exist
when the chain is queued), so the open goes into a slot of the ring's fixed
file table and both reads name the slot.  The second read, at the position
the first left, is the end-of-file check: 0 bytes there is the end for a file
of any type (a short first read is not the end of a pipe's data).  A file
smaller than the first read's buffer is therefore one submission and one
round trip; the slot is closed right after (nobody waits for that close).  A
bigger file, or a pipe whose writer is still there, goes on with reads from
the slot into one growing buffer, so the result is the only copy.

:class:`FileSlots` hands out slots; :class:`FileReadFuture` runs one read.
"""
from __future__ import annotations

import asyncio
import io
import os
import resource
from typing import Any

from .._core.opfuture import OpFuture
from .._ring.errors import RingClosedError
from .._ring.ring import Ring

__all__ = ["FileReadFuture", "FileSlots", "MAX_RW"]

#: The most one read moves (Linux MAX_RW_COUNT).
MAX_RW = 0x7FFFF000
#: The end-of-file check's buffer: bytes past the first read that still need no further round trip.
PROBE = 4096
_SLOTS = 256  # concurrent whole-file reads; beyond that, the three-op path
_POOLED = 32  # first-read buffers kept for reuse


class FileSlots:
    """The ring's fixed file table, registered on first use; free slots and read buffers.

    ``take`` returns None when the kernel refused the table (older than
    5.19, or the file limit too low) or every slot is in use; the caller
    then uses plain descriptors.
    """

    def __init__(self, ring: Ring) -> None:
        self._ring = ring
        self._free: list[int] | None = None
        self.size = 0  # slots in the table, once registered
        self._refused = False
        self._buffers: dict[int, list[bytearray]] = {}

    def take(self) -> int | None:
        free = self._free
        if free is None:
            if self._refused:
                return None
            limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]  # the kernel's cap on the table
            count = _SLOTS if limit == resource.RLIM_INFINITY or limit < 0 else min(_SLOTS, limit)
            try:
                self._ring.register_files_sparse(count)
            except (OSError, RingClosedError):
                self._refused = True
                return None
            free = self._free = list(range(count - 1, -1, -1))
            self.size = count
        return free.pop() if free else None

    def give(self, slot: int) -> None:
        """Return ``slot``: its file is closed (or was never opened)."""
        assert self._free is not None
        self._free.append(slot)

    def close(self, slot: int) -> None:
        """Close the file in ``slot`` with a ring CLOSE; the slot is free when it completes."""
        try:
            self._ring.close_direct(slot, lambda res, flags: self.give(slot))
        except (OSError, RingClosedError):
            pass  # the ring is closing: its table goes with it

    def buffer(self, size: int) -> bytearray:
        kept = self._buffers.get(size)
        return kept.pop() if kept else bytearray(size)

    def reuse(self, buffer: bytearray) -> None:
        kept = self._buffers.setdefault(len(buffer), [])
        if len(kept) < _POOLED:
            kept.append(buffer)


class FileReadFuture(OpFuture):
    """The contents of one file: resolves to bytes, or raises the OSError of open or read.

    Cancelling it cancels the operations in flight; the slot is closed and
    freed, and the buffers reused, only once the kernel is done with them.
    """

    _slots: FileSlots
    _slot: int
    _size: int
    _filename: Any
    _buffer: bytearray | None
    _opened = False
    _first = 0
    _tokens: tuple[int, ...] = ()
    _more_token = 0
    _growing: io.BytesIO | None = None

    def _start(self, slots: FileSlots, slot: int, dir_fd: int, path: bytes, flags: int, size: int,
               filename: Any) -> None:
        self._slots, self._slot, self._size, self._filename = slots, slot, size, filename
        buffer = self._buffer = slots.buffer(size + PROBE)
        try:
            self._tokens = self._ring.open_read2(dir_fd, path, flags, 0, slot, buffer, size,
                                                 self._on_open, self._on_first, self._on_second)
        except BaseException:
            slots.give(slot)
            slots.reuse(buffer)
            raise

    def _fail(self, res: int) -> None:
        if not self.done():
            self.set_exception(OSError(-res, os.strerror(-res), self._filename))

    def _on_open(self, res: int, flags: int) -> None:
        self._opened = res >= 0
        if res < 0:
            self._fail(res)  # both reads come back cancelled

    def _on_first(self, res: int, flags: int) -> None:
        self._first = res
        if self.done() and self._tokens:
            # Cancelled: the second read was still waiting on the link when
            # the cancel went in, and is under way now (on a pipe it would
            # wait for data): cancel it as well.
            try:
                self._ring.cancel_linked(self._tokens[2])
            except OSError:
                pass

    def _on_second(self, res: int, flags: int) -> None:
        # The chain's last completion: the kernel is done with the buffer.
        self._tokens = ()
        buffer, self._buffer = self._buffer, None
        assert buffer is not None
        first = self._first
        slots = self._slots
        if not self._opened:
            slots.give(self._slot)
        elif res == 0 and first >= 0:  # the end: the whole file is in the first read
            if not self.done():
                with memoryview(buffer) as view:
                    self.set_result(view[:first].tobytes())
            slots.close(self._slot)
        elif self.done() or first < 0 or res < 0:
            self._fail(first if first < 0 else res)
            slots.close(self._slot)
        else:  # more than the first read held: read on into one growing buffer
            growing = self._growing = io.BytesIO()
            with memoryview(buffer) as view:
                growing.write(view[:first])
                growing.write(view[self._size:self._size + res])
            self._read_more()
        slots.reuse(buffer)

    def _read_more(self) -> None:
        growing = self._growing
        assert growing is not None
        if self.done():
            self._growing = None
            self._slots.close(self._slot)
            return
        have = growing.tell()
        want = min(max(self._size, have), MAX_RW)
        growing.seek(have + want - 1)
        growing.write(b"\0")  # room for the read: the buffer grows in place where it can
        with growing.getbuffer() as whole:
            part = whole[have:have + want]
        growing.seek(have)
        try:
            self._more_token = self._ring.read_slot(self._slot, part, -1, self._on_more)
        except BaseException as exc:
            self._growing = None
            self._slots.close(self._slot)
            if not self.done():
                self.set_exception(exc)

    def _on_more(self, res: int, flags: int) -> None:
        self._more_token = 0
        growing = self._growing
        assert growing is not None
        if self.done() or res < 0:
            self._growing = None
            self._fail(res)
            self._slots.close(self._slot)
            return
        growing.seek(growing.tell() + res)
        # The ring lets go of the buffer when this handler returns; resizing
        # it (for the next read, or to the final size) waits until then.
        self.get_loop().call_soon(self._read_more if res else self._finish)

    def _finish(self) -> None:
        growing, self._growing = self._growing, None
        assert growing is not None
        self._slots.close(self._slot)
        if not self.done():
            growing.truncate(growing.tell())
            self.set_result(growing.getvalue())  # the buffer itself, no copy

    def cancel(self, msg: Any = None) -> bool:
        if self.done():
            return False
        try:
            for token in self._tokens:
                self._ring.cancel_linked(token)
            if self._more_token:
                self._ring.cancel(self._more_token)
        except OSError:
            pass  # the cancel could not be queued: the reads finish on their own, then the slot closes
        return asyncio.Future.cancel(self, msg=msg)
