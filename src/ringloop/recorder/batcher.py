"""Recorder: save records without waiting for the storage.

``save()`` puts a record in a bounded queue and returns; one task per
Recorder, the actor, takes the queue in batches (at most ``max_batch``
records, waiting at most ``linger`` seconds for a batch to fill) and hands
each to the storage, retrying a failed batch with backoff.  A batch that
fails for good is reported to ``on_error``, in ``stats()``, and by the
``save_wait()``, ``flush()`` and ``close()`` calls that cover it; never
dropped in silence.

Positions: every saved record gets the next position (0, 1, 2, ...), and the
actor stores records in position order.  A call that waits for "everything
saved before it" remembers the position reached when it was made and is
answered when the actor has processed that far.  ``records()`` and
``replace()`` go into the same order: a batch never spans their position.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import math
import warnings
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from .storage import Storage, StorageBroken, StorageError, check_storage

__all__ = ["Recorder", "RecorderStats", "RecorderError", "RecorderFull", "RecorderClosed", "NotStored"]

logger = logging.getLogger("ringloop.recorder")

_NEVER = 1 << 62  # a queue length never reached: the actor is not to be woken by saves


class RecorderError(Exception):
    """Base of the Recorder's own errors."""


class RecorderFull(RecorderError):
    """``save()`` found ``max_pending`` records not yet stored; use ``save_wait()`` to wait for room."""


class RecorderClosed(RecorderError):
    """The Recorder is closed (or its delayed storage could not be made)."""


class NotStored(RecorderError):
    """Records were not stored: their batch failed for good.  ``__cause__`` is the storage's error."""


@dataclass(frozen=True)
class RecorderStats:
    """Counts since the Recorder was made: records ``pending`` (saved, not yet stored or failed),
    ``stored`` and ``failed``; ``batches`` stored, ``retries`` of storage calls, ``failures``
    (batches that failed for good) and the ``last_error`` of those."""

    pending: int
    stored: int
    failed: int
    batches: int
    retries: int
    failures: int
    last_error: BaseException | None


class _Flush:
    """A flush() waiting: it covers positions [lo, hi) and collects the errors of their batches."""

    __slots__ = ("lo", "hi", "future", "errors")

    def __init__(self, lo: int, hi: int, future: asyncio.Future[Any], errors: list[BaseException]) -> None:
        self.lo, self.hi, self.future, self.errors = lo, hi, future, errors


class _Rejected:
    """A record saved before a delayed storage existed, which the storage's encode() then refused."""

    __slots__ = ("record", "error")

    def __init__(self, record: Any, error: Exception) -> None:
        self.record, self.error = record, error


