"""TaskRecorder: states, launch outcomes, revokes, waits, closing, and the durable rules with a storage."""
import asyncio
import collections.abc
import contextlib
import gc
import inspect
import time
import types
import warnings
from unittest.mock import ANY

import pytest
from helpers import run_checked

import ringloop

from ringloop.recorder import (
    JournalStorage,
    Launch,
    MemoryStorage,
    NotStored,
    RecorderClosed,
    RecorderError,
    State,
    StorageBroken,
    TaskRecorder,
)
from ringloop.recorder.tasks import INTERRUPTED, replay

NOT_FOUND, WORKING, FAILED, SUCCESS = State.NOT_FOUND, State.WORKING, State.FAILED, State.SUCCESS


async def nothing():
    pass


async def fail():
    raise ValueError("it went wrong")


class Gated(MemoryStorage):
    """A MemoryStorage whose saves wait for ``gate`` and can be made to fail; ``saved`` is set after each."""

    def __init__(self, records=None):
        super().__init__(records)
        self.gate = asyncio.Event()
        self.gate.set()
        self.saved = asyncio.Event()
        self.error = None
        self.closed = 0

    async def save(self, batch):
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        await super().save(batch)
        self.saved.set()

    async def close(self):
        self.closed += 1


def test_states_and_outcomes(loop):
    async def main():
        async with TaskRecorder.open() as tasks:
            assert await tasks.query("a") is NOT_FOUND
            assert await tasks.launch("a", nothing) is Launch.STARTED
            assert await tasks.query("a") is WORKING  # seen at once
            assert await tasks.wait("a") is SUCCESS
            assert await tasks.launch(7, fail) is Launch.STARTED
            assert await tasks.wait(7) is FAILED
            assert tasks.info(7).error == "ValueError: it went wrong"
            assert await tasks.launch(7, nothing) is Launch.STARTED  # a failure may be launched again
            assert await tasks.wait(7) is SUCCESS
            info = tasks.info(7)
            assert info.state is SUCCESS and info.attempts == 2 and info.error is None and info.started <= info.finished
            assert tasks.info("never").state is NOT_FOUND and tasks.info("never").attempts == 0
            assert await tasks.launch(b"\x00id", fail) is Launch.STARTED
            await tasks.wait(b"\x00id")
            assert tasks.ids(SUCCESS) == ["a", 7] and tasks.ids(FAILED) == [b"\x00id"]
            assert tasks.query_quick(b"\x00id") is FAILED

    run_checked(loop, main())


def test_a_second_copy_never_runs_while_one_is_working(loop):
    async def main():
        runs = 0
        release = asyncio.Event()

        async def work():
            nonlocal runs
            runs += 1
            await release.wait()

        tasks = await TaskRecorder.open()
        assert await tasks.launch("x", work) is Launch.STARTED
        await asyncio.sleep(0)
        assert await tasks.launch("x", work) is Launch.ALREADY_WORKING
        release.set()
        assert await tasks.wait("x") is SUCCESS
        assert runs == 1
        await tasks.close()

    run_checked(loop, main())


@pytest.mark.parametrize("attempts", [1, 2], ids=["first attempt", "second attempt"])
@pytest.mark.parametrize("stored", [False, True], ids=["in memory", "with a storage"])
def test_info_of_a_working_id_and_of_its_success(loop, stored, attempts):
    async def main():
        release = asyncio.Event()
        tasks = await TaskRecorder.open(Gated() if stored else None)
        if attempts == 2:
            await tasks.launch("x", fail)
            await tasks.wait("x")
        before = time.time()
        await tasks.launch("x", release.wait)
        info = tasks.info("x")
        assert info.state is WORKING and info.attempts == attempts and info.finished is None and info.error is None
        assert before <= info.started <= time.time()
        await asyncio.sleep(0)  # its first step taken: the same answers
        assert tasks.info("x") == info and tasks.ids(WORKING) == ["x"]
        release.set()
        assert await tasks.wait("x") is SUCCESS
        after = time.time()
        # The success keeps the start time exactly, and its own end time (kept compactly in memory).
        success = tasks.info("x")
        assert (success.state, success.attempts, success.started, success.error) == (SUCCESS, attempts, info.started, None)
        assert info.started <= success.finished <= after and tasks.ids(SUCCESS) == ["x"]
        await tasks.close()

    run_checked(loop, main())


