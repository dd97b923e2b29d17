"""Line iteration without Python work per line: a buffer's whole lines split in one C call.

``async for line in f`` hands out a :class:`LineBatch`'s lines with a bare
loop, so a line costs one async-generator step, as close as Python gets to
the built-in file's loop.  The file's cursor is moved once per batch; when
the consumer calls another method of the file in the middle of a batch, the
file first calls :meth:`LineBatch.stop`, which says how far the hand-out got
and ends it (the iteration then goes on from the moved cursor).
"""
from __future__ import annotations

import operator
from typing import AnyStr, Generic, Iterator

__all__ = ["LineBatch"]


class LineBatch(Generic[AnyStr]):
    """Whole lines split from a buffer, handed out one by one through ``lines``.

    ``end`` is the buffer index just past the last of them.
    """

    def __init__(self, lines: list[AnyStr], end: int) -> None:
        self._all: list[AnyStr] = lines
        self.end = end
        self.lines: Iterator[AnyStr] = iter(lines)

    @classmethod
    def split(cls, data: AnyStr, start: int) -> LineBatch[AnyStr] | None:
        """The complete lines of ``data[start:]`` ending in a line feed, split in one C call.

        None when there are none, or when ``splitlines`` would split elsewhere
        too (at a carriage return, a form feed, U+2028, ...), which the caller
        then leaves to readline.
        """
        end = data.rfind(b"\n" if isinstance(data, bytes) else "\n", start) + 1
        if end <= start:
            return None
        lines = _split(data[start:end])
        return None if lines is None else cls(lines, end)

    def stop(self) -> int:
        """End the hand-out; the buffer index just past the lines handed out so far."""
        remaining = operator.length_hint(self.lines)
        # Exhaust the iterator the suspended loop is reading: its next step ends it.
        self.lines.__setstate__(len(self._all))  # type: ignore[attr-defined]  # a list iterator
        return self.end - sum(map(len, self._all[len(self._all) - remaining:]))


_ASCII_BREAKS = "\r\v\f\x1c\x1d\x1e"


def _split(piece: AnyStr) -> list[AnyStr] | None:
    """``piece.splitlines(True)`` if that splits only at line feeds, else None.

    Each test is one C scan: bytes.splitlines splits at \r too, ASCII text at
    \r\v\f\x1c\x1d\x1e, other text also at U+0085, U+2028 and U+2029.
    """
    if isinstance(piece, bytes):
        return None if b"\r" in piece else piece.splitlines(True)
    if piece.isascii():
        return None if any(sep in piece for sep in _ASCII_BREAKS) else piece.splitlines(True)
    lines = piece.splitlines(True)
    return lines if len(lines) == piece.count("\n") else None
