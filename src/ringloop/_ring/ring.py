"""The ring: a safe Python face for the C layer.

A :class:`Ring` queues operations, each tagged with a token and a completion
handler, and :meth:`Ring.wait` submits everything queued and harvests a batch of
completions in one crossing into C.  The ring keeps every buffer an operation
points at referenced until the kernel posts that operation's final completion,
so a cancelled or abandoned operation can never make the kernel write into freed
memory.
"""
from __future__ import annotations

import dataclasses
import errno
import itertools
import math
import os
import struct
import threading
import time
from typing import Any, Callable, Sequence

from ._ffi import ffi, lib
from .bufring import BufferRing
from .errors import CANCELED, RingClosedError
from .memory import iovecs, pin, source
from .options import RingOptions
from .refusal import SystemFacts, explain_setup_error

__all__ = ["Ring", "Handler", "ignore_completion", "probe_opcodes", "try_setup", "flag_names"]

#: Called with (res, flags) of each completion of an operation.
Handler = Callable[[int, int], None]

_CQE = struct.Struct("QiI")  # matches rl_cqe
_CQE_SIZE = _CQE.size
_unpack_cqes = _CQE.iter_unpack
_U64 = (1 << 64) - 1
CQE_F_MORE = lib.IORING_CQE_F_MORE  # more completions will follow for this op (multishot)
CQE_F_BUFFER = lib.IORING_CQE_F_BUFFER  # the completion names a provided buffer
OP_FTRUNCATE = lib.RL_OP_FTRUNCATE  # IORING_OP_FTRUNCATE, newer than liburing 2.3's headers
_BUFFER_GROUP = 0  # one provided-buffer pool per ring
SILENT_TAG = lib.RL_SILENT_TAG  # the token bit of a silent send (Ring.send_silent)
_INTERNAL_TOKEN = 0

# Buffers of operations still in flight when their ring was closed without the
# kernel confirming them; kept for the life of the process rather than freed
# under a kernel that may still write into them.
_abandoned: list[Any] = []

SETUP_FLAG_NAMES = {
    lib.IORING_SETUP_IOPOLL: "IOPOLL",
    lib.IORING_SETUP_SQPOLL: "SQPOLL",
    lib.IORING_SETUP_SQ_AFF: "SQ_AFF",
    lib.IORING_SETUP_CQSIZE: "CQSIZE",
    lib.IORING_SETUP_CLAMP: "CLAMP",
    lib.IORING_SETUP_ATTACH_WQ: "ATTACH_WQ",
    lib.IORING_SETUP_R_DISABLED: "R_DISABLED",
    lib.IORING_SETUP_SUBMIT_ALL: "SUBMIT_ALL",
    lib.IORING_SETUP_COOP_TASKRUN: "COOP_TASKRUN",
    lib.IORING_SETUP_TASKRUN_FLAG: "TASKRUN_FLAG",
    lib.IORING_SETUP_SINGLE_ISSUER: "SINGLE_ISSUER",
    lib.IORING_SETUP_DEFER_TASKRUN: "DEFER_TASKRUN",
}


def ignore_completion(res: int, flags: int) -> None:
    """Handler for fire-and-forget ops (shutdowns, closes) whose result nobody awaits."""


def _c_value(value: bool | int | None) -> int:
    """A RingOptions field as its rl_options member: None is -1 (unset), a bool 0 or 1."""
    return -1 if value is None else int(value)


def flag_names(flags: int) -> list[str]:
    """Names of the IORING_SETUP_* bits set in ``flags``, lowest bit first."""
    return [name for bit, name in sorted(SETUP_FLAG_NAMES.items()) if flags & bit]


def _not_silent(event: tuple[int, int, int]) -> bool:
    """Sort key that puts the completions of silent sends first (a stable sort keeps each group's order)."""
    return not event[0] & SILENT_TAG


def _msghdr(buffers: Sequence[Any], address: bytes | None) -> tuple[Any, tuple[Any, ...]]:
    """A ``struct msghdr`` gathering ``buffers`` to the raw sockaddr ``address``, and what must outlive its op."""
    iov, pins = iovecs(buffers, writable=False)
    msg = ffi.new("struct msghdr *")
    msg.msg_iov = iov
    msg.msg_iovlen = len(pins)
    name = None
    if address is not None:
        name = ffi.from_buffer(address)
        msg.msg_name = name
        msg.msg_namelen = len(address)
    return msg, (msg, iov, pins, name)