def test_seed_000_defect_launching_a_success_leaves_it_a_success(loop):
    async def main():
        tasks = await TaskRecorder.open()
        await tasks.launch("paid", nothing)
        await tasks.wait("paid")
        ran = []

        async def again():
            ran.append(1)

        assert await tasks.launch("paid", again) is Launch.ALREADY_SUCCEEDED
        assert await tasks.query("paid") is SUCCESS and tasks.query_quick("paid") is SUCCESS
        assert await asyncio.wait_for(tasks.wait("paid"), 5) is SUCCESS
        await asyncio.sleep(0)
        assert ran == [] and tasks.info("paid").attempts == 1
        await tasks.close()

    run_checked(loop, main())


def test_seed_000_defect_a_refused_revoke_changes_nothing(loop):
    async def main():
        release = asyncio.Event()
        tasks = await TaskRecorder.open()
        assert await tasks.revoke("x") is False  # NOT_FOUND
        await tasks.launch("x", release.wait)
        assert await tasks.revoke("x") is False  # WORKING
        release.set()
        await tasks.wait("x")
        assert await tasks.revoke("x") is True  # SUCCESS: now NOT_FOUND
        assert await tasks.query("x") is NOT_FOUND
        assert await tasks.revoke("x") is False
        await tasks.launch("y", fail)
        await tasks.wait("y")
        assert await tasks.revoke("y") is False  # FAILED
        assert await tasks.query("y") is FAILED
        await tasks.launch("y", nothing)
        await tasks.wait("y")
        assert await tasks.revoke("y") is True
        assert await tasks.launch("x", nothing) is Launch.STARTED  # revoked ids run again
        assert await tasks.wait("x") is SUCCESS
        await tasks.close()

    run_checked(loop, main())


def test_a_coroutine_that_is_not_run_is_closed_without_a_warning(loop):
    async def main():
        tasks = await TaskRecorder.open()
        await tasks.launch("x", nothing)
        await tasks.wait("x")
        coro = nothing()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert await tasks.launch("x", coro) is Launch.ALREADY_SUCCEEDED
            assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
            refused = nothing()
            with pytest.raises(TypeError):
                tasks.launch(1.5, refused)
            assert inspect.getcoroutinestate(refused) == inspect.CORO_CLOSED
            with_args = nothing()
            with pytest.raises(TypeError):
                tasks.launch("y", with_args, 1)
            assert inspect.getcoroutinestate(with_args) == inspect.CORO_CLOSED
            await tasks.close()
            late = nothing()
            with pytest.raises(RecorderClosed):
                tasks.launch("z", late)
            assert inspect.getcoroutinestate(late) == inspect.CORO_CLOSED
            del coro, refused, with_args, late
            gc.collect()

    run_checked(loop, main())


def test_a_cancelled_task_is_failed_never_a_success(loop):
    async def main():
        tasks = await TaskRecorder.open()
        await tasks.launch("x", asyncio.sleep, 60)
        await asyncio.sleep(0)
        (task,) = [t for t in asyncio.all_tasks() if t.get_name() == "x"]  # an ordinary task, named after its id
        task.cancel()
        assert await tasks.wait("x") is FAILED
        assert tasks.info("x").error == "cancelled"
        assert task.cancelled()
        assert await tasks.launch("x", nothing) is Launch.STARTED
        assert await tasks.wait("x") is SUCCESS
        await tasks.close()

    run_checked(loop, main())


@pytest.mark.parametrize("stored", [False, True], ids=["in memory", "with a storage"])
def test_a_task_cancelled_before_it_ever_ran_is_failed(loop, stored):
    async def main():
        storage = Gated() if stored else None
        tasks = await TaskRecorder.open(storage)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tasks.launch("x", asyncio.sleep, 60)
            (task,) = [t for t in asyncio.all_tasks() if t.get_name() == "x"]
            task.cancel()  # before its first step
            assert await tasks.wait("x") is FAILED
            assert tasks.info("x").error == "cancelled"
            gc.collect()  # the sleep coroutine was closed: no "never awaited" warning
        await tasks.close()
        if stored:
            records = await storage.load(None)
            assert [r[0] for r in records] == ["W", "F"] and records[-1][-1] == "cancelled"

    run_checked(loop, main())


