"""LoopGroup: loops in threads sharing one SQPOLL thread, where each thread may run and ran,
loops handing work to each other, and closing without leaks."""
import asyncio
import concurrent.futures
import os
import threading

import pytest
from helpers import open_fds

from ringloop.scheduler import LoopGroup, thread_placements

TIMEOUT = 30.0
CPUS = sorted(os.sched_getaffinity(0))
needs_two_cpus = pytest.mark.skipif(len(CPUS) < 2, reason="needs a CPU to spare for the SQPOLL thread")


@pytest.fixture
def group_of():
    groups = []

    def make(*args, **kwargs):
        groups.append(LoopGroup(*args, **kwargs))
        return groups[-1]

    yield make
    for group in groups:
        group.close(TIMEOUT)


def _sqpoll_threads():
    return {thread.tid: thread for thread in thread_placements() if thread.name.startswith("iou-sqp-")}


async def _executor_thread():
    """Where the calling loop's default executor runs a function: its thread id."""
    return await asyncio.get_running_loop().run_in_executor(None, threading.get_native_id)


@needs_two_cpus
def test_the_loops_share_one_sqpoll_thread_on_a_cpu_no_loop_or_executor_thread_may_use(group_of):
    before = _sqpoll_threads()
    group = group_of(3, sqpoll=True)
    sq_cpu, loop_cpus = CPUS[-1], frozenset(CPUS[:-1])
    assert (group.plan.sqpoll, group.plan.sq_cpus, frozenset(group.plan.loop_cpus)) == (True, (sq_cpu,), loop_cpus)
    assert "SQ_AFF" in group.loops[0].ring_setup_flags
    assert all("ATTACH_WQ" in loop.ring_setup_flags for loop in group.loops[1:])
    executors = [group.submit(i, _executor_thread()).result(TIMEOUT) for i in range(3)]

    threads = {thread.tid: thread for thread in thread_placements()}
    (sqpoll,) = [threads[tid] for tid in set(_sqpoll_threads()) - set(before)]  # one for the whole group
    assert (sqpoll.allowed, sqpoll.cpu) == (frozenset({sq_cpu}), sq_cpu)
    for tid in (*group.native_ids, *executors):
        assert threads[tid].allowed == loop_cpus and threads[tid].cpu in loop_cpus
    assert len(set(group.native_ids)) == 3 and threading.get_native_id() not in group.native_ids


@needs_two_cpus
def test_auto_gives_a_group_sqpoll_only_if_a_cpu_is_left_for_it(group_of):
    before = _sqpoll_threads()
    crowded = group_of(len(CPUS), sqpoll="auto")
    assert not crowded.plan.sqpoll and crowded.plan.reason.endswith("no CPU to spare for a SQPOLL thread "
                                                                     f"({len(CPUS)} loops and 1 SQPOLL thread "
                                                                     f"need {len(CPUS) + 1})")
    assert not set(_sqpoll_threads()) - set(before)  # (those of earlier tests may end meanwhile)
    assert all("SQPOLL" not in loop.ring_setup_flags for loop in crowded.loops)
    roomy = group_of(len(CPUS) - 1, sqpoll="auto")
    assert roomy.plan.sqpoll and roomy.plan.sq_cpus == (CPUS[-1],)


def test_loops_hand_work_to_each_other(group_of):
    group = group_of(2, sqpoll=False)

    async def ping(hops, trail):
        trail.append(group.loops.index(asyncio.get_running_loop()))
        if hops == 0:
            return trail
        other = 1 - trail[-1]
        return await group.call(other, ping(hops - 1, trail))

    trail = group.submit(0, ping(100, [])).result(TIMEOUT)
    assert trail == [0, 1] * 50 + [0]

    async def fan_out():
        """Loop 1 asks every loop, itself included, for its thread and gathers the answers."""
        return await asyncio.gather(*(group.call(i, _where_am_i()) for i in range(len(group))))

    assert group.submit(1, fan_out()).result(TIMEOUT) == list(group.native_ids)


async def _where_am_i():
    return threading.get_native_id()


