"""Task state owned by a shared storage: claims with leases and fencing tokens, and the TaskRecorder on them.

A storage that provides :class:`TaskStateStorage` (PostgresStorage does) keeps
the state of every task id itself, for every process that opens it.  A
TaskRecorder opened on such a storage does not replay records: it asks the
storage.

- ``launch`` *claims* the id: the storage grants a claim (a :class:`Claim`
  with a fencing token, unique for all time) only if the id is NOT_FOUND,
  FAILED, or WORKING under a lease that has expired.  The claim holds for
  ``storage.lease`` seconds and the recorder renews the claims of its
  running tasks every third of that, all in one call.
- When the task ends, its state is committed with the token; the storage
  refuses it (``finish`` returns False) unless that token holds the current,
  unexpired claim.  So SUCCESS is committed at most once per id, by the
  holder of the claim, however many processes launch it.
- A process that dies stops renewing: its ids read FAILED ("lease expired")
  once the lease is over, and may be launched elsewhere.
- A process that loses a claim (its lease expired: the loop stalled, the
  database was out of reach) has its running task cancelled, and the id's
  end is not recorded: ``info()`` says FAILED with the error ``CLAIM_LOST``
  and ``lost_claims`` counts it.

What this does not do: it cannot undo or fence the task body's own side
effects.  A body whose process stalls past its lease may still be running
(or have done its work) while another process runs the same id; only the
recorded SUCCESS is once.  Side effects that must happen once need their own
idempotency (the token, passed to nothing here, is the tool for that when a
body commits to the same database).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from types import CoroutineType
from typing import Any, Protocol, runtime_checkable

from .batcher import RecorderClosed
from .tasks import Launch, State, TaskId, TaskInfo, TaskRecorder, _check_id, _check_timeout

__all__ = ["TaskStateStorage", "Claim", "CLAIM_LOST", "ClaimedTaskRecorder"]

logger = logging.getLogger("ringloop.recorder")

CLAIM_LOST = "claim lost: the lease expired before the task ended; its end was not recorded"

_ID_TYPES = frozenset((str, bytes, int))


@dataclass(frozen=True)
class Claim:
    """A granted claim of an id: its fencing ``token`` (never granted twice), and the id's launch count."""

    token: int
    attempts: int


@runtime_checkable
class TaskStateStorage(Protocol):
    """A storage that owns task states and claims; a TaskRecorder opened on it uses these methods.

    Every method is atomic in the storage; states are those of every
    process using it.
    """

    lease: float

    async def claim(self, task_id: TaskId, started: float) -> Claim | Launch:
        """Claim the id for ``lease`` seconds if it is NOT_FOUND, FAILED or WORKING with an expired lease;
        else ``Launch.ALREADY_WORKING`` or ``Launch.ALREADY_SUCCEEDED``."""

    async def renew(self, claims: Sequence[tuple[TaskId, int]]) -> set[TaskId]:
        """Extend the leases of the claims ``(id, token)`` still held; return the ids whose claim was."""

    async def finish(self, task_id: TaskId, token: int, state: State, finished: float, error: str | None) -> bool:
        """Commit SUCCESS or FAILED if ``token`` holds the id's current, unexpired claim; False otherwise."""

    async def task_info(self, task_id: TaskId) -> TaskInfo:
        """The id's state as all processes see it (WORKING past its lease reads FAILED)."""

    async def revoke(self, task_id: TaskId) -> bool:
        """Make a SUCCESS id NOT_FOUND and return True; False, changing nothing, for any other state."""

    async def wait(self, task_id: TaskId, timeout: float | None) -> TaskInfo:
        """Wait until the id is not WORKING, in any process, and return its info; TimeoutError after ``timeout``."""

    async def close(self) -> None:
        """Release the storage's resources; idempotent."""