def test_generator_based_coroutines_run_where_asyncio_runs_them(loop):
    @types.coroutine
    def decorated():
        yield
        return 1

    def plain():
        yield
        raise ValueError("from a generator")

    async def main():
        async with TaskRecorder.open() as tasks:
            if not asyncio.iscoroutine(plain()):  # 3.12+: asyncio runs no generator as a task
                with pytest.raises(TypeError, match="coroutine"):
                    tasks.launch("plain", plain)
                return
            assert await tasks.launch("decorated", decorated) is Launch.STARTED
            assert await tasks.launch("plain", plain()) is Launch.STARTED
            assert await tasks.wait("decorated") is SUCCESS
            assert await tasks.wait("plain") is FAILED
            assert tasks.info("plain").error == "ValueError: from a generator"

    run_checked(loop, main())


class Awaitable(collections.abc.Coroutine):
    """A coroutine that is not a native one (as a compiled coroutine is): awaited through its ``__await__``, never iterated."""

    def __init__(self, result, steps):
        self._steps = self._run(result, steps)
        self.closed = False

    def _run(self, result, steps):  # a plain generator: what __await__ may give
        for _ in range(steps):
            yield
        return result

    def __await__(self):
        return self._steps

    def send(self, value):
        return self._steps.send(value)

    def throw(self, *exc):
        return self._steps.throw(*exc)

    def close(self):
        self.closed = True
        self._steps.close()


def test_a_coroutine_that_is_not_native_runs_as_await_runs_it(loop):
    async def main():
        async with TaskRecorder.open() as tasks:
            assert not hasattr(Awaitable(None, 0), "__iter__")
            assert await tasks.launch("object", Awaitable(None, 2)) is Launch.STARTED
            assert await tasks.launch("returned", lambda: Awaitable(None, 0)) is Launch.STARTED
            assert await tasks.wait("object") is SUCCESS and await tasks.wait("returned") is SUCCESS
            for first_step_taken in (True, False):
                stuck = Awaitable(None, 1_000)
                await tasks.launch(f"cancelled {first_step_taken}", stuck)
                if first_step_taken:
                    await asyncio.sleep(0)
                (task,) = [t for t in asyncio.all_tasks() if t.get_name() == f"cancelled {first_step_taken}"]
                task.cancel()
                assert await tasks.wait(f"cancelled {first_step_taken}") is FAILED
                assert tasks.info(f"cancelled {first_step_taken}").error == "cancelled" and stuck.closed

    run_checked(loop, main())


def test_task_names(loop):
    async def main():
        tasks = await TaskRecorder.open()
        for task_id in ("order-17", 17, b"k"):
            tasks.launch(task_id, asyncio.sleep, 60)
        names = {t.get_name() for t in asyncio.all_tasks()}
        assert {"order-17", "17", "b'k'"} <= names
        await tasks.close(cancel=True)

    run_checked(loop, main())


@pytest.mark.parametrize("make_loop", [asyncio.new_event_loop, ringloop.new_event_loop], ids=["asyncio", "ringloop"])
def test_tasks_are_made_as_the_loops_create_task_makes_them(make_loop):
    """launch() makes its Task itself only where that is what create_task would do (tasks.py, _PLAIN_CREATE_TASKS)."""
    made = []

    def factory(loop, coro, **kwargs):
        made.append("factory")
        return asyncio.Task(coro, loop=loop, **kwargs)

    class OwnCreateTask(type(make_loop())):
        def create_task(self, coro, **kwargs):
            made.append(("own", kwargs.get("name")))
            return super().create_task(coro, **kwargs)

    async def main():
        tasks = await TaskRecorder.open()
        loop = asyncio.get_running_loop()
        tasks.launch("plain", nothing)
        (task,) = [t for t in asyncio.all_tasks() if t.get_name() == "plain"]
        if loop.get_debug():  # the source traceback ends at launch's caller, as through create_task
            assert [frame.name for frame in task._source_traceback[-2:]] == ["main", "launch"]
        loop.set_task_factory(factory)  # set after the recorder was opened: still used
        tasks.launch(17, nothing)
        loop.set_task_factory(None)
        assert "17" in {t.get_name() for t in asyncio.all_tasks()}
        assert await tasks.wait("plain") is SUCCESS and await tasks.wait(17) is SUCCESS
        return tasks

    for debug in (False, True):
        made.clear()
        loop = make_loop()
        loop.set_debug(debug)
        tasks = run_checked(loop, main())
        assert made == ["factory"]
        tasks.launch("outside", nothing)  # outside the running loop: the task runs once it does
        assert run_checked(loop, tasks.wait("outside")) is SUCCESS
        open_on_a_closed_loop = run_checked(loop, TaskRecorder.open())
        run_checked(loop, tasks.close())
        loop.close()
        # On a closed loop, launch fails as create_task does: no Task made half, reported destroyed pending.
        reports = []
        loop.set_exception_handler(lambda _loop, context: reports.append(context))
        with pytest.raises(RuntimeError, match="closed"):
            open_on_a_closed_loop.launch("late", nothing)
        gc.collect()
        assert reports == [] and open_on_a_closed_loop.query_quick("late") is NOT_FOUND
    loop = OwnCreateTask()
    try:
        made.clear()
        run_checked(loop, main())
        assert {("own", "plain"), ("own", 17)} <= set(made)  # a loop's own create_task is called
    finally:
        loop.close()


