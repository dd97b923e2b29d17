"""First degree: Group restarts its workers by policy, gives up past its intensity, and stops cleanly."""
import asyncio

import pytest

from ringloop.supervise import Group, GroupStats, Restart, SupervisorGaveUp


def forever():
    return asyncio.Event().wait()


def counts(group):
    stats = group.stats()
    return stats.started, stats.restarts, stats.failures, stats.completed, stats.running


def test_permanent_restarts_after_a_return_and_after_a_crash(run):
    async def main():
        runs = 0
        third = asyncio.Event()

        async def worker():
            nonlocal runs
            runs += 1
            if runs == 1:
                return "done"
            if runs == 2:
                raise ValueError("boom")
            third.set()
            await forever()

        group = Group(worker, max_restarts=5)
        async with group:
            await third.wait()
            assert counts(group) == (3, 2, 1, 1, 1)

    run(main())


def test_transient_restarts_only_after_a_failure_and_keeps_the_normal_exit(run):
    async def main():
        runs = 0

        async def worker():
            nonlocal runs
            runs += 1
            if runs == 1:
                raise ValueError("boom")
            return "finished"

        group = Group(worker, restart=Restart.TRANSIENT)
        await group.start()
        async for stats in group.watch():
            if stats.completed:
                break
        outcomes = await group.shutdown()
        assert counts(group) == (2, 1, 1, 1, 0)
        assert [(o.kind, o.result) for o in outcomes] == [("returned", "finished")]

    run(main())


def test_temporary_never_restarts_and_its_crash_does_not_fail_the_scope(run):
    async def main():
        crashed = asyncio.Event()

        async def worker():
            crashed.set()
            raise KeyError("once")

        async def body():
            await crashed.wait()
            await asyncio.sleep(0)  # let the group handle the exit
            return "body result"

        group = Group(worker, size=2, restart="temporary")
        assert await group.scope(body()) == "body result"
        assert counts(group) == (2, 0, 2, 0, 0)
        outcomes = await group.shutdown()
        assert [o.kind for o in outcomes] == ["failed", "failed"]
        assert all(isinstance(o.error, KeyError) for o in outcomes)

    run(main())


def test_a_worker_cancelled_by_another_task_failed(run, others):
    async def main():
        started = []

        async def worker():
            started.append(asyncio.current_task())
            await forever()

        group = Group(worker, restart=Restart.TRANSIENT)
        async with group:
            await asyncio.sleep(0)
            started[0].cancel()
            async for stats in group.watch():
                if stats.restarts:
                    break
            await asyncio.sleep(0)
            assert len(started) == 2 and counts(group) == (2, 1, 1, 0, 1)

    run(main())


def test_a_worker_whose_call_raises_fails_like_any_other(run):
    def not_a_coroutine_function():
        raise RuntimeError("raised by the call itself")

    async def main():
        group = Group(not_a_coroutine_function, restart=Restart.TEMPORARY)
        await group.start()
        async for stats in group.watch():
            if stats.failures:
                break
        (outcome,) = await group.shutdown()
        assert outcome.kind == "failed" and "call itself" in str(outcome.error)

    run(main())


def test_more_than_max_restarts_in_period_gives_up_with_the_last_errors(run, others):
    async def main():
        runs = 0
        body_cancelled = False

        async def worker():
            nonlocal runs
            runs += 1
            raise ValueError(runs)

        group = Group(worker, max_restarts=3, period=60.0)
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(SupervisorGaveUp) as raised:
            async with group:
                try:
                    await forever()
                except asyncio.CancelledError:
                    body_cancelled = True
                    raise
        assert body_cancelled and loop.time() - began < 5  # cancelled by the group, at once
        gave_up = raised.value
        assert [e.args[0] for e in gave_up.errors] == [1, 2, 3, 4]
        assert gave_up.__cause__ is gave_up.errors[-1]
        assert "more than 3 restarts in 60 s" in str(gave_up)
        assert counts(group) == (4, 3, 4, 0, 0)
        assert [o.kind for o in gave_up.outcomes] == ["failed"]
        assert not others()
        # shutdown() keeps saying so until the group is started again
        with pytest.raises(SupervisorGaveUp):
            await group.shutdown()

    run(main())


