"""The loop core: asyncio's BaseEventLoop with io_uring as its only wait.

BaseEventLoop keeps asyncio's semantics (ready queue, timer heap, tasks,
executors, async generators, exception handling, debug mode).  Its iteration,
``_run_once``, is written for selectors: it calls ``self._selector.select``
and then ``self._process_events``.  The core has an iteration of its own with
the same steps in the same order (drop cancelled timers, compute the timeout,
wait, handle completions, move due timers to the ready queue, run what was
ready), where the wait is one call into C that submits every queued operation
and harvests a batch of completions, and each completion's handler resolves an
op-future or drives a transport.

Cross-thread wake-ups (call_soon_threadsafe, executor results) write an eventfd
that a ring read operation is always waiting on.
"""
from __future__ import annotations

import collections
import contextvars
import errno
import functools
import heapq
import inspect
import itertools
import os
import time
from asyncio import base_events, events, format_helpers, futures, tasks
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Generator, TypeVar, TypeVarTuple, Unpack

from .._ring.errors import CANCELED, RingClosedError
from .._ring.options import RingOptions
from .._ring.ring import Ring, ignore_completion
from .opfuture import OpFuture

__all__ = ["Handle", "LoopCore", "TimerHandle"]

_Ts = TypeVarTuple("_Ts")
_F = TypeVar("_F", bound=OpFuture)
_T = TypeVar("_T")
_M = TypeVar("_M")


# asyncio's internals, which typeshed does not describe.
_asyncio_internals: Any = base_events
# BaseEventLoop's own thresholds, so that timers are purged exactly as there.
_MIN_SCHEDULED_TIMER_HANDLES: int = _asyncio_internals._MIN_SCHEDULED_TIMER_HANDLES
_MIN_CANCELLED_TIMER_HANDLES_FRACTION: float = _asyncio_internals._MIN_CANCELLED_TIMER_HANDLES_FRACTION
_MAXIMUM_SELECT_TIMEOUT: float = _asyncio_internals.MAXIMUM_SELECT_TIMEOUT
_format_callback_source: Any = format_helpers._format_callback_source
_FORMAT_TAKES_DEBUG = "debug" in inspect.signature(_format_callback_source).parameters


_Handle: Any = events.Handle  # typeshed lacks a Handle's private fields
_new_handle = events.Handle.__new__
_copy_context = contextvars.copy_context
_BaseEventLoop: Any = base_events.BaseEventLoop


class Handle(events.Handle):
    """asyncio's Handle, made by call_soon without Handle.__init__'s frame.

    ``Handle()`` takes no arguments and sets no field: call_soon fills them
    in itself (as Handle.__init__ does outside debug mode).  Through
    object.__init__ the call stays in C; object.__new__(events.Handle)
    would go through a slower generic wrapper.  Named as asyncio's, so its
    repr is the same.
    """

    __slots__ = ()
    __init__ = object.__init__


class TimerHandle(events.TimerHandle):
    """asyncio's TimerHandle, whose cancel() takes one Python frame instead of four.

    events.TimerHandle.cancel calls the loop's _timer_handle_cancelled, then
    Handle.cancel, which calls get_debug(): four frames for every timer
    cancelled (each asyncio.timeout and wait_for that ends in time, each
    pool's idle timer).  Outside debug mode this one does the same stores
    itself; in debug mode it is asyncio's own.  Named as asyncio's, so its
    repr is the same.
    """

    __slots__ = ()
    if TYPE_CHECKING:  # asyncio's own fields, which typeshed does not describe
        _loop: Any
        _scheduled: bool

    def cancel(self) -> None:
        """Handle.cancel: the callback will not run; the loop's count of cancelled timers goes up once."""
        if self._cancelled:
            return
        loop = self._loop
        if loop.get_debug():
            super().cancel()  # keeps a repr of the callback, for debug logging
            return
        if self._scheduled:
            loop._timer_cancelled_count += 1
        self._cancelled = True
        self._callback = None
        self._args = None  # type: ignore[assignment]


