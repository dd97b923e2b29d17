"""``open``: the built-in's arguments and errors; every open by path a ring OPENAT, never a blocking call."""
from __future__ import annotations

import asyncio
import codecs
import errno
import inspect
import io
import locale
import os
import stat
from typing import (
    Any,
    Callable,
    Coroutine,
    Generator,
    Generic,
    Literal,
    TypeVar,
    Union,
    overload,
)

from ._binary import BinaryFile
from ._direct import ALIGNMENT, Aligned
from ._loop import PathArg, RingLoop, ring_loop
from ._mode import Mode, check_text_args, mode_name, parse_mode
from ._text import TextFile

__all__ = ["DEFAULT_BUFFER_SIZE", "Opening", "open", "text_encoding"]

#: Bytes per ring read when buffering=-1: line iteration and small reads pay
#: one ring operation per 64 KiB.
DEFAULT_BUFFER_SIZE = 64 * 1024

F = TypeVar("F", bound=Union[BinaryFile, TextFile])
Opener = Callable[[str | bytes, int], Any]
_DIRECT_POOL = Aligned()

OpenTextMode = Literal["r", "w", "a", "x", "r+", "w+", "a+", "x+", "rt", "wt", "at", "xt",
                       "r+t", "w+t", "a+t", "x+t", "rt+", "wt+", "at+", "xt+"]
OpenBinaryMode = Literal["rb", "wb", "ab", "xb", "r+b", "w+b", "a+b", "x+b", "rb+", "wb+", "ab+", "xb+"]


class Opening(Generic[F]):
    """What :func:`open` returns: ``await`` it for the file, or use it as ``async with`` (closed on exit).

    The open starts when awaited; one never awaited opens nothing.
    """

    def __init__(self, start: Callable[..., Coroutine[Any, Any, F]], *args: Any) -> None:
        self._start = start
        self._args = args
        self._file: F | None = None

    def __await__(self) -> Generator[Any, None, F]:
        return self._start(*self._args).__await__()

    async def __aenter__(self) -> F:
        self._file = await self._start(*self._args)
        return self._file

    async def __aexit__(self, *exc_info: object) -> None:
        if self._file is not None:
            await self._file.close()


@overload
def open(file: PathArg | int, mode: OpenTextMode = "r", buffering: int = -1, encoding: str | None = None,
         errors: str | None = None, newline: str | None = None, closefd: bool = True,
         opener: Opener | None = None, *, direct: bool = False) -> Opening[TextFile]: ...


@overload
def open(file: PathArg | int, mode: OpenBinaryMode, buffering: int = -1, encoding: None = None,
         errors: None = None, newline: None = None, closefd: bool = True,
         opener: Opener | None = None, *, direct: bool = False) -> Opening[BinaryFile]: ...


@overload
def open(file: PathArg | int, mode: str, buffering: int = -1, encoding: str | None = None,
         errors: str | None = None, newline: str | None = None, closefd: bool = True,
         opener: Opener | None = None, *, direct: bool = False) -> Opening[BinaryFile | TextFile]: ...


def open(file: PathArg | int, mode: str = "r", buffering: int = -1, encoding: str | None = None,
         errors: str | None = None, newline: str | None = None, closefd: bool = True,
         opener: Opener | None = None, *, direct: bool = False) -> Opening[Any]:
    """Open ``file`` as the built-in ``open`` does, with ring operations; aiofiles' call shape.

    ``async with open(...) as f`` or ``f = await open(...)``.  Binary modes give
    a :class:`BinaryFile`, text modes a :class:`TextFile`.  Arguments are
    checked now, with the built-in's errors; the open itself (a ring OPENAT,
    then an fstat of the new fd) raises the built-in's OSError when awaited:
    FileNotFoundError, IsADirectoryError, PermissionError, FileExistsError
    for ``x``, with ``errno``, ``strerror`` and ``filename`` as ``open`` sets them.
    ``opener(path, flags)`` is called as the built-in calls it (in the loop
    thread; it may return an awaitable of the fd).  ``direct=True`` adds
    O_DIRECT (binary modes only): reads are aligned internally, and writes,
    ``pread`` and ``pwrite`` need sizes and offsets that are multiples of
    4096 bytes.  buffering=-1 buffers 64 KiB.  RuntimeError when no ringloop
    loop is running.
    """
    loop = ring_loop()
    if not isinstance(file, int):
        file = os.fspath(file)
    if not isinstance(file, (str, bytes, int)) or isinstance(file, bool):
        raise TypeError(f"expected str, bytes or os.PathLike object, not {type(file).__name__}")
    parsed = parse_mode(mode, buffering)
    check_text_args(parsed, buffering, encoding, errors, newline)
    if not isinstance(file, int) and not closefd:
        raise ValueError("Cannot use closefd=False with file name")
    if direct and not parsed.binary:
        raise ValueError("direct=True needs a binary mode: O_DIRECT transfers whole blocks")
    if not parsed.binary:
        encoding = text_encoding(encoding)
    return Opening(_open, loop, file, mode, parsed, buffering, encoding, errors, newline, closefd, opener, direct)