def test_launch_acts_at_the_call_so_a_callback_can_launch(loop):
    async def main():
        tasks = await TaskRecorder.open()
        loop.call_soon(tasks.launch, "from a callback", nothing)
        await asyncio.sleep(0)
        assert tasks.query_quick("from a callback") is WORKING
        assert await tasks.wait("from a callback") is SUCCESS
        await tasks.close()

    run_checked(loop, main())


def test_what_calling_fn_raises_propagates_with_nothing_recorded(loop):
    async def main():
        tasks = await TaskRecorder.open()

        def broken(*args):
            raise RuntimeError("before any coroutine")

        with pytest.raises(RuntimeError):
            tasks.launch("x", broken)
        with pytest.raises(TypeError, match="must return a coroutine"):
            tasks.launch("x", lambda: 42)
        with pytest.raises(TypeError):
            tasks.launch("x", nothing, "unexpected argument")  # fn(*args) raises
        assert tasks.query_quick("x") is NOT_FOUND
        with pytest.raises(TypeError):
            tasks.launch("x", "not callable")
        await tasks.close()

    run_checked(loop, main())


def test_bad_ids_and_arguments(loop):
    async def main():
        tasks = await TaskRecorder.open()
        for bad in (True, 1.5, None, ("t",), ["l"]):
            with pytest.raises(TypeError, match="task id"):
                tasks.launch(bad, nothing)
            with pytest.raises(TypeError):
                await tasks.query(bad)
            with pytest.raises(TypeError):
                tasks.query_quick(bad)
            with pytest.raises(TypeError):
                await tasks.wait(bad)
            with pytest.raises(TypeError):
                await tasks.revoke(bad)
            with pytest.raises(TypeError):
                tasks.info(bad)
        with pytest.raises(TypeError):
            tasks.ids("success")
        with pytest.raises(ValueError):
            tasks.ids(NOT_FOUND)
        with pytest.raises(ValueError):
            await tasks.wait("x", timeout=-1)
        with pytest.raises(TypeError):
            await tasks.wait("x", timeout="1")
        with pytest.raises(TypeError):
            await tasks.close(cancel=1)
        await tasks.close()

    run_checked(loop, main())
    with pytest.raises(TypeError, match="open"):
        TaskRecorder()
    with pytest.raises(TypeError):
        TaskRecorder.open(object())
    with pytest.raises(ValueError):
        TaskRecorder.open(compact_min=-1)


def test_a_wait_awaited_after_the_id_settled_returns(loop):
    async def main():
        tasks = await TaskRecorder.open()
        tasks.launch("x", nothing)
        waiting = tasks.wait("x")  # made while x is WORKING, awaited once it is not
        await asyncio.sleep(0)
        assert tasks.query_quick("x") is SUCCESS
        assert await waiting is SUCCESS
        await tasks.close()

    run_checked(loop, main())


def test_wait_times_out(loop):
    async def main():
        tasks = await TaskRecorder.open()
        await tasks.launch("slow", asyncio.sleep, 60)
        with pytest.raises(TimeoutError):
            await tasks.wait("slow", timeout=0.01)
        assert await tasks.wait("missing", timeout=0) is NOT_FOUND
        await tasks.close(cancel=True)
        assert await tasks.wait("slow") is FAILED

    run_checked(loop, main())


