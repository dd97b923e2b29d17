"""TaskRecorder: run each task id to success at most once, and always know its state.

A task is a coroutine launched under an id (str, bytes or int); its state is
NOT_FOUND, WORKING, FAILED or SUCCESS::

    NOT_FOUND --launch--> WORKING --raises or is cancelled--> FAILED --launch--> WORKING
                          WORKING --returns--> SUCCESS --revoke--> NOT_FOUND

With a storage, every change is a record ``[kind, id, attempts, started,
finished, error]`` (kind "W", "S" or "F"; a revoke is ``["R", id]``), saved
through a Recorder.  WORKING and FAILED records are saved in the background
(a launch does not wait for an fsync); a SUCCESS is reported only once its
record is stored, and a revoke returns only once its record is.  Replaying
the records gives the last record of each id: "S" is SUCCESS again, "F"
FAILED, and "W" (the process ended while the task was working) FAILED,
"interrupted".  When the records outnumber the live ids by ``compact_min``
plus the ids' number, they are compacted to the last record of each id.
"""
from __future__ import annotations

import asyncio
import asyncio.tasks as _asyncio_tasks
import contextlib
import enum
import itertools
import logging
import sys
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable
from dataclasses import dataclass
from types import CoroutineType, FunctionType, GeneratorType
from typing import Any, Final, cast

from ..loop import Loop
from .batcher import Recorder, RecorderClosed, RecorderError
from .storage import Storage, check_storage

__all__ = ["TaskRecorder", "State", "Launch", "TaskInfo", "TaskId", "replay"]

logger = logging.getLogger("ringloop.recorder")

TaskId = str | bytes | int

INTERRUPTED = "interrupted: the process ended while the task was working"


class State(enum.Enum):
    """A task id's state."""

    NOT_FOUND = "not found"
    WORKING = "working"
    FAILED = "failed"
    SUCCESS = "success"


class Launch(enum.Enum):
    """What ``launch()`` did."""

    STARTED = "started"
    ALREADY_WORKING = "already working"
    ALREADY_SUCCEEDED = "already succeeded"


_NOT_FOUND, _WORKING, _FAILED, _SUCCESS = State.NOT_FOUND, State.WORKING, State.FAILED, State.SUCCESS
_ALREADY_WORKING, _ALREADY_SUCCEEDED = Launch.ALREADY_WORKING, Launch.ALREADY_SUCCEEDED
_ID_TYPES = frozenset((str, bytes, int))
_PLAIN_ID_TYPES = frozenset((str, int))  # as Task names: str() of an int is its repr()
_time = time.time
# The create_task methods that, on an open loop with no task factory, do
# nothing observable but ``asyncio.tasks.Task(coro, loop=loop, name=name)``
# (the module attribute looked up per call, so a patched Task is used; in
# debug mode they drop their own frames from the task's source traceback,
# where a Task made in launch() never has them).  launch() then makes the
# Task itself: the method's frame (keyword arguments, a **kwargs dict, a
# method lookup on the loop) cost a launch more than the checks that stand
# in for it.  Another loop class, a task factory or a closed loop (where a
# Task would fail half made, and be reported destroyed pending) gets the
# loop's create_task.  Not asyncio._get_running_loop() to tell an open loop:
# it calls getpid(), a system call, every time (10% more CPU time per task,
# paired, where user-space instruction counts saw 4% less).
_PLAIN_CREATE_TASKS = (asyncio.BaseEventLoop.create_task, Loop.create_task)
# Called as functions, not looked up on the loop: a launch asks them (a
# factory may be set, or the loop closed, at any time), and a method lookup
# on a loop whose instance dict holds callables costs more than the call.
_get_task_factory: Callable[[Any], Any] = asyncio.BaseEventLoop.get_task_factory
_is_closed: Callable[[Any], bool] = asyncio.BaseEventLoop.is_closed

@dataclass(frozen=True)
class TaskInfo:
    """A task id's state, launches (``attempts``), ``started``/``finished`` times of the last
    (``time.time()``; None when unknown) and ``error`` text of the last failure."""

    state: State
    attempts: int
    started: float | None
    finished: float | None
    error: str | None


class _Opening:
    """What ``TaskRecorder.open()`` returns: await it, or use it as ``async with``."""

    __slots__ = ("_open", "_recorder")

    def __init__(self, open_: Callable[[], Coroutine[Any, Any, TaskRecorder]]) -> None:
        self._open = open_
        self._recorder: TaskRecorder | None = None

    def __await__(self) -> Any:
        return self._open().__await__()

    async def __aenter__(self) -> TaskRecorder:
        self._recorder = await self._open()
        return self._recorder

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: types.TracebackType | None) -> None:
        assert self._recorder is not None
        # Leaving on an error must not hang on tasks that may never end.
        await self._recorder.close(cancel=exc_type is not None)