class Ring:
    """An io_uring instance with a table of in-flight operations.

    Not thread-safe: one thread queues, waits and dispatches (with the
    SINGLE_ISSUER flag in force the kernel itself insists on it).
    """

    @classmethod
    def open(cls, options: RingOptions) -> Ring:
        """A new ring as ``options`` describe; RuntimeError saying why when the kernel refuses."""
        c_options = ffi.new("rl_options *", {
            field.name: _c_value(getattr(options, field.name)) for field in dataclasses.fields(options)
        })
        out = ffi.new("rl_ring **")
        rc = lib.rl_ring_open(c_options, out)
        if rc < 0:
            reason = explain_setup_error(-rc, options, SystemFacts.read())
            raise RuntimeError(f"ringloop cannot use io_uring: {reason}") from OSError(-rc, os.strerror(-rc))
        return cls(out[0])

    def __init__(self, handle: Any) -> None:
        """Wrap an opened ``rl_ring *`` (use :meth:`open`); the ring is freed with this object."""
        self._r = ffi.gc(handle, lib.rl_ring_free)
        self._closed = False
        self._inflight: dict[int, tuple[Handler, Any]] = {}
        self._tokens = itertools.count(1)  # 0 is the ring's own (_INTERNAL_TOKEN)
        self._undelivered: list[tuple[int, int, int]] = []
        # Silent sends queued in this wait's before-submit phase, and those the
        # last enter submitted (kept until the next: a failure's completion,
        # handed out first in that enter's harvest, finds its handler here).
        self._silent: dict[int, tuple[Handler, Any]] = {}
        self._submitted_silent: dict[int, tuple[Handler, Any]] = {}
        self._submitting = False  # before-submit callbacks are running
        #: Whether :meth:`send_silent` is available: a DEFER_TASKRUN ring
        #: (Linux 6.1+, never SQPOLL), whose kernel has CQE_SKIP_SUCCESS and
        #: reports a short MSG_WAITALL send.
        self.silent_sends = bool(lib.rl_ring_setup_flags(self._r) & lib.IORING_SETUP_DEFER_TASKRUN)
        self._owner: int | None = None
        self._buffer_ring: BufferRing | None = None
        self._no_buffer_ring = False
        self._unqueued: set[int] = set()  # tokens whose SQE was turned into a no-op
        self._before_submit: list[Callable[[], None]] = []
        #: ``before_submit(callback)``: call ``callback()`` once, at the start
        #: of the next :meth:`wait` that submits, before it submits (a wait
        #: that hands out completions an interrupted dispatch left first
        #: submits nothing).  For work gathered
        #: during an iteration and queued as late as possible, all at once: a
        #: transport's writes of one iteration go out as one send.  Callbacks
        #: run in the order given, one registered while they run in the same
        #: round; an exception propagates out of wait (the callbacks after it
        #: run at the following wait); a ring closed first never calls them.
        #: :meth:`submit` does not run them: it may be called from another
        #: thread, where they must not run.  The list's own append, so that
        #: registering costs no Python frame.
        self.before_submit: Callable[[Callable[[], None]], None] = self._before_submit.append
        #: Set when the kernel refuses multishot recv: transports fall back to single-shot recvs.
        self.no_multishot_recv = False
        # The harvest array holds a whole CQ: one wait can empty the ring.
        self._batch = lib.rl_ring_cq_entries(self._r)
        self._cqe_bytes = bytearray(_CQE_SIZE * self._batch)
        self._cqe_cdata = ffi.from_buffer(self._cqe_bytes)
        self._cqe_ptr = ffi.cast("rl_cqe *", self._cqe_cdata)
        self._cqe_view = memoryview(self._cqe_bytes)

    # -- facts -------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def fd(self) -> int:
        """The ring's file descriptor (for ATTACH_WQ sharing)."""
        self._check_open()
        return lib.rl_ring_fd(self._r)

    @property
    def setup_flags(self) -> list[str]:
        """IORING_SETUP_* flags in force, by name."""
        return flag_names(lib.rl_ring_setup_flags(self._r))

    @property
    def cq_entries(self) -> int:
        return lib.rl_ring_cq_entries(self._r)

    @property
    def inflight(self) -> int:
        """Operations queued or submitted whose final completion has not arrived."""
        return len(self._inflight)

    # -- queueing operations -----------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RingClosedError("the ring is closed")

    def _submit(self, prep: Callable[..., int], handler: Handler, pins: Any, *args: Any) -> int:
        """Queue one SQE via ``prep(ring, token, *args)``; ``pins`` live until its final CQE."""
        token = next(self._tokens)
        # A closed ring answers -EBADF: no check of our own on the way in.
        rc = prep(self._r, token, *args)
        if rc < 0:
            raise self._queue_error(rc)
        self._inflight[token] = (handler, pins)
        return token

    def _queue_error(self, rc: int) -> Exception:
        if self._closed:
            return RingClosedError("the ring is closed")
        return OSError(-rc, f"cannot queue a ring operation: {os.strerror(-rc)}")

    def nop(self, handler: Handler) -> int:
        """Queue a no-op; returns its token."""
        return self._submit(lib.rl_prep_nop, handler, None)

    def timeout(self, seconds: float, handler: Handler) -> int:
        """Queue a timer that completes with -ETIME after ``seconds``."""
        ns = max(0, math.ceil(seconds * 1e9))
        ts = ffi.new("struct __kernel_timespec *", (ns // 1_000_000_000, ns % 1_000_000_000))
        return self._submit(lib.rl_prep_timeout, handler, ts, ts)

    def read(self, fd: int, buffer: Any, offset: int, handler: Handler) -> int:
        """Queue a read into the writable ``buffer``; offset -1 reads at the file position."""
        cbuf = pin(buffer, writable=True)
        return self._submit(lib.rl_prep_read, handler, cbuf, fd, cbuf, len(cbuf), offset & _U64)

    def write(self, fd: int, data: Any, offset: int, handler: Handler) -> int:
        """Queue a write of ``data``; offset -1 writes at the file position."""
        src = source(data)
        return self._submit(lib.rl_prep_write, handler, src, fd, src, len(src), offset & _U64)

    def writev(self, fd: int, buffers: Sequence[Any], offset: int, handler: Handler) -> int:
        """Queue one gathering write of all ``buffers``; offset -1 writes at the file position."""
        iov, pins = iovecs(buffers, writable=False)
        return self._submit(lib.rl_prep_writev, handler, (iov, pins), fd, iov, len(pins), offset & _U64)

    def recv(self, fd: int, buffer: Any, flags: int, handler: Handler) -> int:
        """Queue a recv into the writable ``buffer``."""
        # A buffer pinned for this one recv (a view a BufferedProtocol lends,
        # sock_recv_into's buffer, a single-shot read): _submit and, for a
        # bytearray, pin spelled out (without their frames), as in send.
        cbuf = ffi.from_buffer(buffer) if type(buffer) is bytearray else pin(buffer, writable=True)
        token = next(self._tokens)
        rc = lib.rl_prep_recv(self._r, token, fd, cbuf, len(cbuf), flags)
        if rc < 0:
            raise self._queue_error(rc)
        self._inflight[token] = (handler, cbuf)
        return token

    def recv_pinned(self, fd: int, pinned: Any, nbytes: int, flags: int, handler: Handler) -> int:
        """Queue a recv of up to ``nbytes`` into ``pinned``, memory already pinned with :func:`~ringloop._ring.memory.pin`.

        As :meth:`read_pinned` reads: for a buffer received into over and
        over (a BufferedProtocol's, a pool of scratch buffers), whose
        per-recv pin is saved, and whose one buffer serves any size up to
        its own.  ValueError when ``nbytes`` is more than ``pinned`` holds.
        """
        # Every read into a BufferedProtocol's bytearray and every sock_recv
        # comes through here: positional arguments only, no frame but this.
        if nbytes > len(pinned):
            raise ValueError(f"cannot receive {nbytes} bytes into a buffer of {len(pinned)}")
        token = next(self._tokens)
        rc = lib.rl_prep_recv(self._r, token, fd, pinned, nbytes, flags)
        if rc < 0:
            raise self._queue_error(rc)
        self._inflight[token] = (handler, pinned)
        return token

    def send(self, fd: int, data: Any, flags: int, handler: Handler) -> int:
        """Queue a send of ``data``."""
        # The hot path of every transport write: _submit and source spelled
        # out, without their frames and argument packing.
        src = data if type(data) is bytes else source(data)
        token = next(self._tokens)
        rc = lib.rl_prep_send(self._r, token, fd, src, len(src), flags)
        if rc < 0:
            raise self._queue_error(rc)
        self._inflight[token] = (handler, src)
        return token

    def send_silent(self, fd: int, data: Any, flags: int, on_failure: Handler) -> None:
        """Queue a send of ``data`` that completes only if it fails; for :attr:`silent_sends` rings.

        The kernel sends it whole or reports why not: ``on_failure(res,
        flags)`` gets the bytes sent before the socket filled (``res`` > 0),
        or -errno (-EAGAIN when nothing fit).  A send that went out whole
        calls nothing, and costs no completion.  It is over when the
        submit that carries it returns, and that is the one at the end of
        this wait's before-submit phase, so its failure is handed out
        first in the completions that same wait returns: before any other
        completion's handler, and before the next before-submit phase.
        Hence only a before-submit callback may queue one (RuntimeError
        otherwise).  Not counted in :attr:`inflight`.
        """
        if not self._submitting:
            raise RuntimeError("a silent send can only be queued by a before_submit callback")
        src = data if type(data) is bytes else source(data)
        token = next(self._tokens) | SILENT_TAG
        rc = lib.rl_prep_send_silent(self._r, token, fd, src, len(src), flags)
        if rc < 0:
            raise self._queue_error(rc)
        self._silent[token] = (on_failure, src)

    def sendmsg(self, fd: int, buffers: Sequence[Any], address: bytes | None, flags: int, handler: Handler) -> int:
        """Queue one gathering sendmsg of ``buffers``, to the raw sockaddr ``address`` if given."""
        msg, pins = _msghdr(buffers, address)
        return self._submit(lib.rl_prep_sendmsg, handler, pins, fd, msg, flags)

    def sendmsg_linked(self, fd: int, buffers: Sequence[Any], address: bytes | None, flags: int, handler: Handler,
                       after: int) -> int | None:
        """:meth:`sendmsg` linked behind op ``after``, so that its failure cancels this one; its token.

        Linking is possible only while ``after`` is the op queued last and
        not yet submitted: otherwise nothing is queued and None returned.
        """
        msg, pins = _msghdr(buffers, address)
        token = next(self._tokens)
        if not lib.rl_prep_sendmsg_linked(self._r, token, fd, msg, flags, after):
            return None
        self._inflight[token] = (handler, pins)
        return token

    def recvmsg(self, fd: int, buffer: Any, name: bytearray, flags: int, handler: Handler) -> tuple[int, Any]:
        """Queue a recvmsg into ``buffer``, the sender's raw sockaddr into ``name``.

        Returns (token, msghdr): after completion ``msghdr.msg_namelen`` says how
        much of ``name`` the kernel filled.
        """
        cbuf = pin(buffer, writable=True)
        cname = pin(name, writable=True)
        iov = ffi.new("struct iovec *", (cbuf, len(cbuf)))
        msg = ffi.new("struct msghdr *")
        msg.msg_iov = iov
        msg.msg_iovlen = 1
        msg.msg_name = cname
        msg.msg_namelen = len(cname)
        token = self._submit(lib.rl_prep_recvmsg, handler, (msg, iov, cbuf, cname), fd, msg, flags)
        return token, msg

    def accept(self, fd: int, flags: int, handler: Handler, *, multishot: bool = False) -> int:
        """Queue an accept (peer address not collected); multishot keeps it armed."""
        return self._submit(lib.rl_prep_accept, handler, None, fd, ffi.NULL, ffi.NULL, flags, int(multishot))

    def connect(self, fd: int, address: bytes, handler: Handler) -> int:
        """Queue a connect to the raw sockaddr ``address``."""
        caddr = ffi.from_buffer(address)
        return self._submit(lib.rl_prep_connect, handler, caddr, fd, ffi.cast("struct sockaddr *", caddr), len(address))

    def shutdown(self, fd: int, how: int, handler: Handler) -> int:
        """Queue a shutdown(2) of ``fd`` (socket.SHUT_RD/WR/RDWR)."""
        return self._submit(lib.rl_prep_shutdown, handler, None, fd, how)

    def close_fd(self, fd: int, handler: Handler) -> int:
        """Queue a close(2) of ``fd``."""
        return self._submit(lib.rl_prep_close, handler, None, fd)

    def openat(self, dir_fd: int, path: bytes, flags: int, mode: int, handler: Handler) -> int:
        """Queue an openat(2) of ``path`` relative to ``dir_fd``; completes with the new fd."""
        cpath = ffi.new("char[]", path)
        return self._submit(lib.rl_prep_openat, handler, cpath, dir_fd, cpath, flags, mode)

    def fsync(self, fd: int, datasync: bool, handler: Handler) -> int:
        """Queue an fsync(2), or an fdatasync(2) when ``datasync``."""
        return self._submit(lib.rl_prep_fsync, handler, None, fd, lib.IORING_FSYNC_DATASYNC if datasync else 0)

    def readv(self, fd: int, buffers: Sequence[Any], offset: int, handler: Handler) -> int:
        """Queue one scattering read into the writable ``buffers``; offset -1 reads at the file position."""
        iov, pins = iovecs(buffers, writable=True)
        return self._submit(lib.rl_prep_readv, handler, (iov, pins), fd, iov, len(pins), offset & _U64)

    def read_fresh(self, fd: int, data: bytes, offset: int, handler: Handler) -> int:
        """Queue a read into ``data``: a bytes object of at least one byte just made by ``bytes(n)``.

        The kernel fills the object's own storage, as C code fills a bytes
        object it has just created: nothing else may hold it before the
        completion, and only ``res`` bytes of it are valid after.  Reading
        straight into it saves the copy out of a bytearray (for a huge read,
        a second copy of all the data).
        """
        # The hot path of random reads: _submit spelled out, as in send.
        token = next(self._tokens)
        rc = lib.rl_prep_read(self._r, token, fd, data, len(data), offset & _U64)
        if rc < 0:
            raise self._queue_error(rc)
        self._inflight[token] = (handler, data)
        return token

    def read_pinned(self, fd: int, cbuf: Any, offset: int, handler: Handler) -> int:
        """Queue a read into ``cbuf``: memory already pinned with :func:`~ringloop._ring.memory.pin`.

        For a pool whose buffers are read into over and over: pinning once
        saves the per-read pin (half a microsecond for an mmap).  The ring
        keeps ``cbuf`` referenced until the final completion, as any pin.
        """
        token = next(self._tokens)
        rc = lib.rl_prep_read(self._r, token, fd, cbuf, len(cbuf), offset & _U64)
        if rc < 0:
            raise self._queue_error(rc)
        self._inflight[token] = (handler, cbuf)
        return token

    def statx(self, dir_fd: int, path: bytes, flags: int, mask: int, out: bytearray, handler: Handler) -> int:
        """Queue a statx(2) of ``path`` relative to ``dir_fd``, filling ``out`` (a 256-byte struct statx)."""
        cpath = ffi.new("char[]", path)
        cout = pin(out, writable=True)
        return self._submit(lib.rl_prep_statx, handler, (cpath, cout), dir_fd, cpath, flags, mask, cout)

    def renameat(self, old_dir_fd: int, old: bytes, new_dir_fd: int, new: bytes, flags: int, handler: Handler) -> int:
        """Queue a renameat2(2) of ``old`` to ``new``."""
        cold, cnew = ffi.new("char[]", old), ffi.new("char[]", new)
        return self._submit(lib.rl_prep_renameat, handler, (cold, cnew), old_dir_fd, cold, new_dir_fd, cnew, flags)

    def unlinkat(self, dir_fd: int, path: bytes, flags: int, handler: Handler) -> int:
        """Queue an unlinkat(2) of ``path`` (AT_REMOVEDIR in ``flags``: an rmdir)."""
        cpath = ffi.new("char[]", path)
        return self._submit(lib.rl_prep_unlinkat, handler, cpath, dir_fd, cpath, flags)

    def mkdirat(self, dir_fd: int, path: bytes, mode: int, handler: Handler) -> int:
        """Queue a mkdirat(2) of ``path``."""
        cpath = ffi.new("char[]", path)
        return self._submit(lib.rl_prep_mkdirat, handler, cpath, dir_fd, cpath, mode)

    def linkat(self, old_dir_fd: int, old: bytes, new_dir_fd: int, new: bytes, flags: int, handler: Handler) -> int:
        """Queue a linkat(2): a hard link ``new`` to ``old``."""
        cold, cnew = ffi.new("char[]", old), ffi.new("char[]", new)
        return self._submit(lib.rl_prep_linkat, handler, (cold, cnew), old_dir_fd, cold, new_dir_fd, cnew, flags)

    def symlinkat(self, target: bytes, dir_fd: int, path: bytes, handler: Handler) -> int:
        """Queue a symlinkat(2): ``path`` becomes a symbolic link to ``target``."""
        ctarget, cpath = ffi.new("char[]", target), ffi.new("char[]", path)
        return self._submit(lib.rl_prep_symlinkat, handler, (ctarget, cpath), ctarget, dir_fd, cpath)

    def fallocate(self, fd: int, mode: int, offset: int, length: int, handler: Handler) -> int:
        """Queue a fallocate(2) of ``length`` bytes at ``offset``."""
        return self._submit(lib.rl_prep_fallocate, handler, None, fd, mode, offset, length)

    def ftruncate(self, fd: int, length: int, handler: Handler) -> int:
        """Queue an ftruncate(2) (IORING_OP_FTRUNCATE: Linux 6.9 and later, see :func:`probe_opcodes`)."""
        return self._submit(lib.rl_prep_ftruncate, handler, None, fd, length)

    def splice(self, fd_in: int, off_in: int, fd_out: int, off_out: int, nbytes: int, handler: Handler) -> int:
        """Queue a splice of ``nbytes`` (one side must be a pipe); offset -1 uses the file position."""
        return self._submit(lib.rl_prep_splice, handler, None, fd_in, off_in, fd_out, off_out, nbytes, 0)

    # -- fixed files: linked chains over registered file slots ---------------

    def register_files_sparse(self, count: int) -> None:
        """Register an empty fixed file table of ``count`` slots (once per ring); OSError if refused.

        The caller owns the slots: it picks a free one for each chain and
        frees it when that chain's close has completed.
        """
        self._check_open()
        rc = lib.rl_register_files_sparse(self._r, count)
        if rc < 0:
            raise OSError(-rc, f"cannot register a fixed file table: {os.strerror(-rc)}")

    def open_read2(self, dir_fd: int, path: bytes, flags: int, mode: int, slot: int, buffer: Any, first: int,
                   on_open: Handler, on_first: Handler, on_second: Handler) -> tuple[int, int, int]:
        """Queue OPENAT(``path`` into fixed ``slot``) -> READ -> READ from the slot, linked.

        The first read fills ``buffer[:first]``, the second ``buffer[first:]``.
        One C call queues the three SQEs together, so they reach the kernel
        in one submission.  Both reads are at the slot's file position: a
        second read of 0 bytes is the end of the file, of any type (a pipe's
        too).  A failed open cancels both reads; the second read follows the
        first whatever its result.  The slot stays open: close it with
        :meth:`close_direct` once the reads are final.  Returns the three
        tokens.  Cancel members with :meth:`cancel_linked`, not :meth:`cancel`.
        """
        cpath = ffi.new("char[]", path)
        cbuf = pin(buffer, writable=True)
        if not 0 < first < len(cbuf):
            raise ValueError(f"first must split the buffer, got {first} of {len(cbuf)} bytes")
        t_open, t_first, t_second = next(self._tokens), next(self._tokens), next(self._tokens)
        rc = lib.rl_prep_open_read2(self._r, t_open, t_first, t_second, dir_fd, cpath, flags, mode, slot,
                                    cbuf, first, len(cbuf) - first)
        if rc < 0:
            raise self._queue_error(rc)
        inflight = self._inflight
        inflight[t_open] = (on_open, cpath)
        inflight[t_first] = (on_first, cbuf)
        inflight[t_second] = (on_second, cbuf)
        return t_open, t_first, t_second

    def read_slot(self, slot: int, buffer: Any, offset: int, handler: Handler) -> int:
        """Queue a read from fixed file ``slot`` into the writable ``buffer``; offset -1 reads at its position."""
        cbuf = pin(buffer, writable=True)
        return self._submit(lib.rl_prep_read_slot, handler, cbuf, slot, cbuf, len(cbuf), offset & _U64)

    def close_direct(self, slot: int, handler: Handler) -> int:
        """Queue a CLOSE of fixed file ``slot``."""
        return self._submit(lib.rl_prep_close_direct, handler, None, slot)

    def cancel_linked(self, token: int) -> bool:
        """Stop operation ``token`` of a linked chain with an ASYNC_CANCEL; False when it is not in flight.

        Unlike :meth:`cancel`, a queued SQE is never turned into a no-op (a
        no-op carries no link flag, which would split its chain); the cancel
        queued after it reaches the kernel after it.
        """
        if self._closed or token not in self._inflight:
            return False
        rc = lib.rl_prep_cancel(self._r, _INTERNAL_TOKEN, token, 0)
        if rc < 0:
            raise OSError(-rc, f"cannot queue a cancel: {os.strerror(-rc)}")
        return True

    def buffer_ring(self, count: int, size: int) -> BufferRing | None:
        """This ring's pool of provided buffers; None if the kernel has none.

        The first call creates it with ``count`` buffers of ``size`` bytes; later
        calls return that pool whatever they pass (the stream transports make it
        with their sizes, which the tools that inspect it repeat).
        """
        if self._buffer_ring is None and not self._no_buffer_ring:
            try:
                self._buffer_ring = BufferRing(self._r, _BUFFER_GROUP, count, size)
            except OSError:
                self._no_buffer_ring = True
        return self._buffer_ring

    def recv_multishot(self, fd: int, handler: Handler) -> int:
        """Queue a multishot recv on ``fd`` filling buffers of :meth:`buffer_ring`.

        Each completion with data carries IORING_CQE_F_BUFFER; the handler must
        take the bytes with ``BufferRing.take`` (which also recycles the buffer).
        """
        return self._submit(lib.rl_prep_recv_multishot, handler, None, fd, _BUFFER_GROUP)

    def poll_add(self, fd: int, mask: int, handler: Handler, *, multishot: bool = False) -> int:
        """Queue a poll for ``mask`` events on ``fd``; multishot keeps it armed."""
        return self._submit(lib.rl_prep_poll_add, handler, None, fd, mask, int(multishot))

    def cancel(self, token: int) -> bool:
        """Stop operation ``token``; False when it is not in flight.

        One not yet submitted never happens: its SQE becomes a no-op.  One
        already in the kernel gets an ASYNC_CANCEL.  Either way its completion
        still reaches its handler (-ECANCELED, or its real result if it
        finished first), and its buffers stay pinned until then.
        """
        if self._closed or token not in self._inflight:
            return False
        if lib.rl_unqueue(self._r, token):
            self._unqueued.add(token)
            return True
        rc = lib.rl_prep_cancel(self._r, _INTERNAL_TOKEN, token, 0)
        if rc < 0:
            raise OSError(-rc, f"cannot queue a cancel: {os.strerror(-rc)}")
        return True

    # -- submitting and harvesting -----------------------------------------

    def submit(self) -> None:
        """Hand what is queued to the kernel now instead of at the next wait.

        Costs a syscall; for operations whose effect others may observe at
        once (a connect that a peer then accepts).  Completions stay in the
        ring for the next :meth:`wait`.
        """
        self._check_open()
        rc = lib.rl_enter(self._r, 0, self._cqe_ptr, 0)
        if rc < 0:
            raise OSError(-rc, f"io_uring_enter: {os.strerror(-rc)}")

    def wait(self, timeout: float | None) -> list[tuple[int, int, int]]:
        """Submit what is queued and harvest completions.

        ``timeout`` None waits for at least one completion, 0 does not wait,
        otherwise waits at most that many seconds.  Returns (token, res, flags)
        triples; a signal ends the wait early with what has arrived.
        """
        # Every loop iteration comes through here, in one Python frame: the
        # before-submit callbacks and _enter's steps are spelled out, and a
        # closed ring is told apart only when the C call refuses (it answers
        # -EBADF; close() has already dropped the callbacks and completions
        # handled below).
        if self._owner is None:
            self._owner = threading.get_ident()
        if self._undelivered:
            # What a BaseException kept from dispatch goes out before
            # anything new is submitted: a failed silent send among it must
            # be handled before its transport's next flush.
            events, self._undelivered = self._undelivered, []
            return events
        callbacks = self._before_submit
        if callbacks:
            self._check_open()
            ran = 0
            self._submitting = True
            try:
                for callback in callbacks:  # a list iterator also reaches those appended meanwhile
                    ran += 1
                    callback()
            finally:
                self._submitting = False
                del callbacks[:ran]
        if timeout is None:
            ns = -1
        elif timeout <= 0:
            ns = 0
        else:
            ns = math.ceil(timeout * 1e9)
        if self._buffer_ring is not None:
            self._buffer_ring.recycle()
        n = lib.rl_enter(self._r, ns, self._cqe_ptr, self._batch)
        if n < 0:
            raise self._enter_error(n)  # refused before submitting: silent sends stay queued
        if self._silent or self._submitted_silent:
            # The enter submitted them: each is over, and a failure's
            # completion is in this harvest.  Those of the enter before are
            # let go: their failures have been handled.
            self._submitted_silent, self._silent = self._silent, {}
        if not n:
            return []
        events = list(_unpack_cqes(self._cqe_view[: n * _CQE_SIZE]))
        if n == self._batch:  # a full array: the CQ may hold more
            while n == self._batch:
                n = self._enter(0)
                events.extend(_unpack_cqes(self._cqe_view[: n * _CQE_SIZE]))
            if self._submitted_silent:
                events.sort(key=_not_silent)  # failed silent sends first, as rl_enter puts them in each part
        return events

    def _enter(self, ns: int) -> int:
        """Recycle taken buffers, then one rl_enter harvesting into the array; the number harvested."""
        if self._buffer_ring is not None:
            self._buffer_ring.recycle()
        n = lib.rl_enter(self._r, ns, self._cqe_ptr, self._batch)
        if n < 0:
            raise self._enter_error(n)
        return n

    def _enter_error(self, rc: int) -> Exception:
        """The exception for rl_enter's negative answer ``rc``."""
        if self._closed:
            return RingClosedError("the ring is closed")
        if rc == -errno.EEXIST:
            return RuntimeError(
                f"this ring was first used by thread {self._owner} and has SINGLE_ISSUER set; "
                "create the loop with single_issuer=False to run it from several threads"
            )
        return OSError(-rc, f"io_uring_enter: {os.strerror(-rc)}")

    def dispatch(self, events: list[tuple[int, int, int]], on_error: Callable[[Exception], None]) -> None:
        """Run the handler of each completion, in order.

        A handler's Exception goes to ``on_error`` and dispatch goes on; a
        BaseException (KeyboardInterrupt, SystemExit) stops it, and the
        completions after it are kept for the next :meth:`wait`: none is lost.
        """
        inflight = self._inflight
        unqueued = self._unqueued
        it = iter(events)
        for token, res, flags in it:
            entry = inflight.get(token) if flags & CQE_F_MORE else inflight.pop(token, None)
            if entry is None:
                if not token & SILENT_TAG:
                    continue
                entry = self._submitted_silent.pop(token, None)
                if entry is None:
                    continue
            if unqueued and token in unqueued:
                unqueued.discard(token)
                res = CANCELED  # the no-op that replaced it reports 0
            try:
                entry[0](res, flags)
            except Exception as exc:
                on_error(exc)
            except BaseException:
                self._undelivered = list(it) + self._undelivered
                entry = None  # see below
                raise
        # A traceback stored from a handler's exception keeps this frame, and a
        # frame its locals: without this, the last op's pins (views of the
        # caller's buffers) would live on in a cycle only the collector breaks.
        entry = None

    # -- closing ------------------------------------------------------------

    def forget_inflight(self) -> None:
        """Drop every in-flight entry without cancelling it.

        For a forked child: those operations are the parent's, and the shared
        ring must not see cancels from the child.  A close afterwards then only
        unmaps the child's view and closes its fd.
        """
        self._inflight.clear()
        self._unqueued.clear()
        self._undelivered = []
        self._before_submit.clear()
        self._silent.clear()
        self._submitted_silent.clear()

    def close(self, drain_timeout: float = 1.0) -> None:
        """Cancel what is in flight, wait (bounded) for the kernel to confirm, close.

        Handlers are not called during close.  Idempotent.
        """
        if self._closed:
            return
        try:
            self._drain(drain_timeout)
        finally:
            self._closed = True
            lib.rl_ring_close(self._r)
            if self._inflight:
                _abandoned.extend(pins for _, pins in self._inflight.values())
                if self._buffer_ring is not None:
                    _abandoned.append(self._buffer_ring)  # the kernel may still fill its pool
            self._buffer_ring = None
            self._inflight.clear()
            self._unqueued.clear()
            self._undelivered = []
            self._before_submit.clear()
            self._silent.clear()  # never submitted: the kernel never saw their buffers
            self._submitted_silent.clear()

    def _drain(self, timeout: float) -> None:
        inflight = self._inflight
        if not inflight:
            return
        for token in list(inflight):
            lib.rl_prep_cancel(self._r, _INTERNAL_TOKEN, token, 0)
        deadline = time.monotonic() + timeout
        while inflight:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                n = self._enter(math.ceil(remaining * 1e9))
            except (OSError, RuntimeError):
                return  # e.g. closed from a thread the kernel does not accept
            for token, _res, flags in _unpack_cqes(self._cqe_view[: n * _CQE_SIZE]):
                if not flags & CQE_F_MORE:
                    inflight.pop(token, None)


def probe_opcodes() -> tuple[int, list[int]]:
    """(number of opcodes the kernel knows, opcodes it supports), from the kernel probe."""
    supported = ffi.new("uint8_t[]", 256)
    known = lib.rl_probe_ops(supported, 256)
    if known < 0:
        raise OSError(-known, os.strerror(-known))
    return known, [op for op in range(min(known, 256)) if supported[op]]


def try_setup(flags: int, entries: int = 8) -> int:
    """0 when the kernel accepts exactly these setup flags, else the positive errno."""
    return -lib.rl_try_setup(flags, entries)
