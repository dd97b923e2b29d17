"""Second degree: Supervisor trees with OTP's strategies, ordering, intensity and child API."""
import asyncio

import pytest

from ringloop.supervise import Child, ChildCounts, Restart, Supervisor, SupervisorGaveUp, notify_ready


class Log:
    """Children that record their starts and stops, and crash on demand."""

    def __init__(self):
        self.events = []
        self.crash = {}
        self.up = {}

    def child(self, name, **options):
        self.crash[name] = asyncio.Event()
        self.up[name] = asyncio.Event()

        async def run():
            self.events.append(f"start {name}")
            self.up[name].set()
            try:
                await self.crash[name].wait()
            except asyncio.CancelledError:
                self.events.append(f"stop {name}")
                self.up[name].clear()
                raise
            self.crash[name].clear()
            self.up[name].clear()
            raise RuntimeError(f"{name} crashed")

        return Child(name, run, **options)

    async def crash_and_wait(self, name):
        """Crash ``name`` and return once it is up again."""
        self.events.clear()
        self.crash[name].set()
        await asyncio.sleep(0)
        await self.up[name].wait()
        await asyncio.sleep(0)


def started(tree):
    return [info.name for info in tree.which_children() if info.task is not None]


def test_children_start_in_order_and_stop_in_reverse(run, others):
    async def main():
        log = Log()
        tree = Supervisor([log.child("a"), log.child("b"), log.child("c")])
        async with tree:
            assert log.events == ["start a", "start b", "start c"]
            assert started(tree) == ["a", "b", "c"]
            log.events.clear()
        assert log.events == ["stop c", "stop b", "stop a"]
        assert not others()

    run(main())


def test_a_child_that_notifies_readiness_holds_back_the_next(run):
    async def main():
        log = []
        proceed = asyncio.Event()

        async def slow_db():
            log.append("db connecting")
            await proceed.wait()
            notify_ready()
            notify_ready()  # later calls do nothing
            log.append("db ready")
            await asyncio.Event().wait()

        async def cache():
            log.append("cache started")
            await asyncio.Event().wait()

        tree = Supervisor([Child("db", slow_db, notify_ready=True), Child("cache", cache)])
        starting = asyncio.create_task(tree.start())
        for _ in range(5):
            await asyncio.sleep(0)
        assert log == ["db connecting"] and not starting.done()
        proceed.set()
        await starting
        assert log == ["db connecting", "db ready", "cache started"]
        await tree.shutdown()

    run(main())


def test_notify_ready_outside_such_a_child_is_an_error(run):
    async def main():
        with pytest.raises(RuntimeError, match="notify_ready=True"):
            notify_ready()
        errors = []

        async def plain():
            try:
                notify_ready()
            except RuntimeError as error:
                errors.append(error)
            await asyncio.Event().wait()

        async with Supervisor([Child("plain", plain)]):
            await asyncio.sleep(0)
        assert errors

    run(main())


def test_one_for_one_restarts_only_the_child_that_ended(run):
    async def main():
        log = Log()
        tree = Supervisor([log.child("a"), log.child("b"), log.child("c")], strategy="one_for_one")
        async with tree:
            await log.crash_and_wait("b")
            assert log.events == ["start b"]

    run(main())


def test_one_for_all_restarts_everyone_stopping_in_reverse_first(run):
    async def main():
        log = Log()
        tree = Supervisor([log.child("a"), log.child("b"), log.child("c")], strategy="one_for_all")
        async with tree:
            await log.crash_and_wait("b")
            await log.up["c"].wait()
            assert log.events == ["stop c", "stop a", "start a", "start b", "start c"]

    run(main())


def test_rest_for_one_restarts_the_child_and_those_started_after_it(run):
    async def main():
        log = Log()
        tree = Supervisor([log.child("a"), log.child("b"), log.child("c"), log.child("d")],
                          strategy="rest_for_one")
        async with tree:
            await log.crash_and_wait("b")
            await log.up["d"].wait()
            assert log.events == ["stop d", "stop c", "start b", "start c", "start d"]

    run(main())