# An id's entry is a plain tuple, not an object:
#   (state code, attempts, started, finished, error, last record saved or None, running task or None)
# Made in C, a tuple costs a launch a quarter of what an object with an
# __init__ does; and once the id is settled (its task is over, or a replay
# found it) the garbage collector stops tracking it, as a tuple of numbers,
# strings and None, so settled ids cost its full collections nothing (as
# objects, every full collection walked each of them).
_Entry = tuple[int, int, float | None, float | None, str | None, list[Any] | None, asyncio.Task[None] | None]
# In memory (no records to keep), a WORKING id's entry is its running task
# itself: no tuple to build per launch, and none holding the task for the
# collector to walk while it runs (0.90x the cost per task of a tuple,
# paired).  Its attempts and start time are the arguments its _step_run was
# given.  Once it succeeded, its entry is the first four items alone
# (code, attempts, started, finished): 24 bytes less to keep per id, and a
# shorter tuple to make (0.99x the instructions per task; at 100,000 ids the
# entries are most of what a run leaves in memory).  A success at the first
# attempt, the common one, is kept smaller still, as the complex number
# ``started + finished * 1j``: one 32-byte object the collector never
# tracks, where the tuple and its two floats took 120 bytes, the tuple
# tracked until a collection untracked it (with the id and its dict slot,
# 205 bytes per id kept became 116, by tracemalloc; 26,536 user-space
# instructions per task became 26,083).  Its two floats are the times exactly.
_Succeeded = tuple[int, int, float, float]
_Slot = _Entry | _Succeeded | complex | asyncio.Task[None]
# Where each item is (Final: so that mypy knows which item an index gives).
_AT_CODE: Final = 0
_AT_ATTEMPTS: Final = 1
_AT_STARTED: Final = 2
_AT_LOGGED: Final = 5
_AT_TASK: Final = 6
_STATES = (_NOT_FOUND, _WORKING, _FAILED, _SUCCESS)  # by state code
_WORKING_CODE, _FAILED_CODE, _SUCCESS_CODE = 1, 2, 3
_NO_ENTRY = (0,)  # the entry of an id not found, as far as its state code goes
_CODE_OF_KIND = {"W": _FAILED_CODE, "S": _SUCCESS_CODE, "F": _FAILED_CODE}


# Up to 3.11 asyncio runs a generator-based coroutine (types.coroutine) as a
# task; from 3.12 it runs native ones only.  A recorded task's coroutine is
# the first where it can be (see TaskRecorder._step_run).
_GENERATOR_TASKS = sys.version_info < (3, 12)


class _FirstStep:
    """Awaiting ``_FIRST_STEP`` suspends a native coroutine once, at the cost of one small object.

    ``__await__`` is ``range(1).__iter__``, a C callable (not a method: it
    takes no self) that gives a fresh iterator of one item (0), which the
    coroutine yields to whoever steps it.  A range iterator is not one the
    garbage collector tracks, so the thousand a burst of launches holds
    until their first steps do not bring its collections on sooner.
    """

    __slots__ = ()
    __await__ = range(1).__iter__


_FIRST_STEP: Any = _FirstStep()  # Any: typeshed wants __await__ to give a Generator


class _Stored(asyncio.Future[None]):
    """The outcome of the batch holding a record of the TaskRecorder's: a future that refuses to be cancelled.

    A task awaiting it that is cancelled is then only marked cancelled by
    asyncio, and gets its CancelledError once the outcome is known: a task
    storing its success waits for it through a cancellation as cheaply as
    it awaits it (asyncio.wait, to the same end, cost a task more than its
    launch did).
    """

    __slots__ = ()

    def cancel(self, msg: Any | None = None) -> bool:
        """Refuse: the outcome is the storage's to give (see the class)."""
        return False


class _Awaited:
    """A coroutine that is not native, as the 3.11 _step_run's ``yield from`` runs it: as ``await`` does.

    ``yield from`` iterates what it is given, where ``await`` asks for its
    ``__await__``; ``close()`` reaches the coroutine itself, even before it
    was ever stepped (a generator wrapping it could not).
    """

    __slots__ = ("_coro",)

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._coro = coro

    def __iter__(self) -> Generator[Any, Any, Any]:
        return self._coro.__await__()

    def close(self) -> None:
        self._coro.close()