class ClaimedTaskRecorder(TaskRecorder):
    """A TaskRecorder whose states live in a :class:`TaskStateStorage`; ``TaskRecorder.open`` makes one.

    The same API as TaskRecorder; ``query``, ``wait`` and ``revoke`` ask the
    storage (every process's view), while ``query_quick``, ``info`` and
    ``ids`` give this process's view: the ids it launched or asked about.
    """

    lost_claims: int  # runs whose claim this process lost before they ended (their ends not recorded)
    _shared: TaskStateStorage
    _known: dict[TaskId, TaskInfo]  # this process's view
    _running: dict[TaskId, tuple[asyncio.Task[None], int]]  # this process's runs and their tokens
    _starting: set[asyncio.Task[Launch]]  # launches waiting for their claims
    _renewer: asyncio.Task[None]

    @classmethod
    async def _open_claimed(cls, storage: TaskStateStorage) -> ClaimedTaskRecorder:
        self = cls.__new__(cls)
        self._loop = asyncio.get_running_loop()
        self._shared = storage
        self._closing = False
        self._closer = None
        self._known = {}
        self._running = {}
        self._starting = set()
        self.lost_claims = 0
        self._renewer = self._loop.create_task(self._renew_forever(), name="TaskRecorder lease renewal")
        return self

    def __repr__(self) -> str:
        return (f"<TaskRecorder {'closed' if self._closing else 'open'} running={len(self._running)} "
                f"storage={self._shared!r}>")

    # -- launching -----------------------------------------------------------------

    def launch(self, task_id: TaskId, fn: Any, /, *args: Any) -> Awaitable[Launch]:
        """Claim the id in the storage, then run ``fn(*args)`` (or the coroutine ``fn``) as its task.

        Calls ``fn`` at once (so its errors are raised here); the awaitable
        returned gives STARTED once the claim is granted and the task runs,
        or ALREADY_WORKING / ALREADY_SUCCEEDED (in any process), the
        coroutine then closed.  Raises TypeError for a bad id or ``fn``,
        RecorderClosed after ``close()``.
        """
        given = type(fn) is CoroutineType or (not callable(fn) and asyncio.iscoroutine(fn))
        try:
            if given and args:
                raise TypeError("launch() takes a coroutine without arguments, or a coroutine function and its arguments")
            if not given and not callable(fn):
                raise TypeError(f"fn must be a coroutine function or a coroutine, not {type(fn).__name__}")
            if type(task_id) not in _ID_TYPES:
                _check_id(task_id)
            if self._closing:
                raise RecorderClosed("the TaskRecorder is closed")
        except BaseException:
            if given:
                fn.close()
            raise
        coro = fn if given else fn(*args)
        if not asyncio.iscoroutine(coro):
            raise TypeError(f"fn must return a coroutine; {fn!r} returned {type(coro).__name__}")
        starting = self._loop.create_task(self._claim_and_start(task_id, coro), name=f"launch {task_id!r}")
        self._starting.add(starting)
        starting.add_done_callback(self._starting.discard)
        return starting

    async def _claim_and_start(self, task_id: TaskId, coro: Any) -> Launch:
        try:
            started = time.time()
            claim = await self._shared.claim(task_id, started)
            if isinstance(claim, Launch):
                coro.close()
                return claim
        except BaseException:
            coro.close()
            raise
        self._known[task_id] = TaskInfo(State.WORKING, claim.attempts, started, None, None)
        task = self._loop.create_task(self._run(task_id, claim, started, coro),
                                      name=task_id if type(task_id) is str else repr(task_id))
        self._running[task_id] = (task, claim.token)
        return Launch.STARTED

    async def _run(self, task_id: TaskId, claim: Claim, started: float, coro: Any) -> None:
        cancelled: asyncio.CancelledError | None = None
        try:
            await coro
            state, error = State.SUCCESS, None
        except asyncio.CancelledError as exc:
            state, error, cancelled = State.FAILED, "cancelled", exc  # never a success
        except Exception as exc:  # a failure is a state of the id, not an error of this task
            state, error = State.FAILED, f"{type(exc).__name__}: {exc}"
        finished = time.time()
        unrecorded: str | None = None
        try:
            if self._running.get(task_id, (None, None))[1] != claim.token:
                committed = False  # the renewer found the claim lost and cancelled the body
            else:
                # Shielded: a cancellation now must not leave the id WORKING until its lease ends.
                committed = await asyncio.shield(self._shared.finish(task_id, claim.token, state, finished, error))
        except Exception as exc:
            committed, unrecorded = False, f"the end could not be recorded: {type(exc).__name__}: {exc}"
        finally:
            self._running.pop(task_id, None)
        if not committed:
            if unrecorded is None:
                unrecorded = CLAIM_LOST
                self.lost_claims += 1
                logger.warning("%r: lost the claim of task %r before it ended", self, task_id)
            state, error = State.FAILED, unrecorded
        self._known[task_id] = TaskInfo(state, claim.attempts, started, finished, error)
        if cancelled is not None:
            raise cancelled

    async def _renew_forever(self) -> None:
        interval = self._shared.lease / 3
        while True:
            await asyncio.sleep(interval)
            held = [(task_id, token) for task_id, (_, token) in self._running.items()]
            if not held:
                continue
            try:
                renewed = await self._shared.renew(held)
            except Exception as exc:  # the next round may reach the storage; a lease lost meanwhile is seen then
                logger.warning("%r: renewing %d leases failed: %r", self, len(held), exc)
                continue
            for task_id, token in held:
                current = self._running.get(task_id)
                if task_id not in renewed and current is not None and current[1] == token:
                    # Another process may run it now: this copy must not go on, nor record its end.
                    del self._running[task_id]
                    current[0].cancel()

    # -- states --------------------------------------------------------------------

    async def query(self, task_id: TaskId) -> State:
        """The id's state in the storage, as every process sees it."""
        if type(task_id) not in _ID_TYPES:
            _check_id(task_id)
        return self._remember(task_id, await self._shared.task_info(task_id)).state

    def query_quick(self, task_id: TaskId) -> State:
        """The id's state as this process last knew it (NOT_FOUND for an id it never saw)."""
        return self.info(task_id).state

    async def wait(self, task_id: TaskId, timeout: float | None = None) -> State:
        """Wait until the id is not WORKING in any process (woken by the storage, not polling); TimeoutError."""
        if type(task_id) not in _ID_TYPES:
            _check_id(task_id)
        _check_timeout(timeout)
        running = self._running.get(task_id)
        if running is not None:  # ours: its end (or its lost claim) is known here first
            start = self._loop.time()
            await asyncio.wait((running[0],), timeout=timeout)
            if timeout is not None:
                timeout = max(0.0, timeout - (self._loop.time() - start))
        return self._remember(task_id, await self._shared.wait(task_id, timeout)).state

    async def revoke(self, task_id: TaskId) -> bool:
        """Make a SUCCESS id NOT_FOUND in the storage (for every process) and return True; else False."""
        if type(task_id) not in _ID_TYPES:
            _check_id(task_id)
        if self._closing:
            raise RecorderClosed("the TaskRecorder is closed")
        revoked = await self._shared.revoke(task_id)
        if revoked:
            self._known.pop(task_id, None)
        return revoked

    def ids(self, state: State) -> list[TaskId]:
        """The ids in ``state`` as this process knows them (those it launched or asked about)."""
        if not isinstance(state, State):
            raise TypeError(f"state must be a State, not {type(state).__name__}")
        if state is State.NOT_FOUND:
            raise ValueError("the ids NOT_FOUND are all the others")
        return [task_id for task_id, info in self._known.items() if info.state is state]

    def info(self, task_id: TaskId) -> TaskInfo:
        """What this process knows of the id: its own runs' ends (CLAIM_LOST included), and what it last asked."""
        if type(task_id) not in _ID_TYPES:
            _check_id(task_id)
        return self._known.get(task_id, TaskInfo(State.NOT_FOUND, 0, None, None, None))

    def _remember(self, task_id: TaskId, info: TaskInfo) -> TaskInfo:
        known = self._known.get(task_id)
        if known is not None and known.error == CLAIM_LOST and known.attempts == info.attempts:
            return info  # the storage's "lease expired" is this run: keep what this process learned of it
        if info.state is State.NOT_FOUND:
            self._known.pop(task_id, None)
        else:
            self._known[task_id] = info
        return info

    # -- closing -------------------------------------------------------------------

    def _running_tasks(self) -> list[asyncio.Task[Any]]:
        # close(cancel=True) cancels the launches still claiming their ids too.
        return list(self._starting) + [task for task, _ in self._running.values()]

    async def _close(self) -> None:
        if self._starting:
            await asyncio.wait(list(self._starting))
        running = [task for task, _ in self._running.values()]
        if running:
            await asyncio.wait(running)  # the renewer keeps their leases meanwhile
        self._renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._renewer
        await self._shared.close()