def test_close_waits_or_cancels(loop):
    async def main():
        tasks = await TaskRecorder.open()
        await tasks.launch("short", asyncio.sleep, 0.01)
        await tasks.close()
        assert tasks.query_quick("short") is SUCCESS and tasks.closed
        tasks = await TaskRecorder.open()
        for task_id, fn in (("first", nothing), ("second", fail), ("second", nothing), ("failed", fail)):
            await tasks.launch(task_id, fn)
            await tasks.wait(task_id)
        await tasks.launch("long", asyncio.sleep, 60)
        await tasks.close(cancel=True)  # only the running task is cancelled: the settled ids stay as they were
        assert [tasks.query_quick(i) for i in ("long", "first", "second", "failed")] == [FAILED, SUCCESS, SUCCESS, FAILED]
        with pytest.raises(RecorderClosed):
            tasks.launch("more", nothing)

        with pytest.raises(ZeroDivisionError):
            async with TaskRecorder.open() as tasks:
                await tasks.launch("stuck", asyncio.sleep, 60)
                1 / 0
        assert tasks.query_quick("stuck") is FAILED  # leaving on an error cancelled it

    run_checked(loop, main())


# -- with a storage ------------------------------------------------------------


def test_success_is_reported_only_once_stored(loop):
    async def main():
        storage = Gated()
        tasks = await TaskRecorder.open(storage)
        storage.gate.clear()
        await tasks.launch("x", nothing)  # a launch does not wait for the storage
        waiting = asyncio.ensure_future(tasks.wait("x"))
        for _ in range(20):
            await asyncio.sleep(0)
        assert await tasks.query("x") is WORKING and not waiting.done()
        storage.gate.set()
        assert await waiting is SUCCESS
        assert [r[0] for r in await storage.load()] == ["W", "S"]
        await tasks.close()
        assert storage.closed == 1

    run_checked(loop, main())


@pytest.mark.parametrize("stored", [True, False], ids=["stored", "not stored"])
def test_a_task_cancelled_while_its_success_is_stored_ends_as_the_storage_says(loop, stored):
    async def main():
        storage = Gated()
        tasks = await TaskRecorder.open(storage)
        storage.gate.clear()
        await tasks.launch("x", nothing)
        (task,) = [t for t in asyncio.all_tasks() if t.get_name() == "x"]
        await asyncio.sleep(0)  # its one step: nothing() returned, the success is being stored
        assert task.cancel()
        for _ in range(20):
            await asyncio.sleep(0)
        assert not task.done() and tasks.query_quick("x") is WORKING  # the cancellation waits for the storage
        if not stored:
            storage.error = OSError("the disk is gone")
        storage.gate.set()
        assert await tasks.wait("x") is (SUCCESS if stored else FAILED)
        await asyncio.wait((task,))
        assert task.cancelled()
        if not stored:
            assert tasks.info("x").error.startswith("the success could not be stored")
        with contextlib.suppress(NotStored):
            await tasks.close()

    run_checked(loop, main())


def test_replay_after_a_crash(loop):
    async def main():
        storage = Gated()
        tasks = await TaskRecorder.open(storage)
        await tasks.launch("done", nothing)
        await tasks.wait("done")
        await tasks.launch("failed", fail)
        await tasks.wait("failed")
        storage.saved.clear()
        await tasks.launch("interrupted", asyncio.sleep, 60)
        await storage.saved.wait()  # its WORKING record is stored
        storage.gate.clear()
        await tasks.launch("unrecorded", asyncio.sleep, 60)  # its WORKING record never is
        records = await storage.load()  # what a crash now leaves

        again = await TaskRecorder.open(MemoryStorage(records))
        assert again.query_quick("done") is SUCCESS
        assert again.query_quick("failed") is FAILED and again.info("failed").error == "ValueError: it went wrong"
        assert again.query_quick("interrupted") is FAILED  # never WORKING after a restart
        assert again.info("interrupted").error == INTERRUPTED
        assert again.query_quick("unrecorded") is NOT_FOUND
        assert again.ids(WORKING) == []
        assert await again.launch("interrupted", nothing) is Launch.STARTED
        assert await again.wait("interrupted") is SUCCESS and again.info("interrupted").attempts == 2
        assert await again.launch("done", nothing) is Launch.ALREADY_SUCCEEDED
        await again.close()
        storage.gate.set()
        await tasks.close(cancel=True)

    run_checked(loop, main())