def test_giving_up_stops_the_other_workers_and_scope_cancels_main(run, others):
    async def main():
        cancelled = []

        async def steady():
            try:
                await forever()
            except asyncio.CancelledError:
                cancelled.append("main")
                raise

        crashes = 0

        async def worker():
            nonlocal crashes
            crashes += 1
            if crashes == 1:  # the first worker stays up until the group gives up
                try:
                    await forever()
                except asyncio.CancelledError:
                    cancelled.append("worker")
                    raise
            raise OSError("down")

        group = Group(worker, size=2, max_restarts=0)
        with pytest.raises(SupervisorGaveUp) as raised:
            await group.scope(steady())
        assert sorted(cancelled) == ["main", "worker"]
        assert [o.kind for o in raised.value.outcomes] == ["cancelled", "failed"]
        assert not others()

    run(main())


def test_explicit_shutdown_raises_gave_up(run):
    async def main():
        async def worker():
            raise ValueError("always")

        group = Group(worker, max_restarts=1)
        await group.start()
        async for stats in group.watch():
            if stats.failures == 2:
                break
        with pytest.raises(RuntimeError, match="down after giving up"):
            group.upscale(1)
        with pytest.raises(SupervisorGaveUp) as raised:
            await group.shutdown()
        assert len(raised.value.errors) == 2

    run(main())


def test_restarts_spread_wider_than_the_period_never_give_up(run):
    async def main():
        async def worker():
            raise ValueError("again")

        # One restart allowed per 0.02 s; the backoff keeps them 0.05 s apart.
        group = Group(worker, max_restarts=1, period=0.02, backoff=(0.05, 0.05))
        await group.start()
        async for stats in group.watch():
            if stats.restarts >= 4:
                break
        assert await group.shutdown()

    run(main())


def test_backoff_doubles_up_to_its_maximum(run):
    async def main():
        loop = asyncio.get_running_loop()
        starts = []

        async def worker():
            starts.append(loop.time())
            raise ValueError("crash")

        group = Group(worker, max_restarts=100, backoff=(0.02, 0.08))
        await group.start()
        async for stats in group.watch():
            if stats.started >= 7:
                break
        await group.shutdown()
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        for gap, expected in zip(gaps, [0.02, 0.04, 0.08, 0.08, 0.08, 0.08]):
            assert gap >= expected - 0.005, gaps
        # Without the maximum the last would be 1.28 s.
        assert gaps[5] < 0.6, gaps

    run(main())


def test_backoff_resets_after_a_quiet_period(run):
    async def main():
        loop = asyncio.get_running_loop()
        runs = 0
        crashed_at = 0.0
        gap = None

        async def worker():
            nonlocal runs, crashed_at, gap
            runs += 1
            if runs == 6:
                gap = loop.time() - crashed_at
            if runs == 5:
                await asyncio.sleep(0.2)  # longer than period: the next restart is a first one again
            crashed_at = loop.time()
            raise ValueError(runs)

        group = Group(worker, max_restarts=100, period=0.15, backoff=(0.02, 10.0))
        await group.start()
        async for stats in group.watch():
            if stats.started == 6:
                break
        await group.shutdown()
        # Delays so far 0.02, 0.04, 0.08, 0.16: without the reset this one would be 0.32 s.
        assert 0.015 <= gap < 0.2

    run(main())


def test_spawn_interval_spaces_every_spawn(run):
    async def main():
        loop = asyncio.get_running_loop()
        starts = []
        first_run = True

        async def worker():
            nonlocal first_run
            starts.append(loop.time())
            if first_run:
                first_run = False
                raise ValueError("restart me")
            await forever()

        group = Group(worker, size=3, spawn_interval=0.05)
        async with group:
            async for stats in group.watch():
                if stats.started == 4:
                    break
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert len(gaps) == 3 and min(gaps) >= 0.045, gaps

    run(main())