def test_transient_and_temporary_children_follow_otp(run):
    async def main():
        async def returns():
            return "done"

        async def crashes():
            await asyncio.sleep(0)  # started, then crashes
            raise ValueError("once")

        tree = Supervisor([Child("transient", returns, restart=Restart.TRANSIENT),
                           Child("temporary", crashes, restart="temporary")])
        async with tree:
            await asyncio.sleep(0.01)
            # The transient child returned: kept, not restarted. The temporary one is forgotten.
            assert [(i.name, i.task) for i in tree.which_children()] == [("transient", None)]
        outcomes = await tree.shutdown()
        assert outcomes["transient"].result == "done" and outcomes["temporary"].kind == "failed"

    run(main())


def test_exceeding_the_intensity_stops_the_tree_and_raises_from_async_with(run, others):
    async def main():
        log = Log()
        tree = Supervisor([log.child("a"), log.child("b")], max_restarts=2, period=60)
        with pytest.raises(SupervisorGaveUp) as raised:
            async with tree:
                for _ in range(2):
                    await log.crash_and_wait("b")
                log.events.clear()
                log.crash["b"].set()
                await asyncio.Event().wait()  # cancelled when the tree gives up
        assert log.events == ["stop a"]
        assert [str(e) for e in raised.value.errors] == ["b crashed"] * 3
        assert raised.value.name == "supervisor"
        assert not others()
        with pytest.raises(SupervisorGaveUp):
            await tree.shutdown()

    run(main())


def test_a_child_failing_to_start_stops_the_started_ones(run, others):
    async def main():
        log = Log()

        async def broken():
            raise OSError("cannot bind")

        tree = Supervisor([log.child("a"), Child("broken", broken), log.child("c")])
        with pytest.raises(SupervisorGaveUp, match="child 'broken' failed to start") as raised:
            await tree.start()
        assert isinstance(raised.value.__cause__, OSError)
        assert log.events == ["start a", "stop a"]
        assert not others()

    run(main())


def test_nested_supervisors_escalate_to_their_parent(run, others):
    async def main():
        log = Log()
        inner = Supervisor([log.child("x")], name="inner", max_restarts=0)
        outer = Supervisor([log.child("a"), inner], name="outer", max_restarts=1, period=60)
        with pytest.raises(SupervisorGaveUp) as raised:
            async with outer:
                assert outer.count_children() == ChildCounts(specs=2, active=2, supervisors=1, workers=1)
                # The inner tree gives up at once; the outer restarts it (its one allowed restart).
                await log.crash_and_wait("x")
                assert log.events == ["start x"]
                log.crash["x"].set()
                await asyncio.Event().wait()
        assert raised.value.name == "outer"
        escalated = raised.value.errors
        assert [type(e) for e in escalated] == [SupervisorGaveUp, SupervisorGaveUp]
        assert escalated[-1].name == "inner" and str(escalated[-1].__cause__) == "x crashed"
        assert not others()

    run(main())


def test_a_child_ignoring_cancellation_is_reported_after_its_own_timeout(run, others):
    async def main():
        loop = asyncio.get_running_loop()
        release = asyncio.Event()
        log = Log()

        async def stubborn():
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                await release.wait()

        tree = Supervisor([log.child("first"), Child("stubborn", stubborn, shutdown=0.1), log.child("last")])
        await tree.start()
        began = loop.time()
        outcomes = await tree.shutdown()
        assert 0.09 <= loop.time() - began < 3
        assert {name: o.kind for name, o in outcomes.items()} == {
            "last": "cancelled", "stubborn": "stuck", "first": "cancelled"}
        # The stop went on past the stuck child, in reverse order.
        assert log.events[-2:] == ["stop last", "stop first"]
        assert others() == {outcomes["stubborn"].task}
        release.set()
        await outcomes["stubborn"].task

    run(main())


