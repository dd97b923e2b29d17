"""LoopGroup: ringloop loops in threads of one process, sharing one SQPOLL thread.

The first loop is created with SQPOLL (pinned to the CPU the plan gives it); the others attach
to its SQPOLL thread (``attach_to``, the kernel's ``IORING_SETUP_ATTACH_WQ``), so one kernel
thread submits for every ring of the group. Each loop runs in a thread of its own, pinned off
the SQPOLL CPU; the executor threads a loop starts inherit that.

Every piece of the group's own state is guarded by one lock, so it needs no GIL: it is meant
to work under free-threaded Python as it does under the GIL.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from typing import Any, Coroutine, Iterable, TypeVar

import ringloop
from ringloop.supervise.checks import check_count, check_name, check_seconds

from .affinity import pin_this_thread
from .cpuplan import CpuPlan, SqpollChoice, plan_cpus, resolve_cpus
from .loopopts import DEFAULT_SQ_IDLE_MS, check_loop_options, loop_options

T = TypeVar("T")

# Each reads after "the group is".
_RUNNING = "running"
_CLOSING = "closing"
_CLOSED = "closed"


class LoopGroup:
    """``threads`` ringloop loops, each running in a thread of its own, started at construction.

    ``sqpoll``, ``cpus`` (default: the CPUs this thread may use) make the :class:`CpuPlan`
    (``plan``): with SQPOLL, the loops share one SQPOLL thread on a CPU of its own and the
    loop threads run on the others. ``sqpoll="auto"`` uses SQPOLL only if a CPU can be spared
    and the kernel allows it. ``entries`` and ``sq_idle_ms`` are the loops' ring options.
    Hand a coroutine to loop ``i`` with :meth:`submit` (a concurrent.futures.Future, from any
    thread) or :meth:`call` (await it, from any loop). :meth:`close`, or leaving a ``with``
    block, stops every loop. Raises TypeError or ValueError naming a bad argument,
    RuntimeError if a loop cannot be created or started within ``start_timeout`` seconds.
    """

    def __init__(self, threads: int, *, sqpoll: SqpollChoice = "auto", cpus: Iterable[int] | None = None,
                 entries: int = 256, sq_idle_ms: int = DEFAULT_SQ_IDLE_MS, name: str = "ringloop-group",
                 start_timeout: float = 10.0) -> None:
        check_count("threads", threads, 1)
        check_loop_options(entries, sq_idle_ms)
        self.name = check_name("name", name)
        start_timeout = check_seconds("start_timeout", start_timeout, positive=True)
        self._lock = threading.Lock()
        self._state = _RUNNING
        self._loops: tuple[ringloop.Loop, ...] = ()
        self._threads: tuple[threading.Thread, ...] = ()
        self._native_ids: tuple[int, ...] = ()
        self.plan = plan_cpus(resolve_cpus(cpus), threads, sq_threads=1, sqpoll=sqpoll)
        self._loops = self._create_loops(self.plan, sqpoll, entries, sq_idle_ms)
        self._start_threads(start_timeout)

    def _create_loops(self, plan: CpuPlan, sqpoll: SqpollChoice, entries: int,
                      sq_idle_ms: int) -> tuple[ringloop.Loop, ...]:
        """Create the loops here, before any thread is pinned: ringloop accepts a ``sq_cpu`` only
        among the CPUs of the thread that creates the ring."""
        loops: list[ringloop.Loop] = []
        try:
            try:
                loops.append(ringloop.new_event_loop(**loop_options(plan, 0, entries=entries,
                                                                    sq_idle_ms=sq_idle_ms)))
            except RuntimeError as exc:
                if not (plan.sqpoll and sqpoll == "auto"):
                    raise
                # "auto" promises SQPOLL only where it can be had: fall back, and say why.
                self.plan = plan = CpuPlan(plan.cpus, plan.loops, False, plan.cpus, (),
                                           f"SQPOLL refused by the kernel: {exc}")
                loops.append(ringloop.new_event_loop(entries=entries))
            first = loops[0] if plan.sqpoll else None
            for index in range(1, plan.loops):
                loops.append(ringloop.new_event_loop(**loop_options(plan, index, entries=entries,
                                                                    sq_idle_ms=sq_idle_ms, attach_to=first)))
        except BaseException:
            for loop in loops:
                loop.close()
            raise
        return tuple(loops)

    def _start_threads(self, timeout: float) -> None:
        started = [threading.Event() for _ in self._loops]
        ids: list[int] = [0] * len(self._loops)
        errors: list[BaseException] = []
        for index, loop in enumerate(self._loops):
            thread = threading.Thread(target=self._run, args=(index, loop, started[index], ids, errors),
                                      name=f"{self.name}-{index}", daemon=True)
            try:
                thread.start()
            except BaseException:
                for unstarted in self._loops[index:]:
                    unstarted.close()
                self.close(timeout)
                raise
            with self._lock:
                self._threads += (thread,)
        if not all(event.wait(timeout) for event in started) or errors:
            self.close(timeout)
            cause = errors[0] if errors else None
            raise RuntimeError(f"{self.name}: a loop thread did not start"
                               + (f": {cause!r}" if cause else f" within {timeout:g} s")) from cause
        with self._lock:
            self._native_ids = tuple(ids)

    def _run(self, index: int, loop: ringloop.Loop, started: threading.Event, ids: list[int],
             errors: list[BaseException]) -> None:
        """A loop thread: pin itself, run its loop until close(), then finish the loop's tasks."""
        try:
            pin_this_thread(self.plan.loop_cpus)
        except BaseException as exc:
            errors.append(exc)
            started.set()
            loop.close()
            return
        ids[index] = threading.get_native_id()
        asyncio.set_event_loop(loop)
        try:
            loop.call_soon(started.set)
            loop.run_forever()
            _finish(loop)
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    @property
    def loops(self) -> tuple[ringloop.Loop, ...]:
        """The group's loops, in index order."""
        return self._loops

    @property
    def native_ids(self) -> tuple[int, ...]:
        """The kernel thread id of each loop's thread, in index order (what /proc/<pid>/task lists)."""
        with self._lock:
            return self._native_ids

    def __len__(self) -> int:
        return len(self._loops)

    def submit(self, index: int, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on loop ``index``; returns a concurrent.futures.Future of its result.

        Callable from any thread, a group loop's included. Cancelling the future cancels the
        task. Raises TypeError if ``coro`` is not a coroutine, TypeError or ValueError for a
        bad ``index``, RuntimeError once the group is closing (the coroutine is then closed
        unstarted, so it is not reported as never awaited).
        """
        if not asyncio.iscoroutine(coro):
            raise TypeError(f"coro must be a coroutine, not {type(coro).__name__}")
        try:
            check_count("index", index)
            if index >= len(self._loops):
                raise ValueError(f"index must be in 0..{len(self._loops) - 1}, got {index}")
            # Under the lock: close() takes it before it stops a loop, so a coroutine handed over
            # here always reaches its loop while that loop still runs, and ends with the loop.
            with self._lock:
                if self._state is not _RUNNING:
                    raise RuntimeError(f"{self.name} is {self._state}")
                return asyncio.run_coroutine_threadsafe(coro, self._loops[index])
        except BaseException:
            coro.close()
            raise

    async def call(self, index: int, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on loop ``index`` and return its result, from a coroutine on any loop.

        Cancelling the caller cancels the task on loop ``index``. Raises as :meth:`submit`.
        """
        return await asyncio.wrap_future(self.submit(index, coro))

    def close(self, timeout: float = 10.0) -> None:
        """Stop every loop: the tasks left on it are cancelled and awaited, its async generators
        and default executor shut down, and the loop closed, in its own thread. Idempotent.

        Raises RuntimeError when called from a loop of the group (it would wait for itself),
        TimeoutError if a loop thread is still running ``timeout`` seconds after the call (code
        that blocks its loop, or ignores cancellation: the thread is left to end on its own).
        """
        timeout = check_seconds("timeout", timeout)
        deadline = time.monotonic() + timeout
        with self._lock:
            if threading.current_thread() in self._threads:
                raise RuntimeError(f"{self.name}: close() called from one of its own loops")
            if self._state is _RUNNING:
                self._state = _CLOSING
                for loop in self._loops[:len(self._threads)]:
                    try:
                        loop.call_soon_threadsafe(loop.stop)
                    except RuntimeError:
                        pass  # its thread closed it already (it failed to start)
            threads = self._threads
        stuck = []
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                stuck.append(thread.name)
        with self._lock:
            self._state = _CLOSED
        if stuck:
            raise TimeoutError(f"{self.name}: loop thread(s) {', '.join(stuck)} still running after {timeout:g} s")

    def __enter__(self) -> LoopGroup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _finish(loop: asyncio.AbstractEventLoop) -> None:
    """What asyncio.run does after its main task: cancel the tasks left, wait for them, report
    their errors, and shut down async generators and the default executor."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler({"message": "unhandled exception in a LoopGroup task at close",
                                         "exception": task.exception(), "task": task})
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
