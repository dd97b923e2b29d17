"""An open that never blocks: openat2(2) with RESOLVE_CACHED, tried before the ring's OPENAT.

io_uring's OPENAT first tries the open inline, in the submitting thread,
with the path walk restricted to the kernel's dentry cache (LOOKUP_CACHED)
and O_NONBLOCK added, then clears O_NONBLOCK on the new file; only when a
path component is not cached (EAGAIN) does a worker thread open it.  The
``openat2`` syscall with ``RESOLVE_CACHED`` (Linux 5.12) makes exactly that
first try from user space.  Made in the loop thread it blocks no more than
the ring's inline try already does in the loop thread's ``io_uring_enter``,
and it saves the ring op's fixed cost (its future, the wake-up through the
loop): on the development machine an awaited ring open and its close cost
14 to 16 µs of CPU, this syscall, the F_SETFL and a plain close(2) 5.3
(see docs/files.md).  Python has no ``os.openat2``, so the syscall is
called through ctypes.  Only opens that never create or truncate try it (the
kernel refuses RESOLVE_CACHED for O_CREAT and O_TRUNC, as io_uring does).
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os

__all__ = ["open_cached"]

_SYS_OPENAT2 = 437  # the same number in every Linux architecture's table
_RESOLVE_CACHED = 0x20
_AT_FDCWD = -100
#: The flags F_SETFL sets; clearing O_NONBLOCK sets the others as they were asked.
_STATUS_FLAGS = os.O_APPEND | os.O_DIRECT | os.O_NOATIME
_NEVER_CACHED = os.O_CREAT | os.O_TRUNC


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_HOW_SIZE = ctypes.sizeof(_OpenHow)
_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
# Every argument as wide as the kernel reads it (syscall(2) is variadic: no prototype to widen them).
_syscall.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
_hows: dict[int, object] = {}  # open_how by flags, each made once (a handful of modes)
_supported = True


def _how(flags: int) -> object:
    how = _OpenHow(flags | os.O_CLOEXEC | os.O_NONBLOCK, 0, _RESOLVE_CACHED)
    ref = _hows[flags] = ctypes.byref(how)  # the reference keeps the structure alive
    return ref


def open_cached(path: str | bytes, flags: int) -> int | None:
    """The fd of ``path`` opened with ``flags`` (plus O_CLOEXEC) if that needs no I/O; else None.

    None also for every error: the ring's OPENAT then opens the file, or
    raises the error with the built-in's ``errno``, ``strerror`` and
    ``filename``.  Never blocks on I/O (see the module's docstring).
    """
    global _supported
    if not _supported or flags & _NEVER_CACHED:
        return None
    raw = os.fsencode(path)
    if b"\0" in raw:
        return None  # the ring's open raises the built-in's ValueError
    how = _hows.get(flags) or _how(flags)
    fd: int = _syscall(_SYS_OPENAT2, _AT_FDCWD, raw, how, _HOW_SIZE)
    if fd < 0:
        if ctypes.get_errno() in (errno.ENOSYS, errno.EINVAL):
            # A kernel without openat2 (before 5.6) or RESOLVE_CACHED (before
            # 5.12), or a seccomp filter that hides it: the ring opens from now on.
            _supported = False
        return None
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & _STATUS_FLAGS)  # O_NONBLOCK off again, as io_uring does
    except OSError:
        os.close(fd)
        return None
    return fd