def test_durable_revoke(loop, tmp_path):
    async def main():
        async with TaskRecorder.open(JournalStorage(tmp_path / "tasks")) as tasks:
            await tasks.launch(1, nothing)
            await tasks.wait(1)
            first = asyncio.ensure_future(tasks.revoke(1))
            second = asyncio.ensure_future(tasks.revoke(1))
            await asyncio.sleep(0)  # both revokes started
            launch = tasks.launch(1, nothing)  # waits for the revoke being stored
            assert tasks.query_quick(1) is SUCCESS  # until the revoke is stored
            assert sorted([await first, await second]) == [False, True]
            assert await launch is Launch.STARTED
            assert await tasks.wait(1) is SUCCESS
            assert await tasks.revoke(1) is True
        async with TaskRecorder.open(JournalStorage(tmp_path / "tasks")) as tasks:
            assert tasks.query_quick(1) is NOT_FOUND

    run_checked(loop, main())


def test_a_failed_storage_stops_launches_and_revokes(loop):
    async def main():
        storage = Gated()
        tasks = await TaskRecorder.open(storage)
        await tasks.launch("ok", nothing)
        await tasks.wait("ok")
        storage.error = StorageBroken("fsync failed")
        await tasks.launch("x", nothing)
        assert await tasks.wait("x") is FAILED  # its success could not be stored
        assert "could not be stored" in tasks.info("x").error
        with pytest.raises(RecorderError, match="storage failed"):
            tasks.launch("y", nothing)
        with pytest.raises(RecorderError):
            await tasks.revoke("ok")
        assert tasks.query_quick("ok") is SUCCESS
        with pytest.raises(NotStored):
            await tasks.close()

    run_checked(loop, main())


def test_a_revoke_that_cannot_be_stored_leaves_the_success(loop):
    async def main():
        storage = Gated()
        tasks = await TaskRecorder.open(storage)
        await tasks.launch("x", nothing)
        await tasks.wait("x")
        storage.error = StorageBroken("fsync failed")
        with pytest.raises(NotStored):
            await tasks.revoke("x")
        assert await tasks.query("x") is SUCCESS
        with pytest.raises(NotStored):
            await tasks.close()

    run_checked(loop, main())


def test_compaction_bounds_the_storage(loop, tmp_path):
    path = tmp_path / "tasks"

    async def main():
        storage = Gated()
        async with TaskRecorder.open(storage, compact_min=20) as tasks:
            for round_ in range(200):
                await tasks.launch("kept", fail if round_ % 2 else nothing)
                await tasks.wait("kept")
                await tasks.revoke("kept")
                await tasks.launch(f"id{round_ % 5}", fail)
                await tasks.wait(f"id{round_ % 5}")
            live = len(tasks.ids(SUCCESS)) + len(tasks.ids(FAILED))
            states = {i: tasks.info(i) for i in tasks.ids(SUCCESS) + tasks.ids(FAILED)}
        assert len(storage) <= 2 * live + 20 + 5  # 1000+ records were saved
        again = await TaskRecorder.open(MemoryStorage(await storage.load()))
        assert {i: again.info(i) for i in again.ids(SUCCESS) + again.ids(FAILED)} == states
        await again.close()

        async with TaskRecorder.open(JournalStorage(path), compact_min=20) as tasks:
            for _ in range(100):  # 300 records, each on disk before the next
                await tasks.launch("again", nothing)
                await tasks.wait("again")
                await tasks.revoke("again")
            await tasks.launch("last", nothing)
        journal = JournalStorage(path)
        assert replay(await journal.load()) == {"last": ["S", "last", 1, ANY, ANY, None]}
        assert journal.recovery.records < 2 * 1 + 20 + 3
        await journal.close()

    run_checked(loop, main())


def test_records_that_are_not_task_records_are_refused_and_the_storage_closed(loop):
    async def main():
        storage = Gated([{"event": "login"}])
        with pytest.raises(ValueError, match="record 0 is not a TaskRecorder record"):
            await TaskRecorder.open(storage)
        assert storage.closed == 1
        for bad in (["W", 1.5, 1, 0.0, None, None], ["S", "x", 0, 0.0, 1.0, None], ["X", "x"],
                    ["F", {"hex": "zz"}, 1, 0.0, 1.0, None], ["F", "x", 1, 0.0, 1.0, 5]):
            with pytest.raises(ValueError):
                await TaskRecorder.open(MemoryStorage([bad]))

    run_checked(loop, main())