class Recorder:
    """Saves records to a :class:`~ringloop.recorder.storage.Storage` in batches, from a task of its own.

    Must be made on a running loop.  ``max_batch``: most records per
    ``storage.save()`` call; ``linger``: seconds a batch waits to fill
    (0: store what is there as soon as the actor runs); ``max_pending``: most
    records saved but not yet stored; ``on_error(exc, batch)``: called for a
    batch that failed for good (``batch`` as the storage got it: the
    results of its ``encode()``, if it has one); ``attempts``: storage calls
    per batch (a StorageBroken error is not retried); ``backoff``: seconds
    before the first retry, doubled for each next one.
    """

    def __init__(self, storage: Storage, *, max_batch: int = 1024, linger: float = 0.002,
                 max_pending: int = 65536, on_error: Callable[[BaseException, list[Any]], Any] | None = None,
                 attempts: int = 3, backoff: float = 0.05) -> None:
        check_storage(storage)
        self._setup(max_batch, linger, max_pending, on_error, attempts, backoff)
        self._adopt(storage)
        self._task = self._loop.create_task(self._run(None), name=f"Recorder({type(storage).__name__})")

    @classmethod
    def from_delayed_storage(cls, storage: Awaitable[Storage], **options: Any) -> Recorder:
        """A Recorder usable at once, whose storage is what ``storage`` (an awaitable) gives.

        Saves queue up (up to ``max_pending``) until the storage is ready.
        Records saved before then are checked by the storage's ``encode()``
        only once it exists; one it refuses is reported like a failed batch
        of one record.  If ``storage`` raises, every record saved fails with
        that error and the Recorder closes.  ``options`` are the
        constructor's.
        """
        try:
            if not inspect.isawaitable(storage):
                raise TypeError(f"storage must be an awaitable that gives a storage, not {type(storage).__name__}")
            self = cls.__new__(cls)
            self._setup(**options)
        except BaseException:
            if inspect.iscoroutine(storage):
                storage.close()  # never run: no "never awaited" warning
            raise
        self._task = self._loop.create_task(self._run(storage), name="Recorder(delayed storage)")
        return self

    def _setup(self, max_batch: int = 1024, linger: float = 0.002, max_pending: int = 65536,
               on_error: Callable[[BaseException, list[Any]], Any] | None = None, attempts: int = 3,
               backoff: float = 0.05) -> None:
        _check_count("max_batch", max_batch)
        _check_count("max_pending", max_pending)
        _check_count("attempts", attempts)
        _check_seconds("linger", linger)
        _check_seconds("backoff", backoff)
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be a callable (exc, batch) or None, not {type(on_error).__name__}")
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("a Recorder must be made on a running event loop") from None
        self._storage: Storage | None = None
        self._encode: Callable[[Any], Any] | None = None
        self._max_batch, self._linger, self._max_pending = max_batch, linger, max_pending
        self._on_error, self._attempts, self._backoff = on_error, attempts, backoff
        self._queue: list[Any] = []  # records (or encoded items) saved and not yet taken by the actor
        self._saved = 0  # position the next saved record gets
        self._done = 0  # records the actor is through with (stored or failed)
        self._commands: deque[tuple[int, str, Any, asyncio.Future[Any]]] = deque()
        self._waiters: deque[tuple[int, asyncio.Future[Any]]] = deque()  # save_wait()s, by position
        self._flushes: list[_Flush] = []
        self._failed: list[tuple[int, int, BaseException]] = []  # failures a later flush() may cover
        self._flush_lo = 0  # the next flush() covers positions from here
        self._hurry = 0  # no lingering until the actor has done this many
        self._room: list[asyncio.Future[Any]] = []  # save_wait()s waiting for room
        self._wakeup: asyncio.Future[Any] | None = None
        self._wake_at = _NEVER  # queue length at which a save wakes the actor
        self._rejected = 0  # _Rejected items in the queue
        self._closing = False
        self._interrupted = False  # the actor was cancelled (the loop is shutting down)
        self._fatal: BaseException | None = None  # why the delayed storage is missing
        self._close_error: BaseException | None = None
        self._stored = self._nfailed = self._batches = self._retries = self._failures = 0
        self._last_error: BaseException | None = None

    def _adopt(self, storage: Storage) -> None:
        self._storage = storage
        self._encode = getattr(storage, "encode", None)

    def __repr__(self) -> str:
        state = "closed" if self._closing else "open"
        return f"<Recorder {state} storage={self._storage!r} pending={self._saved - self._done}>"

    # -- saving ----------------------------------------------------------------

    def save(self, record: Any) -> None:
        """Queue ``record`` to be stored and return at once; never blocks.

        Raises RecorderClosed after ``close()``, RecorderFull when
        ``max_pending`` records wait already, and whatever the storage's
        ``encode()`` raises for a record it cannot hold (TypeError,
        ValueError); nothing is queued then.
        """
        if self._closing:
            raise RecorderClosed(self._closed_reason())
        position = self._saved
        if position - self._done >= self._max_pending:
            raise RecorderFull(f"{position - self._done} records are waiting to be stored "
                               f"(max_pending={self._max_pending}); use save_wait() to wait for room")
        # _push(), inline: this is the hot path of a Recorder.
        queue = self._queue
        queue.append(record if self._encode is None else self._encode(record))
        self._saved = position + 1
        if len(queue) >= self._wake_at:
            self._wake()

    async def save_wait(self, record: Any) -> None:
        """Wait for room, queue ``record``, then wait until the batch holding it is stored.

        Raises NotStored if that batch failed for good, RecorderClosed and
        encoding errors as ``save()`` does.  Cancelling the wait does not
        take the record back once it is queued.
        """
        while not self._has_room() and not self._closing:
            await self._wait_room()
        await self._outcome(self._push(record))

    def _push(self, record: Any) -> int:
        """Queue ``record`` (no room check) and return its position."""
        if self._closing:
            raise RecorderClosed(self._closed_reason())
        queue = self._queue
        queue.append(record if self._encode is None else self._encode(record))
        position = self._saved
        self._saved = position + 1
        if len(queue) >= self._wake_at:
            self._wake()
        return position

    def _outcome(self, position: int, future: asyncio.Future[None] | None = None) -> asyncio.Future[None]:
        """``future`` (or a new one) for the outcome of the batch holding the record at ``position``.

        Its result is None once that batch is stored; NotStored if it failed.
        """
        if future is None:
            future = self._loop.create_future()
        self._waiters.append((position, future))
        return future

    def _has_room(self) -> bool:
        return self._saved - self._done < self._max_pending

    async def _wait_room(self) -> None:
        room = self._loop.create_future()
        self._room.append(room)
        await room

    async def flush(self) -> None:
        """Wait until every record saved before the call is stored (or failed for good).

        Raises NotStored if a record saved since the previous ``flush()``
        call (or since the start) was not stored.  Lingering stops: batches
        are stored as soon as the actor gets to them.
        """
        lo, hi = self._flush_lo, self._saved
        self._flush_lo = hi
        errors = [error for start, end, error in self._failed if end > lo and start < hi]
        self._failed = [failure for failure in self._failed if failure[1] > hi]
        if self._done < hi:
            flush = _Flush(lo, hi, self._loop.create_future(), errors)
            self._flushes.append(flush)
            self._hurry = max(self._hurry, hi)
            self._wake()
            await flush.future
        _raise_not_stored(errors, "since the previous flush()")

    # -- reading and replacing ---------------------------------------------------

    async def records(self, query: Any = None) -> list[Any]:
        """``storage.load(query)`` once every record saved before the call is stored: all of them, in save order.

        A record whose batch failed for good is not there (its failure is
        reported as usual).  Raises RecorderClosed after ``close()``.
        """
        return cast("list[Any]", await self._command("load", query))

    async def replace(self, records: list[Any]) -> None:
        """Once every record saved before the call is stored, make ``records`` the storage's whole content.

        Compaction: the storage's ``replace()`` does it atomically.  Records
        saved after the call are stored after them.  Raises TypeError if the
        storage has no ``replace()``, RecorderClosed after ``close()``.
        The records are encoded when their turn comes; do not change them
        before the call returns.
        """
        if not isinstance(records, list):
            raise TypeError(f"records must be a list, not {type(records).__name__}")
        if self._storage is not None:
            _check_replace(self._storage)
        await self._command("replace", records)

    async def _command(self, kind: str, arg: Any) -> Any:
        if self._closing:
            raise RecorderClosed(self._closed_reason())
        future = self._loop.create_future()
        self._commands.append((self._saved, kind, arg, future))
        self._hurry = max(self._hurry, self._saved)
        self._wake()
        return await future

    # -- closing -----------------------------------------------------------------

    async def close(self) -> Storage:
        """Stop accepting records, store those pending, close the storage and return it.

        Raises NotStored if a record saved since the last ``flush()`` was not
        stored, RecorderClosed if a delayed storage could not be made, and
        the error of the storage's ``close()``.  Calling it again gives the
        same outcome.  Cancelling the call does not stop the closing.
        """
        if not self._closing:
            self._closing = True
            self._wake()
        lo, hi = self._flush_lo, self._saved
        if not self._task.done():
            await asyncio.wait((self._task,))
        if self._storage is None:
            raise RecorderClosed(self._closed_reason()) from self._fatal
        _raise_not_stored([error for start, end, error in self._failed if end > lo and start < hi],
                          "since the last flush()")
        if self._close_error is not None:
            raise self._close_error
        return self._storage

    @property
    def closed(self) -> bool:
        """Whether the Recorder has stopped accepting records."""
        return self._closing

    def stats(self) -> RecorderStats:
        """The Recorder's counts now."""
        return RecorderStats(self._saved - self._done, self._stored, self._nfailed, self._batches,
                             self._retries, self._failures, self._last_error)

    def _closed_reason(self) -> str:
        if self._fatal is not None:
            return f"the Recorder's storage could not be made: {self._fatal!r}"
        return "the Recorder is closed"

    # -- the actor ---------------------------------------------------------------

    async def _run(self, delayed: Awaitable[Storage] | None) -> None:
        try:
            if delayed is None or await self._become_ready(delayed):
                await self._serve()
                close = getattr(self._storage, "close", None)
                if close is not None:
                    try:
                        await self._through(close())
                    except Exception as exc:
                        self._close_error = exc
        finally:
            self._abandon()
        if self._interrupted:
            raise asyncio.CancelledError

    async def _serve(self) -> None:
        queue, commands = self._queue, self._commands
        while True:
            if commands and commands[0][0] == self._done:
                await self._execute(*commands.popleft())
                continue
            if not queue:
                if self._closing:
                    return
                await self._sleep(1, None)
                continue
            if (len(queue) < self._max_batch and self._linger and not self._closing
                    and self._hurry <= self._done):
                await self._sleep(self._max_batch, self._linger)
            limit = self._max_batch
            if commands:
                limit = min(limit, commands[0][0] - self._done)
            if self._rejected:
                limit = next((i for i in range(min(limit, len(queue))) if type(queue[i]) is _Rejected), limit)
                if limit == 0:
                    rejected = queue.pop(0)
                    self._rejected -= 1
                    self._complete([rejected.record], rejected.error)
                    continue
            batch = queue[:limit]
            del queue[:limit]
            await self._store(batch)

    async def _store(self, batch: list[Any]) -> None:
        error: Exception | None = None
        for attempt in range(self._attempts):
            if attempt:
                self._retries += 1
                try:
                    await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
                except asyncio.CancelledError:
                    self._interrupt()
            try:
                assert self._storage is not None
                await self._through(self._storage.save(batch))
                error = None
                break
            except Exception as exc:
                error = exc
                if isinstance(exc, StorageBroken):
                    break
        self._complete(batch, error)

    def _complete(self, batch: list[Any], error: BaseException | None) -> None:
        """The actor is through with ``batch``, the next records in position order."""
        start = self._done
        end = self._done = start + len(batch)
        if error is None:
            self._stored += len(batch)
            self._batches += 1
        else:
            self._nfailed += len(batch)
            self._failures += 1
            self._last_error = error
            if end > self._flush_lo:
                self._failed.append((start, end, error))
            for flush in self._flushes:
                if flush.lo < end and start < flush.hi:
                    flush.errors.append(error)
            self._report(error, batch)
        waiters = self._waiters
        while waiters and waiters[0][0] < end:
            future = waiters.popleft()[1]
            if not future.done():
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(_not_stored(error))
        if self._flushes:
            for flush in [flush for flush in self._flushes if flush.hi <= end]:
                self._flushes.remove(flush)
                if not flush.future.done():
                    flush.future.set_result(None)
        if self._room and self._has_room():
            self._release_room()

    def _report(self, error: BaseException, batch: list[Any]) -> None:
        if self._on_error is None:
            logger.error("%r: a batch of %d records was not stored: %r", self, len(batch), error)
            return
        try:
            self._on_error(error, batch)
        except Exception as exc:
            self._loop.call_exception_handler(
                {"message": "a Recorder's on_error callback raised", "exception": exc, "recorder": self})

    async def _execute(self, position: int, kind: str, arg: Any, future: asyncio.Future[Any]) -> None:
        if future.done():  # its caller was cancelled before its turn
            return
        storage = self._storage
        assert storage is not None
        try:
            if kind == "load":
                result = await self._through(storage.load(arg))
            else:
                _check_replace(storage)
                encode = self._encode
                result = await self._through(getattr(storage, "replace")(
                    list(arg) if encode is None else [encode(record) for record in arg]))
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(result)

    async def _become_ready(self, delayed: Awaitable[Storage]) -> bool:
        try:
            storage = await self._through(delayed)
            check_storage(storage)
        except Exception as exc:
            self._fatal = exc
            self._closing = True
            logger.error("%r: the delayed storage could not be made: %r", self, exc)
            if self._queue:
                batch = self._queue[:]
                self._queue.clear()
                self._complete(batch, exc)
            return False
        self._adopt(storage)
        if self._encode is not None:
            queue = self._queue
            for i, record in enumerate(queue):
                try:
                    queue[i] = self._encode(record)
                except Exception as exc:
                    queue[i] = _Rejected(record, exc)
                    self._rejected += 1
        return True

    async def _through(self, awaitable: Awaitable[Any]) -> Any:
        # A storage call runs to its end even if the actor is cancelled
        # meanwhile (the loop shutting down): stopped half-way, it would
        # leave unknown whether its batch was stored, and the batch would be
        # lost or stored twice.
        task = asyncio.ensure_future(awaitable)
        while not task.done():
            try:
                await asyncio.wait((task,))
            except asyncio.CancelledError:
                self._interrupt()
        if task.cancelled():
            raise StorageError("a storage call was cancelled")
        return task.result()

    async def _sleep(self, wake_at: int, timeout: float | None) -> None:
        """Wait until the queue holds ``wake_at`` records, a flush, close or command, or ``timeout``."""
        self._wakeup = self._loop.create_future()
        self._wake_at = wake_at
        timer = None if timeout is None else self._loop.call_later(timeout, self._wake)
        try:
            await self._wakeup
        except asyncio.CancelledError:
            self._interrupt()
        finally:
            self._wakeup = None
            self._wake_at = _NEVER
            if timer is not None:
                timer.cancel()

    def _wake(self) -> None:
        self._wake_at = _NEVER
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _interrupt(self) -> None:
        """The actor was cancelled: store what is pending, then end (cancelled)."""
        self._interrupted = True
        if not self._closing:
            warnings.warn(f"{self!r} was not closed: its task was cancelled (the loop shutting down?); "
                          "it stores what it holds, then stops; call close()", ResourceWarning, source=self)
            self._closing = True

    def _release_room(self) -> None:
        room, self._room = self._room, []
        for future in room:
            if not future.done():
                future.set_result(None)

    def _abandon(self) -> None:
        """The actor ends: answer every call still waiting (only an unexpected error leaves any)."""
        self._closing = True
        reason = RecorderClosed(self._closed_reason())
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(reason)
        for _, _, _, future in self._commands:
            if not future.done():
                future.set_exception(reason)
        for flush in self._flushes:
            if not flush.future.done():
                flush.future.set_result(None)
        self._waiters.clear()
        self._commands.clear()
        self._flushes.clear()
        self._release_room()


def _not_stored(error: BaseException) -> NotStored:
    exc = NotStored(f"not stored: {error!r}")
    exc.__cause__ = error
    return exc


def _raise_not_stored(errors: list[BaseException], since: str) -> None:
    if errors:
        raise NotStored(f"{len(errors)} batch(es) saved {since} were not stored; "
                        f"first error: {errors[0]!r}") from errors[0]


def _check_replace(storage: Any) -> None:
    if not callable(getattr(storage, "replace", None)):
        raise TypeError(f"{type(storage).__name__} has no replace(): it cannot be compacted")


def _check_count(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")


def _check_seconds(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not (0 <= value and math.isfinite(value)):
        raise ValueError(f"{name} must be >= 0 and finite, got {value}")