def test_scope_returns_mains_result_and_stops_the_workers(run, others):
    async def main():
        running = asyncio.Event()

        async def worker():
            running.set()
            await forever()

        async def body():
            await running.wait()
            return 42

        group = Group(worker, size=3)
        assert await group.scope(body()) == 42
        assert [o.kind for o in await group.shutdown()] == ["cancelled"] * 3
        assert not others()

    run(main())


def test_scope_propagates_mains_error_after_stopping_the_workers(run, others):
    async def main():
        async def body():
            raise LookupError("from main")

        group = Group(forever, size=2)
        with pytest.raises(LookupError):
            await group.scope(body())
        assert not others()
        with pytest.raises(TypeError, match="main must be awaitable"):
            await group.scope(42)

    run(main())


def test_a_shut_down_group_starts_again_with_fresh_workers(run):
    async def main():
        started = 0
        up = asyncio.Event()

        async def worker():
            nonlocal started
            started += 1
            up.set()
            await forever()

        group = Group(worker, size=2)
        for _ in range(2):
            up.clear()
            async with group:
                await up.wait()
                assert group.stats().running == 2
        assert started == 4

        with pytest.raises(RuntimeError, match="running"):
            async with group:
                await group.start()

    run(main())


def test_upscale_and_downscale(run):
    async def main():
        group = Group(forever, size=1)
        group.upscale(1)  # not running: takes effect at start
        async with group:
            assert group.stats().running == 2
            group.upscale(2)
            assert group.size == 4 and group.stats().running == 4
            removed = await group.downscale(3)
            assert [o.kind for o in removed] == ["cancelled"] * 3
            assert [o.name for o in removed] == ["forever-1", "forever-2", "forever-3"]
            assert group.size == 1 and group.stats().running == 1
            with pytest.raises(ValueError, match="cannot remove 2 workers from a group of 1"):
                await group.downscale(2)
        assert await group.downscale(1) == [] and group.size == 0

    run(main())


def test_watch_skips_to_the_latest_snapshot_and_ends_after_shutdown(run):
    async def main():
        group = Group(forever, size=1)
        await group.start()
        seen = []

        async def reader():
            async for stats in group.watch():
                seen.append(stats)

        watcher = asyncio.create_task(reader())
        await asyncio.sleep(0)
        group.upscale(5)  # five spawns in one go: the reader wakes once, to the last
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await group.shutdown()
        await watcher
        # Five spawns happened between the first two snapshots, and six exits during shutdown.
        assert [s.running for s in seen[:2]] == [1, 6] and seen[1].started == 6
        assert seen[-1].running == 0 and len(seen) <= 4
        assert isinstance(seen[-1], GroupStats) and seen[-1].iterations == group.stats().iterations

    run(main())


def test_shutdown_reports_a_worker_that_ignores_cancellation_and_does_not_wait_for_it(run, others):
    async def main():
        loop = asyncio.get_running_loop()
        release = asyncio.Event()
        count = 0

        async def worker():
            nonlocal count
            count += 1
            if count == 2:
                try:
                    await forever()
                except asyncio.CancelledError:
                    await release.wait()  # ignores the cancellation until released
                    return "late"
            await forever()

        group = Group(worker, size=3)
        await group.start()
        await asyncio.sleep(0)
        began = loop.time()
        outcomes = await group.shutdown(timeout=0.1)
        assert 0.09 <= loop.time() - began < 3
        assert [o.kind for o in outcomes] == ["cancelled", "stuck", "cancelled"]
        stuck = outcomes[1].task
        assert others() == {stuck}
        release.set()
        assert await stuck == "late"

    run(main())


def test_shutdown_cancels_pending_restarts(run, others):
    async def main():
        async def worker():
            raise ValueError("crash")

        group = Group(worker, max_restarts=10, backoff=(0.05, 0.05))
        await group.start()
        async for stats in group.watch():
            if stats.failures:
                break
        (outcome,) = await group.shutdown()
        assert outcome.kind == "failed"
        await asyncio.sleep(0.1)  # past the backoff: the restart timer must be gone
        assert group.stats().started == 1 and not others()

    run(main())


def test_concurrent_shutdowns_share_one_stop(run):
    async def main():
        group = Group(forever, size=2)
        await group.start()
        first, second = await asyncio.gather(group.shutdown(), group.shutdown())
        assert first == second and len(first) == 2
        assert await group.shutdown() == first  # a stopped group reports its last outcomes

    run(main())


