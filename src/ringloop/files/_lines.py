"""Line iteration without Python work per line: a buffer's whole lines found in C.

``async for line in f`` hands out a :class:`LineBatch`'s lines with a bare
loop, so a line costs one async-generator step, as close as Python gets to
the built-in file's loop.  Text lines come from one ``splitlines`` call per
buffer; binary lines from an ``io.BytesIO`` over the buffer, whose readline
finds each line feed with memchr.  A line that one buffer begins and the
next one ends is joined from the two (no readline at each buffer's edge).
The file's cursor is moved once per batch; when the consumer calls another
method of the file in the middle of a batch, the file first calls
:meth:`LineBatch.stop`, which says how far the hand-out got and ends it (the
iteration then goes on from the moved cursor).
"""
from __future__ import annotations

import abc
import contextlib
import io
import operator
from typing import AnyStr, AsyncGenerator, AsyncIterator, Generic, Iterator

__all__ = ["LineBatch", "LineIteration"]


class LineBatch(abc.ABC, Generic[AnyStr]):
    """Whole lines of a buffer, handed out one by one through ``lines``.

    ``end`` is the buffer index just past the last of them.
    """

    end: int
    lines: Iterator[AnyStr]

    @staticmethod
    def split(data: AnyStr, start: int) -> LineBatch[AnyStr] | None:
        """The complete lines of ``data[start:]``, those ending in a line feed.

        None when there are none, or (text) when ``splitlines`` would split
        elsewhere too (at a carriage return, a form feed, U+2028, ...), which
        the caller then leaves to readline.
        """
        end = _lines_end(data, start)
        if end <= start:
            return None
        if isinstance(data, bytes):
            return _ByteLines(data, start, end)
        return _TextLines.from_buffer(data, start, end)

    @abc.abstractmethod
    def join(self, beginning: AnyStr) -> None:
        """Put ``beginning`` (the part of the first line an earlier buffer held) before the first line."""

    @abc.abstractmethod
    def whole(self) -> list[AnyStr]:
        """All the lines, as one list (of a batch none of whose lines was handed out)."""

    @abc.abstractmethod
    def stop(self) -> int:
        """End the hand-out; the buffer index just past the lines handed out so far."""


class _ByteLines(LineBatch[bytes]):
    """Binary lines end at b"\\n" only, as io.BytesIO's lines do: an in-memory
    file over the buffer hands them out, each found with memchr, one at a
    time (no list of them, no test of every byte)."""

    def __init__(self, data: bytes, start: int, end: int) -> None:
        # A whole buffer is shared, not copied; else the lines' part of it.
        self._file = io.BytesIO(data if start == 0 and end == len(data) else data[start:end])
        self._start = start  # the buffer index of the in-memory file's first byte
        self.end = end
        self.lines = self._file

    def join(self, beginning: bytes) -> None:
        self._file = io.BytesIO(beginning + self._file.getvalue())
        self._start -= len(beginning)
        self.lines = self._file

    def whole(self) -> list[bytes]:
        return self._file.readlines()

    def stop(self) -> int:
        index = self._start + self._file.tell()
        # Exhaust the in-memory file the suspended loop is reading: its next step ends it.
        self._file.seek(0, io.SEEK_END)
        return index


class _TextLines(LineBatch[str]):
    """Text lines split in one ``splitlines`` call (when it splits only at line feeds)."""

    def __init__(self, lines: list[str], end: int) -> None:
        self._all = lines
        self.end = end
        self.lines = iter(lines)

    @classmethod
    def from_buffer(cls, data: str, start: int, end: int) -> _TextLines | None:
        # A whole buffer (start 0, the common case) is split without a copy of
        # it; what follows its last line feed (a line's beginning) is split off
        # with the lines and dropped.
        lines = _split(data[start:] if start else data)
        if lines is None:
            return None
        if end < len(data):
            lines.pop()
        return cls(lines, end)

    def join(self, beginning: str) -> None:
        self._all[0] = beginning + self._all[0]

    def whole(self) -> list[str]:
        return self._all

    def stop(self) -> int:
        remaining = operator.length_hint(self.lines)
        # Exhaust the iterator the suspended loop is reading: its next step ends it.
        self.lines.__setstate__(len(self._all))  # type: ignore[attr-defined]  # a list iterator
        return self.end - sum(map(len, self._all[len(self._all) - remaining:]))


_ASCII_BREAKS = "\r\v\f\x1c\x1d\x1e"


def _lines_end(data: AnyStr, start: int) -> int:
    """The index just past the last line feed of ``data[start:]``; ``start`` or less when it has none."""
    return data.rfind(b"\n" if isinstance(data, bytes) else "\n", start) + 1


def _split(piece: str) -> list[str] | None:
    """``piece.splitlines(True)`` if that splits only where readline would, else None.

    Every line of ``piece`` but the last ends with a line feed.  splitlines
    also splits at \\r, \\v, \\f, \\x1c-\\x1e, U+0085, U+2028 and U+2029.  The
    common case is told by a few memchr scans for those (a file without
    any); otherwise each extra split makes one line more than there are line
    feeds (plus the unfinished last line), which one count tells (a \\r\\n
    stays one line ending in \\n, as readline returns it).
    """
    if piece.isascii() and not any(sep in piece for sep in _ASCII_BREAKS):
        return piece.splitlines(True)
    lines = piece.splitlines(True)
    return lines if len(lines) == piece.count("\n") + (not piece.endswith("\n")) else None