def test_submit_returns_a_concurrent_future_with_the_result_or_the_error(group_of):
    group = group_of(2, sqpoll=False)

    async def fail():
        raise LookupError("from the loop")

    assert group.submit(1, _where_am_i()).result(TIMEOUT) == group.native_ids[1]
    with pytest.raises(LookupError, match="from the loop"):
        group.submit(0, fail()).result(TIMEOUT)


def test_cancelling_the_future_or_the_caller_cancels_the_task_on_its_loop(group_of):
    group = group_of(2, sqpoll=False)
    started, cancelled = threading.Event(), threading.Event()

    async def forever():
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    future = group.submit(1, forever())
    assert started.wait(TIMEOUT)
    future.cancel()
    assert cancelled.wait(TIMEOUT)

    started.clear()
    cancelled.clear()

    async def caller():
        task = asyncio.ensure_future(group.call(1, forever()))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, TIMEOUT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await asyncio.get_running_loop().run_in_executor(None, cancelled.wait, TIMEOUT)

    assert group.submit(0, caller()).result(TIMEOUT) is True


def test_close_cancels_what_still_runs_and_leaves_no_fd_or_thread():
    fds, threads = open_fds(), threading.active_count()
    group = LoopGroup(2, sqpoll=False)
    started = threading.Event()

    async def forever():
        started.set()
        await asyncio.Event().wait()

    future = group.submit(0, forever())
    assert started.wait(TIMEOUT)
    group.close(TIMEOUT)
    assert future.cancelled()
    assert all(loop.is_closed() for loop in group.loops)
    group.close(TIMEOUT)  # idempotent
    with pytest.raises(RuntimeError, match="ringloop-group is closed"):
        group.submit(0, forever())
    assert threading.active_count() == threads
    assert open_fds() == fds


def test_a_coroutine_refused_by_submit_is_closed_not_left_unawaited(group_of):
    group = group_of(1, sqpoll=False)
    coro = _where_am_i()
    with pytest.raises(ValueError, match=r"index must be in 0..0, got 1"):
        group.submit(1, coro)
    assert coro.cr_frame is None  # closed: it will not warn that it was never awaited


def test_close_from_a_loop_of_the_group_is_refused_and_a_blocked_loop_is_reported(group_of):
    group = group_of(1, sqpoll=False)

    async def close_myself():
        group.close(1.0)

    with pytest.raises(RuntimeError, match="close\\(\\) called from one of its own loops"):
        group.submit(0, close_myself()).result(TIMEOUT)

    release, blocked = threading.Event(), threading.Event()

    async def block():
        blocked.set()
        release.wait(TIMEOUT)  # blocks the loop's thread on purpose

    group.submit(0, block())
    assert blocked.wait(TIMEOUT)
    with pytest.raises(TimeoutError, match="ringloop-group-0 still running after 0.2 s"):
        group.close(0.2)
    release.set()
    group.close(TIMEOUT)


@pytest.mark.parametrize("args, kwargs, error, message", [
    ((0,), {}, ValueError, "threads must be at least 1, got 0"),
    (("2",), {}, TypeError, "threads must be an int, not str"),
    ((1,), {"sqpoll": "on"}, ValueError, "sqpoll must be True, False or 'auto', got 'on'"),
    ((1,), {"cpus": [4096]}, ValueError, "cpus holds CPU 4096, which this thread may not use"),
    ((1,), {"entries": 0}, ValueError, "entries must be in 1..32768, got 0"),
    ((1,), {"sq_idle_ms": 0}, ValueError, "sq_idle_ms must be at least 1, got 0"),
    ((1,), {"name": ""}, ValueError, "name must not be empty"),
    ((1,), {"start_timeout": 0}, ValueError, "start_timeout must be a finite positive number of seconds"),
])
def test_bad_arguments_are_rejected_by_name(args, kwargs, error, message):
    threads = threading.active_count()
    with pytest.raises(error, match=message):
        LoopGroup(*args, **kwargs)
    assert threading.active_count() == threads


def test_submit_rejects_what_is_not_a_coroutine(group_of):
    group = group_of(1, sqpoll=False)
    with pytest.raises(TypeError, match="coro must be a coroutine, not function"):
        group.submit(0, _where_am_i)
    with pytest.raises(TypeError, match="index must be an int, not str"):
        group.submit("0", _where_am_i())
    assert isinstance(group.submit(0, _where_am_i()), concurrent.futures.Future)
