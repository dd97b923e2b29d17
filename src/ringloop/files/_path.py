"""``files.Path``: pathlib's pure path with async I/O methods over ring operations."""
from __future__ import annotations

import io
import os
import pathlib
import stat as stat_module
from typing import AsyncIterator, Callable

from . import _paths
from ._binary import BinaryFile
from ._loop import ring_loop
from ._open import Opening, text_encoding
from ._open import open as open_file
from ._text import TextFile

__all__ = ["Path"]


class Path(pathlib.PurePosixPath):
    """A path whose I/O methods are coroutines; pure operations (``/``, ``name``, ``parent``, ...) as pathlib's.

    An async subset of :class:`pathlib.Path`: ``open``, ``read_bytes``,
    ``read_text``, ``write_bytes``, ``write_text``, ``stat``, ``lstat``,
    ``exists``, ``is_file``, ``is_dir``, ``unlink``, ``rename``, ``replace``,
    ``mkdir``, ``rmdir``, ``iterdir``; each with pathlib's results and errors.
    """

    def open(self, mode: str = "r", buffering: int = -1, encoding: str | None = None,
             errors: str | None = None, newline: str | None = None) -> Opening[BinaryFile | TextFile]:
        """:func:`ringloop.files.open` of this path."""
        return open_file(self, mode, buffering, encoding, errors, newline)

    async def read_bytes(self) -> bytes:
        """The whole file's bytes: one linked OPENAT -> READ -> READ submission for a file under 64 KiB."""
        return await ring_loop().ring_read_file(self)

    async def read_text(self, encoding: str | None = None, errors: str | None = None) -> str:
        """The whole file, decoded (universal newlines, as pathlib's read_text); read as :meth:`read_bytes`."""
        if errors is not None and not isinstance(errors, str):
            raise TypeError(f"read_text() argument 'errors' must be str or None, not {type(errors).__name__}")
        codec = text_encoding(encoding)
        data = await self.read_bytes()
        with io.TextIOWrapper(io.BytesIO(data), encoding=codec, errors=errors) as text:
            return text.read()

    async def write_bytes(self, data: bytes | bytearray | memoryview) -> int:
        """Replace the file's contents with ``data``; the byte count."""
        view = memoryview(data)
        async with open_file(self, "wb") as f:
            return await f.write(view)

    async def write_text(self, data: str, encoding: str | None = None, errors: str | None = None,
                         newline: str | None = None) -> int:
        """Replace the file's contents with ``data`` encoded; the character count."""
        if not isinstance(data, str):
            raise TypeError(f"data must be str, not {type(data).__name__}")
        async with open_file(self, "w", encoding=encoding, errors=errors, newline=newline) as f:
            return await f.write(data)

    async def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        """``os.stat`` of this path."""
        return await _paths.stat(self, follow_symlinks=follow_symlinks)

    async def lstat(self) -> os.stat_result:
        """``os.lstat`` of this path."""
        return await _paths.lstat(self)

    async def exists(self) -> bool:
        """Whether the path exists (False for a broken symlink)."""
        return await _paths.exists(self)

    async def is_file(self) -> bool:
        """Whether the path is a regular file (following symlinks)."""
        return await self._mode_is(stat_module.S_ISREG)

    async def is_dir(self) -> bool:
        """Whether the path is a directory (following symlinks)."""
        return await self._mode_is(stat_module.S_ISDIR)

    async def _mode_is(self, test: Callable[[int], bool]) -> bool:
        try:
            return test((await self.stat()).st_mode)
        except (OSError, ValueError):
            return False

    async def unlink(self, missing_ok: bool = False) -> None:
        """Remove the file; FileNotFoundError unless ``missing_ok``."""
        try:
            await _paths.unlink(self)
        except FileNotFoundError:
            if not missing_ok:
                raise

    async def rmdir(self) -> None:
        """Remove the empty directory."""
        await _paths.rmdir(self)

    async def rename(self, target: str | os.PathLike[str]) -> Path:
        """Rename to ``target`` (replacing it, on Linux); the new Path."""
        await _paths.rename(self, target)
        return type(self)(target)

    async def replace(self, target: str | os.PathLike[str]) -> Path:
        """Rename over ``target``; the new Path."""
        await _paths.replace(self, target)
        return type(self)(target)

    async def mkdir(self, mode: int = 0o777, parents: bool = False, exist_ok: bool = False) -> None:
        """Create the directory, as pathlib's mkdir (``parents``, ``exist_ok``)."""
        try:
            await _paths.mkdir(self, mode)
        except FileNotFoundError:
            if not parents or self.parent == self:
                raise
            await self.parent.mkdir(parents=True, exist_ok=True)
            await self.mkdir(mode, parents=False, exist_ok=exist_ok)
        except OSError:
            if not exist_ok or not await self.is_dir():
                raise

    async def iterdir(self) -> AsyncIterator[Path]:
        """The directory's entries (listed in the default executor: no ring opcode lists a directory)."""
        for name in await _paths.listdir(self):
            yield self / name