class LineIteration(abc.ABC, Generic[AnyStr]):
    """``readlines`` and ``async for`` of a file, over its buffer and its readline.

    The binary and the text file provide the buffer (bytes read, or text
    decoded) and the cursor into it, and call :meth:`_sync_lines` first in
    every other method (their open-check does), so that a method called in the
    middle of an iteration sees the cursor past the lines handed out.
    """

    _batch: LineBatch[AnyStr] | None = None  # the lines `async for` is handing out

    @abc.abstractmethod
    def _check_readable(self) -> object:
        """Raise unless the file is open for reading."""

    @abc.abstractmethod
    async def readline(self, size: int | None = -1) -> AnyStr:
        """One line."""

    @abc.abstractmethod
    def _line_source(self) -> tuple[AnyStr, int] | None:
        """(buffer, cursor) to split whole lines from, or None where batches cannot be used."""

    @abc.abstractmethod
    def _move_cursor(self, index: int) -> None:
        """Set the cursor into the current buffer."""

    @abc.abstractmethod
    async def _next_line_buffer(self) -> tuple[AnyStr, bool]:
        """Replace the buffer, whose rest (from the cursor) holds no line feed, by the next one.

        Returns the part of that rest the new buffer does not start with (the
        caller puts it before the first line), and False at end of file.  The
        cursor is not moved before the read completes: a cancelled read leaves
        the rest where it was.
        """

    async def readlines(self, hint: int | None = -1) -> list[AnyStr]:
        """The remaining lines; stops after the line that takes their total size past ``hint`` (if > 0).

        Whole buffers of lines are added at a time (see :meth:`line_batches`).
        """
        if hint is None or hint <= 0:
            lines: list[AnyStr] = []
            async for batch in self.line_batches():
                lines += batch
            return lines
        lines = []
        total = 0
        async for line in self:
            lines.append(line)
            total += len(line)
            if total > hint:
                break
        return lines

    async def line_batches(self) -> AsyncIterator[list[AnyStr]]:
        """The remaining lines, a list of them at a time: ``async for lines in f.line_batches()``.

        Each list holds the whole lines of one buffer (64 KiB by default),
        split in one C call; their concatenation is what ``async for line
        in f`` gives, line for line.  One async step per buffer instead of
        one per line: iterating the lists with a plain ``for`` costs what
        the built-in file's line loop costs.  The cursor moves past a list
        before it is handed out, so any other method may be called between
        batches.
        """
        self._check_readable()
        async with contextlib.aclosing(self._split_buffers()) as items:
            async for item in items:
                if isinstance(item, LineBatch):
                    self._move_cursor(item.end)
                    yield item.whole()
                else:
                    yield [item]

    def __aiter__(self) -> AsyncIterator[AnyStr]:
        """``async for line in f``: lines split a whole buffer at a time (no ring op per line)."""
        self._check_readable()
        return self._lines()

    async def _lines(self) -> AsyncIterator[AnyStr]:
        # aclosing: closing this generator early closes the buffer splitter
        # too, instead of leaving it to the loop's async-generator finalizer
        # (a task that a closing loop may never run).
        async with contextlib.aclosing(self._split_buffers()) as items:
            async for item in items:
                if not isinstance(item, LineBatch):
                    yield item
                    continue
                # A bare loop over the split lines: nothing per line but the yield.
                # The cursor moves when the batch is done, or when the consumer
                # calls another method in between (see _sync_lines).
                self._batch = item
                for line in item.lines:
                    yield line
                if self._batch is item:
                    self._batch = None
                    self._move_cursor(item.end)

    async def _split_buffers(self) -> AsyncGenerator[LineBatch[AnyStr] | AnyStr, None]:
        """Each buffer's whole lines as one LineBatch; else one line from readline.

        A line that starts in one buffer and ends in the next is joined to
        the next buffer's first line (no readline between two buffers).
        readline assembles a line no two buffers hold (longer than a buffer),
        and the lines of a text buffer a \r makes ambiguous.  The caller
        moves the cursor past a batch before it asks for the next item.
        """
        unsplittable = None  # a buffer whose rest readline hands out (\r in it, no whole line, ...)
        beginning: AnyStr | None = None  # the start of a line the buffer before held, its end to come
        while True:
            source = self._line_source()
            batch = None
            if source is not None and source[0] is not unsplittable:
                data, start = source
                batch = LineBatch.split(data, start)
                if batch is None and start and beginning is None and _lines_end(data, start) <= start:
                    # The rest of the buffer is a line's beginning: the next buffer has its end.
                    beginning, more = await self._next_line_buffer()
                    if more:
                        continue
                if batch is None:
                    unsplittable = data
            if batch is not None:
                if beginning:
                    batch.join(beginning)
                beginning = None
                yield batch
                continue
            line = await self.readline()
            if beginning:
                line = beginning + line
            beginning = None
            if not line:
                return
            yield line

    def _sync_lines(self) -> None:
        """Move the cursor past the lines ``async for`` has handed out; stop its batch."""
        batch, self._batch = self._batch, None
        if batch is not None:
            self._move_cursor(batch.stop())