def text_encoding(encoding: str | None) -> str:
    """The codec TextIOWrapper would use; LookupError for an unknown or non-text codec."""
    encoding = io.text_encoding(encoding, 3)
    if encoding == "locale":
        encoding = locale.getencoding()
    if not codecs.lookup(encoding)._is_text_encoding:
        raise LookupError(f"{encoding!r} is not a text encoding; use codecs.open() to handle arbitrary codecs")
    return encoding


async def _open(loop: RingLoop, file: str | bytes | int, mode: str, parsed: Mode, buffering: int,
                encoding: str | None, errors: str | None, newline: str | None, closefd: bool,
                opener: Opener | None, direct: bool) -> BinaryFile | TextFile:
    flags = parsed.flags | (os.O_DIRECT if direct else 0)
    if isinstance(file, int):
        fd = file
    elif opener is None:
        op = loop.ring_open(file, flags, 0o666)
        try:
            fd = await op
        except asyncio.CancelledError:
            # The open may have finished just before the cancel reached this
            # task: then the fd is ours to close.  (A cancel that stopped the op
            # itself is covered by ring_open, which closes a late fd.)
            if op.done() and not op.cancelled() and op.exception() is None:
                loop.ring_close_soon(op.result())
            raise
    else:
        fd = opener(file, flags)
        if inspect.isawaitable(fd):
            fd = await fd
        if not isinstance(fd, int):
            raise TypeError(f"expected an int from opener, not {type(fd).__name__}")
        if fd < 0:
            raise ValueError(f"opener returned {fd}")
    try:
        return _wrap(loop, fd, file, mode, parsed, buffering, encoding, errors, newline, closefd, direct,
                     fresh=opener is None and not isinstance(file, int))
    except BaseException:
        if closefd:
            loop.ring_close_soon(fd)  # nothing was written through it: no result to wait for
        raise


def _wrap(loop: RingLoop, fd: int, name: str | bytes | int, mode: str, parsed: Mode, buffering: int,
          encoding: str | None, errors: str | None, newline: str | None, closefd: bool,
          direct: bool, *, fresh: bool) -> BinaryFile | TextFile:
    # fstat, not a ring STATX: io_uring always hands STATX to a worker thread
    # (about 130 µs of CPU here, against 1.5 µs for fstat), and an fstat of an
    # open file reads the inode the kernel already holds, so it does not wait
    # for I/O (asyncio's own loop.sendfile calls os.fstat in the loop thread).
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
    if fresh and stat.S_ISREG(st.st_mode):
        position, seekable = 0, True  # just opened by path: at the start
    else:
        try:
            position = os.lseek(fd, 0, os.SEEK_CUR)  # never blocks; also says whether it can seek
            seekable = True
        except OSError:
            position, seekable = 0, False
    if parsed.append and seekable:
        position = st.st_size  # as FileIO, which seeks to the end on open
    size = buffering if buffering > 1 else DEFAULT_BUFFER_SIZE
    if direct:
        size = -(-size // ALIGNMENT) * ALIGNMENT
    binary = BinaryFile(
        loop, fd, name, mode_name(parsed), readable=parsed.readable, writable=parsed.writable,
        append=parsed.append, seekable=seekable, position=position, buffer_size=size,
        buffered=buffering != 0, closefd=closefd, size_hint=st.st_size if stat.S_ISREG(st.st_mode) else None,
        direct=_DIRECT_POOL if direct else None,
    )
    if parsed.binary:
        return binary
    line_buffering = buffering == 1 or (buffering < 0 and stat.S_ISCHR(st.st_mode) and os.isatty(fd))
    assert encoding is not None
    return TextFile(binary, mode, encoding, errors or "strict", newline, line_buffering)