def _as_coroutine(fn: Any, coro: Any) -> Coroutine[Any, Any, Any]:
    """What a task can run of ``coro``, which ``fn`` returned (or is) and is not a native coroutine."""
    if not asyncio.iscoroutine(coro):
        raise TypeError(f"fn must return a coroutine; {fn!r} returned {type(coro).__name__}")
    # A generator (a coroutine to asyncio up to 3.11) is what _step_run's
    # ``yield from`` takes there; another kind of coroutine (a compiled one,
    # say) is awaited through its ``__await__``, as ``await`` does.
    if _GENERATOR_TASKS and not isinstance(coro, GeneratorType):
        return cast("Coroutine[Any, Any, Any]", _Awaited(coro))  # for _step_run only: iterated and closed
    return coro


def _code_of(entry: _Slot) -> int:
    if type(entry) is complex:
        return _SUCCESS_CODE
    return entry[_AT_CODE] if type(entry) is tuple else _WORKING_CODE


def _state_of(entry: _Slot | None) -> State:
    return _NOT_FOUND if entry is None else _STATES[_code_of(entry)]


def _entry_of(entry: _Slot) -> _Entry:
    """The tuple form of an entry: a running task's is made from its _step_run's arguments."""
    if type(entry) is complex:
        return (_SUCCESS_CODE, 1, entry.real, entry.imag, None, None, None)
    if type(entry) is tuple:
        return entry if len(entry) == 7 else (*entry, None, None, None)
    assert isinstance(entry, asyncio.Task)
    run = entry.get_coro()
    # A _step_run settles its id before it ends, so its frame is there; only
    # one closed unfinished (its loop gone) has none, and then they are unknown.
    frame = None if run is None else run.gi_frame if type(run) is GeneratorType else run.cr_frame  # type: ignore[union-attr]
    arguments = {} if frame is None else frame.f_locals
    return (_WORKING_CODE, arguments.get("attempts", 0), arguments.get("started"), None, None, None, entry)


