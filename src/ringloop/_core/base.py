"""The loop core: asyncio's BaseEventLoop with io_uring as its only wait.

BaseEventLoop keeps asyncio's semantics (ready queue, timer heap, tasks,
executors, async generators, exception handling, debug mode) and, once per
iteration, calls ``self._selector.select(timeout)`` and then
``self._process_events(events)``.  Here that slot is the ring: ``select``
submits every queued operation and harvests a batch of completions in one call
into C, and ``_process_events`` runs each completion's handler, which resolves
an op-future or drives a transport.

Cross-thread wake-ups (call_soon_threadsafe, executor results) write an eventfd
that a ring read operation is always waiting on.
"""
from __future__ import annotations

import collections
import contextvars
import errno
import os
from asyncio import base_events, events
from typing import TYPE_CHECKING, Any, Callable, TypeVar, TypeVarTuple, Unpack

from .._ring.errors import CANCELED, RingClosedError
from .._ring.options import RingOptions
from .._ring.ring import Ring, ignore_completion
from .opfuture import OpFuture

__all__ = ["LoopCore"]

_Ts = TypeVarTuple("_Ts")
_F = TypeVar("_F", bound=OpFuture)


class _RingWait:
    """The object BaseEventLoop calls ``select`` on once per iteration."""

    __slots__ = ("select",)

    def __init__(self, ring: Ring) -> None:
        self.select = ring.wait


