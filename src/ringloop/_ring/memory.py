"""Memory the kernel reads or writes: pinned views, iovec arrays, page-aligned buffers.

An operation's buffers must stay where they are until its final completion;
the views made here are what the ring keeps referenced for that long.
"""
from __future__ import annotations

import mmap
from typing import Any, Sequence

from ._ffi import ffi

__all__ = ["IOV_MAX", "pin", "source", "iovecs", "page_aligned"]

#: Buffers per writev/sendmsg (Linux UIO_MAXIOV).
IOV_MAX = 1024


def pin(obj: Any, *, writable: bool) -> Any:
    """A cffi view of ``obj``'s memory; while it lives, ``obj`` cannot be resized."""
    try:
        # The keyword costs a slow argument parse (0.5 µs): pass it only when
        # the type alone does not tell, and a bytearray is always writable.
        if writable and type(obj) is not bytearray:
            return ffi.from_buffer(obj, require_writable=True)
        return ffi.from_buffer(obj)
    except (TypeError, BufferError):
        kind = "a writable bytes-like object" if writable else "a bytes-like object"
        raise TypeError(f"expected {kind}, not {type(obj).__name__}") from None


def page_aligned(size: int) -> mmap.mmap:
    """``size`` bytes of zeroed, writable memory starting on a page boundary.

    For buffers the kernel copies received data into.  A large bytearray's
    data starts 16 bytes into its allocation, and the kernel copies into a
    destination that is not cache-line aligned at well under half the speed:
    in a 100 KiB echo that was a third of the server's CPU time.
    """
    return mmap.mmap(-1, size)


def source(data: Any) -> Any:
    """``data`` as the source argument of a write-like prep helper, pinned.

    cffi passes a bytes argument as a pointer into the object itself, with no
    copy and no view object; bytes are immutable and CPython never moves an
    object, so holding the bytes keeps the pointer valid.
    """
    return data if type(data) is bytes else pin(data, writable=False)


def iovecs(buffers: Sequence[Any], *, writable: bool) -> tuple[Any, list[Any]]:
    """A C iovec array over ``buffers`` and the pins that keep them in place."""
    pins = [pin(buf, writable=writable) for buf in buffers]
    iov = ffi.new("struct iovec[]", len(pins))
    for slot, view in zip(iov, pins):
        slot.iov_base = view
        slot.iov_len = len(view)
    return iov, pins