def test_the_child_api(run, others):
    async def main():
        log = Log()
        tree = Supervisor([log.child("a")], name="root")
        await tree.start_child(log.child("b", restart=Restart.TRANSIENT))  # not running: spec only
        assert started(tree) == []
        async with tree:
            assert started(tree) == ["a", "b"]
            await tree.start_child(log.child("c"))
            assert started(tree) == ["a", "b", "c"]
            outcome = await tree.terminate_child("b")
            assert outcome.kind == "cancelled" and started(tree) == ["a", "c"]
            assert await tree.terminate_child("b") is None
            assert tree.count_children() == ChildCounts(specs=3, active=2, supervisors=0, workers=3)
            await tree.restart_child("b")
            assert started(tree) == ["a", "b", "c"]
            with pytest.raises(ValueError, match="child 'b' is running"):
                await tree.restart_child("b")
            with pytest.raises(ValueError, match="child 'c' is running"):
                await tree.delete_child("c")
            await tree.terminate_child("c")
            await tree.delete_child("c")
            assert [i.name for i in tree.which_children()] == ["a", "b"]
            with pytest.raises(ValueError, match="already has a child named 'a'"):
                await tree.start_child(log.child("a"))
            with pytest.raises(ValueError, match="no child named 'zzz'"):
                await tree.terminate_child("zzz")
            assert [i.kind for i in tree.which_children()] == ["worker", "worker"]
        with pytest.raises(RuntimeError, match="not running"):
            await tree.restart_child("a")
        assert not others()

    run(main())


def test_a_child_restarted_on_request_keeps_its_place_in_the_stop_order(run):
    async def main():
        log = Log()
        async with Supervisor([log.child("a"), log.child("b"), log.child("c")]) as tree:
            await tree.terminate_child("a")
            await tree.restart_child("a")
            log.events.clear()
        assert log.events == ["stop c", "stop b", "stop a"]

    run(main())


def test_a_child_that_fails_when_started_on_request_is_the_callers_error(run):
    async def main():
        async def broken():
            raise OSError("no")

        async with Supervisor(max_restarts=0) as tree:
            with pytest.raises(OSError):
                await tree.start_child(Child("broken", broken))
            assert tree.which_children() == []
            await asyncio.sleep(0.01)  # its exit is not a crash to restart: no give-up follows

    run(main())


def test_a_temporary_sibling_stopped_by_one_for_all_is_not_restarted(run):
    async def main():
        log = Log()
        tree = Supervisor([log.child("a"), log.child("t", restart=Restart.TEMPORARY)], strategy="one_for_all")
        async with tree:
            await log.crash_and_wait("a")
            assert log.events == ["stop t", "start a"]
            assert [i.name for i in tree.which_children()] == ["a"]

    run(main())


def test_starting_twice_and_scope(run):
    async def main():
        log = Log()
        tree = Supervisor([log.child("a")])

        async def body():
            with pytest.raises(RuntimeError, match="runs"):
                await tree.start()
            return started(tree)

        assert await tree.scope(body()) == ["a"]
        # stopped, so it starts again
        assert await tree.scope(body()) == ["a"]

    run(main())


@pytest.mark.parametrize("make, error, words", [
    (lambda: Supervisor([object()]), TypeError, "child must be a Child or a Supervisor"),
    (lambda: Supervisor(Child("a", print)), TypeError, "children must be an iterable"),
    (lambda: Supervisor(strategy="one_for_some"), ValueError, "strategy must be one of"),
    (lambda: Supervisor(max_restarts=-1), ValueError, "max_restarts must be at least 0"),
    (lambda: Supervisor(period=-2), ValueError, "period"),
    (lambda: Supervisor(shutdown=-2), ValueError, "shutdown"),
    (lambda: Supervisor(name=3), TypeError, "name must be a str"),
    (lambda: Supervisor([Child("a", print), Child("a", print)]), ValueError, "already has a child named 'a'"),
    (lambda: Child("a", 3), TypeError, "start must be callable"),
    (lambda: Child("a", print, restart=None), ValueError, "restart must be"),
    (lambda: Child("a", print, shutdown="1"), TypeError, "shutdown must be a number"),
    (lambda: Child("a", print, notify_ready=1), TypeError, "notify_ready must be a bool"),
])
def test_bad_arguments_are_refused_by_name(make, error, words):
    with pytest.raises(error, match=words):
        make()


def test_a_child_cancelled_before_its_first_step_failed_to_start(run):
    async def main():
        loop = asyncio.get_running_loop()

        def cancel_child():
            for task in asyncio.all_tasks():
                if task.get_name() == "tree/never-ran":
                    task.cancel()

        # Runs after the manager's first step created the child task, before the child's.
        loop.call_soon(loop.call_soon, cancel_child)
        tree = Supervisor([Child("never-ran", asyncio.Event().wait)], name="tree")
        with pytest.raises(SupervisorGaveUp, match="child 'never-ran' failed to start") as raised:
            await tree.start()
        assert isinstance(raised.value.__cause__, asyncio.CancelledError)

    run(main(), timeout=5)
