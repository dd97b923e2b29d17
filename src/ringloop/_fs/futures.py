"""Op-futures of file operations: what a completion means for each kind.

:class:`IoOpFuture` adds :meth:`~IoOpFuture.settled` to the plain op-future:
a caller that cancelled a read or write learns when, and how, the kernel
finished with it, which is what keeps a file object's position and buffers
consistent after a cancel.  The other classes turn a result into what the
matching ``os`` function returns or raises.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any

from .._core.opfuture import OpFuture
from .statx import stat_result

__all__ = ["BytesOpFuture", "IoOpFuture", "PathOpFuture", "StatOpFuture"]


class IoOpFuture(OpFuture):
    """A read or write: resolves to the byte count; :meth:`settled` outlives a cancel."""

    _final: int | None = None
    _settle: asyncio.Future[int] | None = None

    def _complete(self, res: int, flags: int) -> None:
        self._final = res
        if self._settle is not None:
            self._settle.set_result(res)
        if res >= 0 and not self.done():
            self.set_result(self._value(res))
        else:
            super()._complete(res, flags)

    def _value(self, res: int) -> Any:
        """The future's result for a successful completion with result ``res``."""
        return res

    def settled(self) -> asyncio.Future[int]:
        """A future of the operation's final result, even after this future was cancelled.

        It resolves once the kernel has posted the operation's completion: to
        the byte count, or to ``-errno`` (``-ECANCELED`` when the cancel
        stopped it in time).  Until then the kernel may still use the
        operation's buffers, and a cancelled write may still land.
        """
        if self._settle is None:
            self._settle = self.get_loop().create_future()
            if self._final is not None:
                self._settle.set_result(self._final)
        return self._settle


class BytesOpFuture(IoOpFuture):
    """A read into a new bytes object: resolves to the bytes read (b"" at end of file)."""

    _data: bytes = b""

    def _complete(self, res: int, flags: int) -> None:
        # IoOpFuture._complete without the _value call: the hot path of random reads.
        self._final = res
        if self._settle is not None:
            self._settle.set_result(res)
        if res >= 0 and not self.done():
            data = self._data
            self._data = b""  # the future no longer holds the data once it is handed out
            self.set_result(data if res == len(data) else data[:res])
        else:
            OpFuture._complete(self, res, flags)


class PathOpFuture(OpFuture):
    """A path operation: its OSError names the path(s), as the ``os`` function's does."""

    _filenames: tuple[Any, ...] = ()

    def _complete(self, res: int, flags: int) -> None:
        if res < 0 and not self.done():
            self.set_exception(OSError(-res, os.strerror(-res), *self._filenames))
            return
        super()._complete(res, flags)


class StatOpFuture(PathOpFuture):
    """A statx: resolves to an ``os.stat_result`` decoded from the filled buffer."""

    _buffer: bytearray

    def _complete(self, res: int, flags: int) -> None:
        if res >= 0 and not self.done():
            self.set_result(stat_result(self._buffer))
            return
        super()._complete(res, flags)