def test_cancelling_the_block_stops_the_workers_and_propagates(run, others):
    async def main():
        entered = asyncio.Event()

        async def user():
            async with Group(forever, size=2):
                entered.set()
                await forever()

        task = asyncio.create_task(user())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not others()

    run(main())


def test_a_cancelled_shutdown_still_finishes_its_stop(run, others):
    async def main():
        release = asyncio.Event()

        async def slow_to_stop():
            try:
                await forever()
            finally:
                await release.wait()

        group = Group(slow_to_stop)
        await group.start()
        await asyncio.sleep(0)
        stopper = asyncio.create_task(group.shutdown(timeout=10))
        await asyncio.sleep(0.01)
        stopper.cancel()
        await asyncio.sleep(0.01)
        assert not stopper.done()  # still waiting for the worker, as promised
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await stopper
        assert not others() and group.stats().running == 0

    run(main())


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(worker=42), TypeError, "worker must be callable"),
    (dict(size=-1), ValueError, "size must be at least 0"),
    (dict(size=2.0), TypeError, "size must be an int"),
    (dict(restart="sometimes"), ValueError, "restart must be a Restart"),
    (dict(max_restarts=True), TypeError, "max_restarts must be an int"),
    (dict(period=0), ValueError, "period must be a finite positive"),
    (dict(period=float("inf")), ValueError, "period must be a finite"),
    (dict(backoff=0.1), TypeError, "backoff must be None or a pair"),
    (dict(backoff=(0.5, 0.1)), ValueError, "exceeds the maximum"),
    (dict(backoff=(0, 1)), ValueError, "backoff\\[0\\]"),
    (dict(spawn_interval=-1), ValueError, "spawn_interval"),
    (dict(shutdown_timeout="5"), TypeError, "shutdown_timeout must be a number"),
    (dict(name=""), ValueError, "name must not be empty"),
])
def test_bad_arguments_are_refused_by_name(kwargs, error, words):
    kwargs = {"worker": forever, **kwargs}
    with pytest.raises(error, match=words):
        Group(kwargs.pop("worker"), **kwargs)


def test_bad_scaling_and_timeouts_are_refused(run):
    async def main():
        group = Group(forever)
        with pytest.raises(ValueError, match="n must be at least 1"):
            group.upscale(0)
        with pytest.raises(TypeError, match="n must be an int"):
            await group.downscale("1")
        with pytest.raises(ValueError, match="timeout"):
            await group.shutdown(timeout=-1)

    run(main())


def test_a_worker_may_shut_its_own_group_down(run, others):
    async def main():
        done = asyncio.Event()

        async def worker():
            if asyncio.current_task().get_name() == "self-stopping-0":
                await asyncio.sleep(0)
                try:
                    await group.shutdown(timeout=10)  # stops the others, not waiting 10 s for itself
                finally:
                    done.set()  # ...and is cancelled, being one of the group's workers
            await forever()

        group = Group(worker, size=2, name="self-stopping")
        loop = asyncio.get_running_loop()
        began = loop.time()
        await group.start()
        await done.wait()
        assert loop.time() - began < 5
        await asyncio.sleep(0)
        assert not others()

    run(main())


def test_a_worker_cleaning_up_after_a_give_up_is_not_cancelled_twice(run):
    async def main():
        cleaned = asyncio.Event()

        async def tidy():
            try:
                await forever()
            except asyncio.CancelledError:
                await asyncio.sleep(0.01)  # clean-up that awaits
                await asyncio.sleep(0.01)
                cleaned.set()
                raise

        async def crashing():
            await asyncio.sleep(0)
            raise ValueError("crash")

        workers = iter([tidy, crashing, crashing])
        group = Group(lambda: next(workers)(), size=2, max_restarts=1)
        with pytest.raises(SupervisorGaveUp) as raised:
            async with group:
                await forever()
        assert cleaned.is_set()
        assert [o.kind for o in raised.value.outcomes] == ["cancelled", "failed"]

    run(main())
