"""The running ringloop loop, as the files layer sees it: only its public ``ring_*`` ops.

The files layer never imports ringloop's internals: it finds the running
loop with ``asyncio.get_running_loop()`` and uses the ring ops the loop
offers.  The protocols here state exactly which ops, with which results.
"""
from __future__ import annotations

import asyncio
import mmap
import os
from typing import Any, Awaitable, Callable, Generator, Protocol, TypeVar, Union

__all__ = ["IoOp", "Op", "PathArg", "ReadableBuffer", "RingLoop", "WritableBuffer", "ring_loop", "settle"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
WritableBuffer = Union[bytearray, memoryview, mmap.mmap]
ReadableBuffer = Union[bytes, WritableBuffer]


class Op(Protocol[T_co]):
    """A queued ring operation: await it for its result; cancelling it cancels the operation."""

    def __await__(self) -> Generator[Any, None, T_co]: ...

    def cancel(self, msg: Any = None) -> bool: ...

    def done(self) -> bool: ...

    def cancelled(self) -> bool: ...

    def exception(self) -> BaseException | None: ...

    def result(self) -> T_co: ...


class IoOp(Op[T_co], Protocol[T_co]):
    """A ring read or write, whose kernel-side end can be awaited even after a cancel."""

    def settled(self) -> Awaitable[int]: ...


class RingLoop(Protocol):
    """The ring ops of a ringloop loop that the files layer uses."""

    def ring_open(self, path: PathArg, flags: int = ..., mode: int = ..., *,
                  dir_fd: int | None = ...) -> Op[int]: ...

    def ring_read(self, fd: int, buffer: WritableBuffer, offset: int = ...) -> IoOp[int]: ...

    def ring_read_bytes(self, fd: int, size: int, offset: int = ...) -> IoOp[bytes]: ...

    def ring_read_aligned(self, fd: int, size: int, offset: int = ...) -> IoOp[bytes]: ...

    def ring_write(self, fd: int, data: ReadableBuffer, offset: int = ...) -> IoOp[int]: ...

    def ring_fsync(self, fd: int, *, datasync: bool = ...) -> Op[int]: ...

    def ring_fallocate(self, fd: int, offset: int, length: int, mode: int = ...) -> Op[int]: ...

    def ring_ftruncate(self, fd: int, length: int) -> Awaitable[int]: ...

    def ring_close(self, fd: int) -> Op[int]: ...

    def ring_close_soon(self, fd: int) -> None: ...

    def ring_read_file(self, path: PathArg, size: int = ..., *, dir_fd: int | None = ...) -> Op[bytes]: ...

    def ring_stat(self, path: int | PathArg, *, dir_fd: int | None = ...,
                  follow_symlinks: bool = ...) -> Op[os.stat_result]: ...

    def ring_rename(self, src: PathArg, dst: PathArg, *, src_dir_fd: int | None = ...,
                    dst_dir_fd: int | None = ...) -> Op[int]: ...

    def ring_unlink(self, path: PathArg, *, dir_fd: int | None = ...) -> Op[int]: ...

    def ring_rmdir(self, path: PathArg, *, dir_fd: int | None = ...) -> Op[int]: ...

    def ring_mkdir(self, path: PathArg, mode: int = ..., *, dir_fd: int | None = ...) -> Op[int]: ...

    def ring_link(self, src: PathArg, dst: PathArg, *, src_dir_fd: int | None = ...,
                  dst_dir_fd: int | None = ..., follow_symlinks: bool = ...) -> Op[int]: ...

    def ring_symlink(self, src: PathArg, dst: PathArg, *, dir_fd: int | None = ...) -> Op[int]: ...

    def run_in_executor(self, executor: None, func: Callable[..., T], *args: Any) -> asyncio.Future[T]: ...


def ring_loop() -> RingLoop:
    """The running loop, if it is a ringloop loop; otherwise a RuntimeError that says so."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "ringloop.files needs a running ringloop event loop, and no event loop is running: "
            "call it from a coroutine run by ringloop.run(...)"
        ) from None
    if not callable(getattr(loop, "ring_read_file", None)):
        raise RuntimeError(
            f"ringloop.files needs a running ringloop event loop, not {type(loop).__module__}."
            f"{type(loop).__name__}: run the program with ringloop.run(...) or "
            "asyncio.Runner(loop_factory=ringloop.new_event_loop)"
        )
    return loop  # type: ignore[return-value]  # a ringloop Loop (checked above); no cast() call per use


async def settle(op: IoOp[Any]) -> int:
    """After ``op`` was cancelled: wait until the kernel is done with it; its final result.

    A cancelled read or write may still be under way in the kernel, its
    buffer in use, its bytes about to land.  Callers wait for its end (a few
    microseconds for files; further cancels are held off meanwhile) before
    letting the cancel through, so that no buffer is still in use and a
    write's landed bytes (a result > 0) are accounted in the file position.
    """
    settled = op.settled()
    while True:
        try:
            return await asyncio.shield(settled)
        except asyncio.CancelledError:
            continue