def _push_timer(loop: Any, when: float, callback: Any, args: tuple[Any, ...], context: Any) -> Any:
    """A TimerHandle for ``callback(*args)`` at ``when``, pushed on ``loop``'s heap: call_at and call_later outside debug mode.

    Its fields are filled in directly, as TimerHandle.__init__ and
    Handle.__init__ set them outside debug mode: those cost two Python
    frames and a get_debug() call, and the callers already know that
    debug mode is off.  call_soon repeats the Handle's stores inline to
    save this function's own frame too.
    """
    timer: Any = _new_handle(TimerHandle)  # typeshed lacks its private fields
    timer._context = _copy_context() if context is None else context
    timer._loop = loop
    timer._callback = callback
    timer._args = args
    timer._cancelled = False
    timer._repr = None
    timer._source_traceback = None
    timer._when = when
    heapq.heappush(loop._scheduled, (when, next(loop._timer_sequence), timer))
    timer._scheduled = True
    return timer


def _without_own_frame(made: _M) -> _M:
    """``made`` (a Handle or Task made by BaseEventLoop) with this module's frame gone from its source traceback.

    In debug mode BaseEventLoop trims its own frames from the traceback so
    that it ends where the program called; a method here that hands the
    call on to BaseEventLoop's adds one more frame, trimmed here.
    """
    traceback = getattr(made, "_source_traceback", None)
    if traceback:
        for i in range(len(traceback) - 1, -1, -1):
            if traceback[i].filename == __file__:
                del traceback[i]
                break
    return made


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
    #: A selector loop's wait object; this loop has none (the ring is its
    #: wait), but code written for selector loops, CPython's tests among it,
    #: reads the attribute.
    _selector = None

    if TYPE_CHECKING:  # BaseEventLoop's own, which typeshed does not describe
        _debug: bool
        _ready: collections.deque[events.Handle]
        _scheduled: list[Any]  # (when, sequence, TimerHandle): see call_at
        _timer_cancelled_count: int
        _stopping: bool
        _clock_resolution: float
        _current_handle: events.Handle | None
        _task_factory: Any

        def _check_closed(self) -> None: ...
        def _check_thread(self) -> None: ...
        def _check_callback(self, callback: object, method: str) -> None: ...

    def __init__(self, options: RingOptions) -> None:
        super().__init__()
        self._wake_fd = -1
        try:
            self._ring = Ring.open(options)
            # Blocking on purpose: some kernels answer a ring read of an
            # O_NONBLOCK file with -EAGAIN instead of waiting for data.
            self._wake_fd = os.eventfd(0, os.EFD_CLOEXEC)
        except BaseException:
            self._closed = True
            self._release_ring()
            raise
        # Ties between timers due at the same moment go first come, first served.
        self._timer_sequence = itertools.count()
        self._wake_buf = bytearray(8)
        # Set from any thread before it writes the eventfd, cleared by the
        # loop when the read completes: one write per wake-up, not per call.
        self._wake_pending = False
        self._arm_wakeup()

    # -- asyncio's own methods, bound as C callables --------------------------------

    def set_debug(self, enabled: bool) -> None:
        """BaseEventLoop.set_debug: turn debug mode on or off; also rebinds the fast paths that depend on it."""
        super().set_debug(enabled)
        self._bind_fast_paths()

    def _bind_fast_paths(self) -> None:
        """Stand C callables in for BaseEventLoop's one-line methods, in the instance's dict.

        C Futures and Tasks call ``loop.get_debug()`` in their constructor,
        and the loop calls ``self.time()`` around every wait: as
        BaseEventLoop's Python methods, a frame each (asyncpg pays six
        get_debug frames, four create_future and two time per query).  The
        stand-ins return the same values: ``get_debug`` the object last given
        to set_debug, ``time`` the monotonic clock BaseEventLoop.time reads,
        and outside debug mode ``create_future`` a Future of this loop, made
        directly (in debug mode the method stays, so that a future's source
        traceback is unchanged).  A subclass that overrides one of them keeps
        its own.
        """
        own = vars(self)
        cls = type(self)
        if cls.get_debug is _BaseEventLoop.get_debug:
            own["get_debug"] = itertools.repeat(self._debug).__next__
        if cls.time is _BaseEventLoop.time:
            own["time"] = time.monotonic
        if cls.create_future is _BaseEventLoop.create_future:
            if self._debug:
                own.pop("create_future", None)
            else:
                own["create_future"] = functools.partial(futures.Future, loop=self)
        # C futures and tasks look call_soon up on the loop for every callback
        # they schedule (eight per asyncpg query): bound once here, the lookup
        # finds the method already bound instead of making one each time.
        own["call_soon"] = self.call_soon

    # -- one iteration ------------------------------------------------------------

    def _run_once(self) -> None:
        """BaseEventLoop._run_once with the ring as its wait, in fewer frames and lookups.

        Same steps, same order, same observable behaviour: cancelled timers are
        purged by the same rule, the wait is 0 when callbacks are ready or the
        loop is stopping, completions are handled before due timers join the
        ready queue, and only callbacks ready at that point run (those they
        schedule wait for the next iteration).  Debug mode times each callback
        and warns about slow ones as asyncio does.
        """
        scheduled = self._scheduled
        count = len(scheduled)
        if (count > _MIN_SCHEDULED_TIMER_HANDLES
                and self._timer_cancelled_count / count > _MIN_CANCELLED_TIMER_HANDLES_FRACTION):
            kept = []
            for entry in scheduled:
                if entry[2]._cancelled:
                    entry[2]._scheduled = False
                else:
                    kept.append(entry)
            heapq.heapify(kept)
            self._scheduled = scheduled = kept
            self._timer_cancelled_count = 0
        else:
            while scheduled and scheduled[0][2]._cancelled:
                self._timer_cancelled_count -= 1
                heapq.heappop(scheduled)[2]._scheduled = False

        ready = self._ready
        timeout: float | None
        if ready or self._stopping:
            timeout = 0
        elif scheduled:
            timeout = scheduled[0][0] - self.time()
            if timeout > _MAXIMUM_SELECT_TIMEOUT:
                timeout = _MAXIMUM_SELECT_TIMEOUT
            elif timeout < 0:
                timeout = 0
        else:
            timeout = None

        completions = self._ring.wait(timeout)
        if completions:
            self._ring.dispatch(completions, self._completion_error)

        if scheduled:
            end_time = self.time() + self._clock_resolution
            while scheduled and scheduled[0][0] < end_time:
                timer = heapq.heappop(scheduled)[2]
                timer._scheduled = False
                ready.append(timer)

        todo = len(ready)
        if self._debug:
            self._run_ready_debug(todo)
            return
        # Handle._run's body, inline: one Python frame less per callback.
        # Every callback in the queue is an asyncio Handle or TimerHandle
        # (call_soon, call_at, the fd watches and completion handlers make
        # them), and neither overrides _run.
        # A countdown, not range(todo): range() computes its length with
        # integer objects, about 640 machine instructions per iteration.
        # ready.popleft() each time rather than a bound popleft: binding a
        # method is a generic attribute lookup (about 800 machine
        # instructions an iteration), a method call on the deque a
        # specialized one (no slower per callback).
        handle: Any  # typeshed lacks a Handle's private fields
        while todo:
            todo -= 1
            handle = ready.popleft()
            if handle._cancelled:
                continue
            # Called without a star when there are no arguments or one (task
            # steps, future done-callbacks): a star call builds a list and a
            # tuple and binds the method, about 100 ns more per callback.
            args = handle._args
            try:
                if not args:
                    handle._context.run(handle._callback)
                elif len(args) == 1:
                    handle._context.run(handle._callback, args[0])
                else:
                    handle._context.run(handle._callback, *args)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._report_callback_error(handle, exc)

    # -- timers ---------------------------------------------------------------------

    # The heap holds (when, sequence, timer) tuples rather than TimerHandles:
    # tuples compare in C, a TimerHandle through its Python __lt__, once per
    # level of the heap.  Only this class (its iteration) and BaseEventLoop's
    # close() (which clears the list) touch the heap.

    def call_at(
        self, when: float, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts],
        context: contextvars.Context | None = None,
    ) -> events.TimerHandle:
        """BaseEventLoop.call_at: run ``callback(*args)`` at loop time ``when``; returns its TimerHandle.

        Outside debug mode in two frames (this one and _push_timer)
        instead of five: every asyncio.timeout with a deadline, and
        aiohttp's keep-alive timer, comes through here.
        """
        if when is None:
            raise TypeError("when cannot be None")
        if not self._debug:
            if self._closed:
                raise RuntimeError("Event loop is closed")
            return _push_timer(self, when, callback, args, context)  # type: ignore[no-any-return]
        self._check_closed()
        self._check_thread()
        self._check_callback(callback, "call_at")
        timer: Any = TimerHandle(when, callback, args, self, context)  # typeshed lacks its private fields
        if timer._source_traceback:
            del timer._source_traceback[-1]
        heapq.heappush(self._scheduled, (when, next(self._timer_sequence), timer))
        timer._scheduled = True
        return timer  # type: ignore[no-any-return]

    def call_later(
        self, delay: float, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts],
        context: contextvars.Context | None = None,
    ) -> events.TimerHandle:
        """BaseEventLoop.call_later: run ``callback(*args)`` ``delay`` seconds from now.

        Outside debug mode in two frames (this one and _push_timer): every
        asyncio.sleep and wait_for timeout comes through here.
        """
        if self._debug or delay is None:
            if delay is None:
                raise TypeError("delay must not be None")
            timer: Any = self.call_at(self.time() + delay, callback, *args, context=context)
            if timer._source_traceback:
                del timer._source_traceback[-1]
            return timer  # type: ignore[no-any-return]
        if self._closed:
            raise RuntimeError("Event loop is closed")
        return _push_timer(self, self.time() + delay, callback, args, context)  # type: ignore[no-any-return]

    def _report_callback_error(self, handle: Any, exc: BaseException) -> None:
        """What Handle._run does when its callback raises: the same context to the exception handler."""
        if _FORMAT_TAKES_DEBUG:  # 3.13 added the argument, and Handle._run passes it
            cb = _format_callback_source(handle._callback, handle._args, debug=self.get_debug())
        else:
            cb = _format_callback_source(handle._callback, handle._args)
        context = {"message": f"Exception in callback {cb}", "exception": exc, "handle": handle}
        if handle._source_traceback:
            context["source_traceback"] = handle._source_traceback
        self.call_exception_handler(context)

    def _run_ready_debug(self, todo: int) -> None:
        """Run ``todo`` ready callbacks as BaseEventLoop does in debug mode: timed, slow ones logged."""
        ready = self._ready
        for _ in range(todo):
            handle = ready.popleft()
            if handle._cancelled:
                continue
            try:
                self._current_handle = handle
                t0 = self.time()
                handle._run()
                dt = self.time() - t0
                if dt >= self.slow_callback_duration:
                    _asyncio_internals.logger.warning(
                        "Executing %s took %.3f seconds", _asyncio_internals._format_handle(handle), dt
                    )
            finally:
                self._current_handle = None

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
        self, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts],
        context: contextvars.Context | None = None,
    ) -> events.Handle:
        """BaseEventLoop.call_soon, in one frame when not in debug mode; returns the Handle.

        Every future's done-callback and every task wake-up comes through
        here.  The Handle's fields are filled in here, as _push_timer
        fills a TimerHandle's, without a call (a frame less: about 5% of a
        call_soon chain).  ``callback`` stays a keyword-capable parameter,
        as asyncio's is, though C futures pass ``context=`` with a keyword
        name that is not interned, which CPython then matches by comparing
        strings with each such name (three comparisons, not one).
        """
        if self._debug:
            return _without_own_frame(base_events.BaseEventLoop.call_soon(self, callback, *args, context=context))
        if self._closed:
            raise RuntimeError("Event loop is closed")
        handle = Handle()
        handle._context = _copy_context() if context is None else context
        handle._loop = self
        handle._callback = callback
        handle._args = args
        handle._cancelled = False
        handle._repr = None
        handle._source_traceback = None
        self._ready.append(handle)
        return handle  # type: ignore[no-any-return]

    def create_task(
        self, coro: Generator[Any, None, _T] | Coroutine[Any, Any, _T], *, name: object = None,
        context: contextvars.Context | None = None, **kwargs: Any,
    ) -> tasks.Task[_T]:
        """BaseEventLoop.create_task: wrap ``coro`` in a Task scheduled on this loop; returns the Task.

        Without a task factory, other options or debug mode, in one frame:
        gather and TaskGroup make a task per child through here, and
        TaskRecorder a named one per launch.  Otherwise BaseEventLoop's,
        unchanged.
        """
        if self._debug or self._task_factory is not None or kwargs:
            return _without_own_frame(super().create_task(coro, name=name, context=context, **kwargs))
        if self._closed:
            raise RuntimeError("Event loop is closed")
        # Looked up per call, as BaseEventLoop does, so that a patched tasks.Task
        # is used.  Any name object is passed on as BaseEventLoop passes it: the
        # Task makes it a str (typeshed says str only).
        return tasks.Task(coro, loop=self, name=name, context=context)  # type: ignore[arg-type]

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