class LoopCore(base_events.BaseEventLoop):
    """What every feature part of the loop builds on; feature parts subclass it.

    A feature part (sockets, serving, Unix integration, file ops) is a subclass
    that adds loop methods, and :class:`ringloop.Loop` inherits from all of
    them.  What a part may use, and nothing else of another part:

    - ``self._ring``: the :class:`Ring`.  Queue an op with a completion
      handler on it when the part handles completions itself (transports,
      watches); the handler runs inside the loop iteration that harvested it.
    - ``self._op(future_cls, queue, *args)``: queue an op through
      ``queue(*args, handler)`` and return an :class:`OpFuture` resolved by its
      completion.  Cancelling the future cancels the op.
    - ``self._close_fd(fd)``: close an fd through the ring, after every op
      already queued on it, so that a reused fd number never receives them.
    - ``self._ready``: BaseEventLoop's ready deque.  A completion handler may
      append a prebuilt ``events.Handle`` to it to run a callback in this
      iteration without allocating a new handle.
    - ``self._close_features()``: extended (cooperatively, calling super) by
      each part that holds resources; run by :meth:`close` after the
      executor is shut down and before the ring is closed.
    - ``__init__(options)``: each part calls ``super().__init__(options)`` first,
      then sets up its own state; the ring is open and armed by then.
    """

    # Until __init__ says otherwise: an instance whose arguments were rejected
    # is "closed", so BaseEventLoop.__del__ has nothing to warn about.
    _closed = True
    _ring: Ring

    if TYPE_CHECKING:  # BaseEventLoop's own, which typeshed does not describe
        _debug: bool
        _ready: collections.deque[events.Handle]

        def _check_closed(self) -> None: ...
        def _check_thread(self) -> None: ...

    def __init__(self, options: RingOptions) -> None:
        super().__init__()
        self._wake_fd = -1
        try:
            self._ring = Ring.open(options)
            self._selector = _RingWait(self._ring)
            # Blocking on purpose: some kernels answer a ring read of an
            # O_NONBLOCK file with -EAGAIN instead of waiting for data.
            self._wake_fd = os.eventfd(0, os.EFD_CLOEXEC)
        except BaseException:
            self._closed = True
            self._release_ring()
            raise
        self._wake_buf = bytearray(8)
        # Set from any thread before it writes the eventfd, cleared by the
        # loop when the read completes: one write per wake-up, not per call.
        self._wake_pending = False
        self._arm_wakeup()

    # -- the ring as BaseEventLoop's selector ------------------------------------

    def _process_events(self, event_list: list[tuple[int, int, int]]) -> None:
        if event_list:
            self._ring.dispatch(event_list, self._completion_error)

    def _completion_error(self, exc: Exception) -> None:
        # A completion handler runs protocol code (data_received, ...): its
        # errors go to the exception handler, as errors of callbacks do.
        self.call_exception_handler({"message": "Exception in a ring completion handler", "exception": exc})

    def _arm_wakeup(self) -> None:
        self._ring.read(self._wake_fd, self._wake_buf, 0, self._on_wakeup)

    def _on_wakeup(self, res: int, flags: int) -> None:
        self._wake_pending = False
        if res == CANCELED or self._closed:
            return
        if res < 0 and res not in (-errno.EINTR, -errno.EAGAIN):
            # Re-arming after a lasting error would spin; report it once.
            self.call_exception_handler(
                {"message": f"wake-up eventfd read failed, cross-thread wake-ups stop: {os.strerror(-res)}",
                 "loop": self}
            )
            return
        self._arm_wakeup()

    def _write_to_self(self) -> None:
        if self._wake_pending:
            return
        self._wake_pending = True
        # Read once: close() sets it to -1 from the loop thread, and a foreign
        # thread's call_soon_threadsafe may have seen the loop open just before.
        fd = self._wake_fd
        if fd < 0:  # os.eventfd_write(-1) raises ValueError, not OSError
            self._wake_pending = False
            return
        try:
            os.eventfd_write(fd, 1)
        except OSError:
            # The same race, a moment later: the fd was closed under us.
            self._wake_pending = False

    def call_soon(
        self, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts], context: contextvars.Context | None = None
    ) -> events.Handle:
        """BaseEventLoop.call_soon, with one frame instead of three when not in debug mode.

        Every future's done-callback and every task wake-up comes through here.
        """
        if self._debug:
            return super().call_soon(callback, *args, context=context)
        if self._closed:
            raise RuntimeError("Event loop is closed")
        handle = events.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    # -- op-futures ---------------------------------------------------------------

    def _op(self, future_cls: type[_F], queue: Callable[..., int], *args: Any) -> _F:
        self._check_closed()
        if self._debug:
            self._check_thread()
        fut = future_cls(loop=self)
        fut._attach(self._ring, queue(*args, fut._complete))
        return fut

    # -- closing ----------------------------------------------------------------

    def _close_fd(self, fd: int) -> None:
        """Close ``fd`` with a ring op, queued after every op already queued on it.

        A close(2) now could free the fd number before queued SQEs that name
        it reach the kernel, and a reused number would send them elsewhere.
        """
        try:
            self._ring.close_fd(fd, ignore_completion)
        except (RingClosedError, OSError):
            os.close(fd)
            return
        # Submitted now, not at the next wait: the loop may not iterate again
        # (run_until_complete can return first), and a peer waits for the EOF
        # meanwhile.  The second enter lets the kernel finish the ops that
        # were cancelled before this close (with DEFER_TASKRUN it does so
        # only when entered), so that they let go of the file too.
        try:
            self._ring.submit()
            self._ring.submit()
        except (OSError, RuntimeError):
            pass  # another thread than a SINGLE_ISSUER ring's own: the next wait submits it

    def close(self) -> None:
        """Close the loop: executor shut down, features' resources released, ops cancelled and drained, ring closed.

        A running loop cannot be closed (RuntimeError); closing twice is harmless.
        """
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        super().close()
        self._close_features()
        self._release_ring()

    def _close_features(self) -> None:
        """Release what feature parts hold; each part extends this and calls super."""

    def _release_ring(self) -> None:
        ring = getattr(self, "_ring", None)  # absent when the ring could not be opened
        if ring is not None:
            ring.close()
        if self._wake_fd >= 0:
            # -1 first: a foreign thread reading the number after this sees
            # -1, never a number the close frees for reuse.
            fd, self._wake_fd = self._wake_fd, -1
            os.close(fd)