class TaskRecorder:
    """Launches recorded tasks and answers for their states; make one with :meth:`open`."""

    @classmethod
    def open(cls, storage: Storage | None = None, *, compact_min: int = 10_000) -> _Opening:
        """A TaskRecorder on ``storage`` (None: in memory only); await it or use ``async with``.

        A storage's records are replayed before it is ready (the storage
        must support ``load(None)``).  A storage that owns task states and
        claims (:class:`~ringloop.recorder.claims.TaskStateStorage`, such as
        PostgresStorage) is asked instead, and shared by every process.  ``compact_min``: how many records
        beyond twice the live ids the storage may hold before they are
        compacted (a storage without ``replace()`` is never compacted).
        ``async with`` closes it at the end, cancelling the tasks if the
        block raised, waiting for them otherwise.
        """
        if storage is not None:
            check_storage(storage)
        if isinstance(compact_min, bool) or not isinstance(compact_min, int):
            raise TypeError(f"compact_min must be an int, not {type(compact_min).__name__}")
        if compact_min < 0:
            raise ValueError(f"compact_min must be >= 0, got {compact_min}")
        # Imported here: claims builds on this module.
        from .claims import ClaimedTaskRecorder, TaskStateStorage
        if isinstance(storage, TaskStateStorage):  # the storage owns states and claims: ask it, not a replay
            return _Opening(lambda: ClaimedTaskRecorder._open_claimed(storage))
        return _Opening(lambda: cls._open(storage, compact_min))

    @classmethod
    async def _open(cls, storage: Storage | None, compact_min: int) -> TaskRecorder:
        self = cls.__new__(cls)
        self._setup(storage, compact_min)
        if storage is None:
            return self
        try:
            last = replay(await storage.load(None))
        except BaseException:
            close = getattr(storage, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # the error that matters is the one being raised
                    await close()
            raise
        for task_id, record in last.items():
            kind, _, attempts, started, finished, error = record
            if kind == "W":  # the process ended while the task was working
                finished, error = None, INTERRUPTED
            self._entries[task_id] = (_CODE_OF_KIND[kind], attempts, started, finished, error, record, None)
        self._log_len = len(last)
        self._rec = Recorder(storage, linger=0.0, on_error=self._storage_failed)
        return self

    def __init__(self) -> None:
        raise TypeError("make a TaskRecorder with TaskRecorder.open(storage)")

    def _setup(self, storage: Storage | None, compact_min: int) -> None:
        self._loop = asyncio.get_running_loop()
        # Whether launch() may make its Tasks itself (see _PLAIN_CREATE_TASKS).
        loop_type = type(self._loop)
        self._plain_create_task = (loop_type.create_task in _PLAIN_CREATE_TASKS
                                   and loop_type.get_task_factory is _get_task_factory
                                   and loop_type.is_closed is _is_closed)
        self._entries: dict[TaskId, _Slot] = {}
        self._waiters: dict[TaskId, list[asyncio.Future[State]]] = {}  # wait()s of running ids
        self._revoking: dict[TaskId, asyncio.Future[Any]] = {}  # ids whose revoke record is being stored
        self._rec: Recorder | None = None
        self._closing = False
        # What launch() takes the short way: no id while closed, broken or storing a revoke.
        self._plain_id_types = _PLAIN_ID_TYPES
        self._closer: asyncio.Task[None] | None = None
        self._broken: BaseException | None = None
        self._compact_min = compact_min
        self._compacting: asyncio.Task[None] | None = None
        # launch() and wait() answer with these when they need not wait: done
        # futures, awaitable any number of times, and cheaper to await than a
        # coroutine is to make.
        self._outcomes = {outcome: self._done_future(outcome) for outcome in Launch}
        self._started = self._outcomes[Launch.STARTED]
        self._settled = tuple(self._done_future(state) for state in _STATES)  # by state code
        self._succeeded = self._settled[_SUCCESS_CODE]
        self._log_len = 0  # records saved to the storage and not compacted away (stored or in flight)
        self._can_compact = storage is not None and callable(getattr(storage, "replace", None))

    def _done_future(self, result: Any) -> asyncio.Future[Any]:
        future = self._loop.create_future()
        future.set_result(result)
        return future

    def __repr__(self) -> str:
        storage = "memory" if self._rec is None else repr(self._rec._storage)
        return f"<TaskRecorder {'closed' if self._closing else 'open'} ids={len(self._entries)} storage={storage}>"

    # -- launching -----------------------------------------------------------------

    def launch(self, task_id: TaskId, fn: Any, /, *args: Any) -> Awaitable[Launch]:
        """Run ``fn(*args)`` (a coroutine function; or ``fn`` a coroutine, without args) as task ``task_id``.

        Like ``loop.create_task()``, it acts at the call, so it may be called
        from a callback; what it returns gives the outcome when awaited.
        STARTED: the task runs as an asyncio task named after the id, and the
        id is WORKING (or over already) from the call on.  ALREADY_WORKING or
        ALREADY_SUCCEEDED: nothing runs, and a coroutine given is closed.
        A FAILED id is launched again.  While a revoke of the id is being
        stored, the launch waits for it in a task of its own (the returned
        awaitable).  Raises TypeError for a bad id or ``fn``, RecorderClosed
        after ``close()``, RecorderError once the storage failed, and
        whatever calling ``fn`` raises, with nothing recorded.
        """
        # The common case first, checked in a few steps: an id of a plain type
        # (the set is empty while the recorder is closed, broken or storing a
        # revoke) and a Python function.  _launch_checked takes the rest.
        if type(task_id) in self._plain_id_types and type(fn) is FunctionType:
            entry = self._entries.get(task_id)
            if entry is None:
                attempts = 1
            elif type(entry) is tuple and entry[_AT_CODE] == _FAILED_CODE:
                attempts = entry[_AT_ATTEMPTS] + 1
            else:
                return self._refused(entry)
            coro = fn(*args) if args else fn()  # a call without a star when it can: specialized
            if type(coro) is not CoroutineType:
                coro = _as_coroutine(fn, coro)
            name: object = task_id  # a str, or an int, which the Task names as repr() does
        else:
            checked = self._launch_checked(task_id, fn, args)
            if not isinstance(checked, tuple):
                return checked
            attempts, coro, name = checked
        now = _time()
        stepped = None
        try:
            logged = None if self._rec is None else self._log(["W", _json_id(task_id), attempts, now, None, None])
            stepped = self._step_run(task_id, coro, attempts, now)
            stepped.send(None)  # to its first suspension, inside its try: see _step_run
            loop = self._loop
            if self._plain_create_task and _get_task_factory(loop) is None and not _is_closed(loop):
                # What the loop's create_task would do, without its frame (see _PLAIN_CREATE_TASKS).
                task = _asyncio_tasks.Task(stepped, loop=loop, name=name)  # type: ignore[arg-type]
            else:
                task = loop.create_task(stepped, name=name)  # type: ignore[arg-type]  # the Task makes it a str
        except BaseException:
            (coro if stepped is None else stepped).close()  # closing stepped closes coro too
            raise
        self._entries[task_id] = task if logged is None else (_WORKING_CODE, attempts, now, None, None, logged, task)
        return self._started

    def _launch_checked(self, task_id: Any, fn: Any, args: tuple[Any, ...]
                        ) -> Awaitable[Launch] | tuple[int, Coroutine[Any, Any, Any], str]:
        """launch() the long way: every check, a coroutine given as ``fn``, a launch waiting for a revoke.

        Returns what launch() is to start (attempts, the coroutine, the
        task's name), or its outcome when nothing starts.
        """
        given = type(fn) is CoroutineType or (not callable(fn) and asyncio.iscoroutine(fn))
        try:
            if given:
                if args:
                    raise TypeError("launch() takes a coroutine without arguments, "
                                    "or a coroutine function and its arguments")
            elif not callable(fn):
                raise TypeError(f"fn must be a coroutine function or a coroutine, not {type(fn).__name__}")
            _check_id(task_id)
            self._check_open()
            if task_id in self._revoking:
                revoking = self._revoking[task_id]
                return self._loop.create_task(self._launch_after_revoke(revoking, task_id, fn, args, given))
        except BaseException:
            if given:
                fn.close()
            raise
        entry = self._entries.get(task_id)
        if entry is not None and _code_of(entry) != _FAILED_CODE:
            if given:
                fn.close()
            return self._refused(entry)
        coro = fn if given else fn(*args)
        if type(coro) is not CoroutineType:
            coro = _as_coroutine(fn, coro)
        attempts = 1 if entry is None else _entry_of(entry)[_AT_ATTEMPTS] + 1
        return attempts, coro, task_id if type(task_id) is str else repr(task_id)

    def _refused(self, entry: _Slot) -> Awaitable[Launch]:
        return self._outcomes[_ALREADY_WORKING if _code_of(entry) == _WORKING_CODE else _ALREADY_SUCCEEDED]

    async def _launch_after_revoke(self, revoking: asyncio.Future[Any], task_id: TaskId, fn: Any,
                                   args: tuple[Any, ...], given: bool) -> Launch:
        try:
            await asyncio.wait((revoking,))
        except BaseException:
            if given:
                fn.close()
            raise
        return await self.launch(task_id, fn, *args)  # checks all again: the recorder may be closed now

    if sys.version_info < (3, 12):  # _GENERATOR_TASKS, said so that mypy reads it
        @types.coroutine
        def _step_run(self, task_id: TaskId, coro: Coroutine[Any, Any, Any], attempts: int,
                      started: float) -> Generator[Any, Any, None]:
            """The coroutine of a recorded task: runs ``coro`` and records how it ended.

            ``launch`` steps it once itself, to the bare ``yield``, which only
            suspends it: so even a task cancelled before its first step gets
            the CancelledError inside the ``try`` and is recorded FAILED (an
            unstepped coroutine would end at its first line, leaving the id
            WORKING and ``coro`` never awaited).

            A generator-based coroutine where asyncio runs one as a task (up
            to 3.11), since a ``yield`` suspends it at no cost, where a native
            coroutine has to await an object made to suspend it (the 3.12+
            version below): 750 fewer user-space instructions per task, of
            26,100.  ``yield from coro`` is ``await coro`` here: a coroutine
            that is not native comes wrapped (``_as_coroutine``).  Not a
            hand-written coroutine: its Python ``send`` caught a StopIteration
            at every task's end.
            """
            try:
                yield  # the end of launch's step
                yield from coro
            except BaseException as exc:
                if self._run_failed(task_id, coro, attempts, started, exc):
                    raise
                return
            if self._rec is None:
                self._settle_success_in_memory(task_id, attempts, started)
            else:
                yield from self._store_success(task_id, attempts, started)
    else:
        async def _step_run(self, task_id: TaskId, coro: Coroutine[Any, Any, Any], attempts: int,
                            started: float) -> None:
            """The _step_run above as the native coroutine asyncio wants from 3.12, suspended by awaiting _FIRST_STEP.

            The same steps written twice, since neither kind of coroutine can
            run the other's: a native coroutine awaiting the generator above
            cost a task 2,200 user-space instructions more on 3.12.
            """
            try:
                await _FIRST_STEP  # the end of launch's step
                await coro
            except BaseException as exc:
                if self._run_failed(task_id, coro, attempts, started, exc):
                    raise
                return
            if self._rec is None:
                self._settle_success_in_memory(task_id, attempts, started)
            else:
                await self._store_success(task_id, attempts, started)

    def _settle_success_in_memory(self, task_id: TaskId, attempts: int, started: float) -> None:
        """The run of ``task_id`` succeeded and nothing is recorded: settle its entry, wake its wait()s."""
        # (1j * the time, then + started: float operands, each taken in C by the complex's operation.)
        self._entries[task_id] = 1j * _time() + started if attempts == 1 else (_SUCCESS_CODE, attempts, started, _time())
        if self._waiters:
            self._wake(task_id, _SUCCESS)

    def _run_failed(self, task_id: TaskId, coro: Coroutine[Any, Any, Any], attempts: int, started: float,
                    exc: BaseException) -> bool:
        """``coro``'s run raised ``exc``: settle the id FAILED; whether its task must raise ``exc`` on."""
        if isinstance(exc, Exception):
            # A failure is a state, not an error of the task: the task ends
            # normally, so asyncio does not log "exception never retrieved".
            self._settle(task_id, attempts, started, _FAILED_CODE, f"{type(exc).__name__}: {exc}", _time())
            return False
        coro.close()  # never started when the task was cancelled before its first step
        if not isinstance(exc, GeneratorExit):  # GeneratorExit: closed, not run (its task was never made, or destroyed)
            # CancelledError above all: a cancelled task never counts as a success.
            error = "cancelled" if isinstance(exc, asyncio.CancelledError) else f"{type(exc).__name__}: {exc}"
            self._settle(task_id, attempts, started, _FAILED_CODE, error, _time())
        return True

    async def _store_success(self, task_id: TaskId, attempts: int, started: float) -> None:
        finished = _time()
        entry = self._entries[task_id]
        assert type(entry) is tuple and len(entry) == 7  # with records, every entry is a whole tuple
        record = ["S", _logged_id(entry[_AT_LOGGED]), attempts, started, finished, None]
        try:
            stored = self._log(record, wait=True)
        except RecorderError as exc:
            self._settle(task_id, attempts, started, _FAILED_CODE, f"the success could not be recorded: {exc}",
                         finished, log=False)
            return
        # At once, not when stored: a compaction snapshot taken from now on
        # sits after this record, so it must hold it.
        self._entries[task_id] = (*entry[:_AT_LOGGED], record, entry[_AT_TASK])
        # Waited for through cancellation (see _Stored): the task did succeed,
        # and whether that is on disk decides its state; the cancellation is
        # re-raised after.
        cancelled = False
        while not stored.done():
            try:
                await stored
            except asyncio.CancelledError:
                cancelled = True
            except Exception:
                pass  # NotStored: said below
        if stored.exception() is None:
            self._settle(task_id, attempts, started, _SUCCESS_CODE, None, finished, log=False)
        else:
            self._settle(task_id, attempts, started, _FAILED_CODE,
                         f"the success could not be stored: {stored.exception()!r}", finished, log=False)
        if cancelled:
            raise asyncio.CancelledError

    def _settle(self, task_id: TaskId, attempts: int, started: float, code: int, error: str | None, finished: float,
                log: bool = True) -> None:
        """The run of ``task_id`` is over: its entry is settled (a failure logged first); wake its wait()s."""
        entry = self._entries[task_id]
        logged = entry[_AT_LOGGED] if type(entry) is tuple and len(entry) == 7 else None
        if log and code == _FAILED_CODE and self._rec is not None:
            try:
                logged = self._log(["F", _logged_id(logged), attempts, started, finished, error])
            except RecorderClosed:
                pass  # the loop is ending: the "W" record already makes it FAILED on replay
        self._entries[task_id] = (code, attempts, started, finished, error, logged, None)
        if self._waiters:
            self._wake(task_id, _STATES[code])

    def _wake(self, task_id: TaskId, state: State) -> None:
        """The wait()s of ``task_id``, which just settled in ``state``, return it."""
        for future in self._waiters.pop(task_id, ()):
            if not future.done():
                future.set_result(state)

    def _log(self, record: list[Any], wait: bool = False) -> Any:
        """Save ``record``; return the record, or with ``wait`` the future of its batch's outcome."""
        assert self._rec is not None
        position = self._rec._push(record)
        self._log_len += 1
        if (self._log_len >= 2 * len(self._entries) + self._compact_min and self._compacting is None
                and self._can_compact and self._broken is None and not self._closing):
            self._compacting = self._loop.create_task(self._compact(), name="TaskRecorder compaction")
        return self._rec._outcome(position, _Stored(loop=self._loop)) if wait else record

    async def _compact(self) -> None:
        assert self._rec is not None
        # The snapshot and the replace command are made in one step: the
        # command's place in the Recorder's order is exactly after the last
        # record the snapshot reflects.
        snapshot = [entry[_AT_LOGGED] for entry in self._recorded_entries() if entry[_AT_LOGGED] is not None]
        logged_before = self._log_len
        try:
            await self._rec.replace(snapshot)
        except RecorderClosed:
            pass
        except Exception as exc:
            self._loop.call_exception_handler(
                {"message": "TaskRecorder: compacting the storage failed", "exception": exc})
        else:
            self._log_len = len(snapshot) + self._log_len - logged_before
        finally:
            self._compacting = None

    def _storage_failed(self, exc: BaseException, batch: list[Any]) -> None:
        if self._broken is None:
            self._broken = exc
            self._plain_id_types = frozenset()
            logger.error("%r: %d records were not stored (%r); launches and revokes are refused "
                         "until it is reopened", self, len(batch), exc)

    def _check_open(self) -> None:
        if self._closing:
            raise RecorderClosed("the TaskRecorder is closed")
        if self._broken is not None:
            raise RecorderError(f"the TaskRecorder's storage failed ({self._broken!r}); "
                                "launches and revokes are refused until it is reopened") from self._broken

    # -- states --------------------------------------------------------------------

    async def query(self, task_id: TaskId) -> State:
        """The id's state, once a revoke of it that is being stored has settled."""
        if type(task_id) not in _ID_TYPES:
            _check_id(task_id)
        while (revoking := self._revoking.get(task_id)) is not None:
            await asyncio.wait((revoking,))
        return _state_of(self._entries.get(task_id))

    def query_quick(self, task_id: TaskId) -> State:
        """The id's state in this process now, without waiting (a revoke being stored: still SUCCESS)."""
        if type(task_id) not in _ID_TYPES:
            _check_id(task_id)
        return _state_of(self._entries.get(task_id))

    def wait(self, task_id: TaskId, timeout: float | None = None) -> Awaitable[State]:
        """Wait until the id is not WORKING and return its state; TimeoutError after ``timeout`` seconds.

        Its arguments are checked at the call (TypeError, ValueError), and
        what it returns is to be awaited.
        """
        if type(task_id) not in _ID_TYPES:
            _check_id(task_id)
        if timeout is not None:
            _check_timeout(timeout)
        entry = self._entries.get(task_id, _NO_ENTRY)
        if type(entry) is complex:  # a success at the first attempt, in memory: the common answer first
            return self._succeeded
        if type(entry) is tuple and entry[_AT_CODE] != _WORKING_CODE:
            return self._settled[entry[_AT_CODE]]
        return self._wait_working(task_id, timeout)

    async def _wait_working(self, task_id: TaskId, timeout: float | None) -> State:
        # First run when awaited, which may be after the id settled.
        state = _state_of(self._entries.get(task_id))
        if state is not _WORKING:
            return state
        future: asyncio.Future[State] = self._loop.create_future()
        waiters = self._waiters.setdefault(task_id, [])
        waiters.append(future)
        try:
            if timeout is None:
                return await future
            async with asyncio.timeout(timeout):
                return await future
        finally:
            if not future.done():
                waiters.remove(future)
                if not waiters and self._waiters.get(task_id) is waiters:
                    del self._waiters[task_id]

    async def revoke(self, task_id: TaskId) -> bool:
        """Make a SUCCESS id NOT_FOUND (launchable again) and return True; for any other state return False.

        With a storage it returns once the revoke is stored; meanwhile the
        id stays SUCCESS.  Raises NotStored if it could not be stored (the
        id then stays SUCCESS), RecorderClosed after ``close()``.
        """
        if type(task_id) not in _ID_TYPES:
            _check_id(task_id)
        while True:
            self._check_open()
            entry = self._entries.get(task_id)
            if entry is None or _code_of(entry) != _SUCCESS_CODE:
                return False
            revoking = self._revoking.get(task_id)
            if revoking is None:
                break
            await asyncio.wait((revoking,))  # another revoke of it is being stored
        if self._rec is None:
            del self._entries[task_id]
            return True
        assert type(entry) is tuple and len(entry) == 7  # with records, every entry is a whole tuple
        stored = self._revoking[task_id] = self._log(["R", _logged_id(entry[_AT_LOGGED])], wait=True)
        self._plain_id_types = frozenset()
        # Meanwhile a compaction snapshot (which would sit after the "R" record) leaves the id out.
        self._entries[task_id] = (*entry[:_AT_LOGGED], None, None)

        def settle(future: asyncio.Future[Any]) -> None:  # runs even if this call is cancelled meanwhile
            del self._revoking[task_id]
            if not (self._revoking or self._closing or self._broken is not None):
                self._plain_id_types = _PLAIN_ID_TYPES
            if future.exception() is None:
                del self._entries[task_id]
            else:
                self._entries[task_id] = entry

        stored.add_done_callback(settle)
        await asyncio.shield(stored)
        return True

    def ids(self, state: State) -> list[TaskId]:
        """The ids in ``state`` (not NOT_FOUND), in the order they were first launched or replayed."""
        if not isinstance(state, State):
            raise TypeError(f"state must be a State, not {type(state).__name__}")
        if state is _NOT_FOUND:
            raise ValueError("the ids NOT_FOUND are all the others")
        return [task_id for task_id, entry in self._entries.items() if _state_of(entry) is state]

    def info(self, task_id: TaskId) -> TaskInfo:
        """What is known of the id (state NOT_FOUND, 0 attempts for an id never launched or revoked)."""
        if type(task_id) not in _ID_TYPES:
            _check_id(task_id)
        entry = self._entries.get(task_id)
        if entry is None:
            return TaskInfo(_NOT_FOUND, 0, None, None, None)
        code, attempts, started, finished, error, _, _ = _entry_of(entry)
        return TaskInfo(_STATES[code], attempts, started, finished, error)

    # -- closing -------------------------------------------------------------------

    async def close(self, *, cancel: bool = False) -> None:
        """Refuse launches, wait for the running tasks (cancel them first with ``cancel``), store and close.

        The storage is closed too.  Raises NotStored if records were not
        stored.  Calling it again waits for the same closing (and with
        ``cancel``, cancels the tasks still running).
        """
        if not isinstance(cancel, bool):
            raise TypeError(f"cancel must be a bool, not {type(cancel).__name__}")
        self._closing = True
        self._plain_id_types = frozenset()
        if cancel:
            for task in self._running_tasks():
                task.cancel()
        if self._closer is None:
            self._closer = self._loop.create_task(self._close(), name="TaskRecorder close")
        await asyncio.wait((self._closer,))
        self._closer.result()

    async def _close(self) -> None:
        running = self._running_tasks()
        if running:
            await asyncio.wait(running)
        if self._compacting is not None:
            await asyncio.wait((self._compacting,))
        if self._rec is not None:
            await self._rec.close()

    def _running_tasks(self) -> list[asyncio.Task[Any]]:
        if self._rec is None:
            # A running task is its id's entry, any other is a tuple or a
            # complex: picked in C (filterfalse), as close() looks through
            # every id ever launched.
            settled = itertools.filterfalse(complex.__instancecheck__, self._entries.values())
            return list(itertools.filterfalse(tuple.__instancecheck__, settled))  # type: ignore[arg-type]
        return [entry[_AT_TASK] for entry in self._recorded_entries() if entry[_AT_TASK] is not None]

    def _recorded_entries(self) -> Iterable[_Entry]:
        """The entries of a recorder with records: all tuples (only in memory is a running id's entry its task)."""
        return cast("dict[TaskId, _Entry]", self._entries).values()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closing


def replay(records: Iterable[Any]) -> dict[TaskId, list[Any]]:
    """The last record of each id that is not revoked, from TaskRecorder records in save order.

    Raises ValueError, naming the record, for one that is not a TaskRecorder record.
    """
    last: dict[TaskId, list[Any]] = {}
    for number, record in enumerate(records):
        if not (isinstance(record, list) and record and record[0] in ("W", "S", "F", "R")
                and len(record) == (2 if record[0] == "R" else 6)):
            raise ValueError(f"record {number} is not a TaskRecorder record: {record!r:.100}")
        task_id = _task_id(record[1], number)
        if record[0] == "R":
            last.pop(task_id, None)
            continue
        _, _, attempts, started, finished, error = record
        if not (type(attempts) is int and attempts >= 1 and _is_time(started) and _is_time(finished)
                and (error is None or isinstance(error, str))):
            raise ValueError(f"record {number} is not a TaskRecorder record: {record!r:.100}")
        last[task_id] = record
    return last


def _is_time(value: Any) -> bool:
    return value is None or (type(value) in (int, float))


def _logged_id(logged: list[Any] | None) -> Any:
    """The id as the id's last record ``logged`` stores it."""
    assert logged is not None  # with a storage, an id has a record until it is revoked
    return logged[1]


def _json_id(task_id: TaskId) -> Any:
    """The id as stored: bytes as ``{"hex": ...}``, since JSON has no bytes."""
    return {"hex": task_id.hex()} if isinstance(task_id, bytes) else task_id


def _task_id(value: Any, number: int) -> TaskId:
    if type(value) is dict and len(value) == 1 and type(value.get("hex")) is str:
        try:
            return bytes.fromhex(value["hex"])
        except ValueError:
            pass
    elif type(value) in (str, int):
        return cast(TaskId, value)
    raise ValueError(f"record {number} has no valid task id: {value!r:.100}")


def _check_timeout(timeout: Any) -> None:
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    if timeout is not None and not timeout >= 0:
        raise ValueError(f"timeout must be >= 0, got {timeout}")


def _check_id(task_id: Any) -> None:
    if isinstance(task_id, bool) or not isinstance(task_id, (str, bytes, int)):
        raise TypeError(f"a task id is a str, bytes or int, not {type(task_id).__name__}")
