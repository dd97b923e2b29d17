"""The lean iteration: ringloop's own call_soon, create_task and callback runner behave as stock asyncio's.

Each scenario runs on a stock asyncio loop and on a ringloop loop, and what
a program can observe (exception handler contexts, order, errors, task
fields) must be the same on both.
"""
import asyncio
import contextvars
import re

import pytest

import ringloop

FACTORIES = {"asyncio": asyncio.new_event_loop, "ringloop": ringloop.new_event_loop}


def on_both(scenario):
    """{loop kind: scenario(loop)}, each on a fresh loop closed afterwards."""
    seen = {}
    for kind, factory in FACTORIES.items():
        loop = factory()
        try:
            seen[kind] = scenario(loop)
        finally:
            loop.close()
    return seen


def _bad_callback(arg):
    raise KeyError(arg)


def _callback_error_report(debug):
    def scenario(loop):
        loop.set_debug(debug)
        reports = []
        loop.set_exception_handler(lambda lp, ctx: reports.append(ctx))
        handle = loop.call_soon(_bad_callback, "x")
        loop.call_soon(loop.stop)
        loop.run_forever()
        [ctx] = reports
        traceback = ctx.get("source_traceback")
        return {
            "keys": sorted(ctx),
            "message": ctx["message"],
            "exception": repr(ctx["exception"]),
            "same handle": ctx["handle"] is handle,
            "traceback ends in": traceback[-1].name if traceback else None,
        }
    return scenario


@pytest.mark.loop_errors_expected
@pytest.mark.parametrize("debug", [False, True], ids=["normal", "debug"])
def test_a_failing_callback_is_reported_with_stock_asyncio_context(debug):
    seen = on_both(_callback_error_report(debug))
    assert seen["ringloop"] == seen["asyncio"]
    assert seen["ringloop"]["same handle"]
    assert seen["ringloop"]["message"].startswith("Exception in callback _bad_callback(")


def test_keyboard_interrupt_leaves_the_rest_of_the_iteration_queued():
    def scenario(loop):
        ran = []

        def interrupt():
            raise KeyboardInterrupt

        for i in range(3):
            loop.call_soon(ran.append, i)
        loop.call_soon(interrupt)
        loop.call_soon(ran.append, "after")
        loop.call_soon(ran.append, "cancelled").cancel()
        with pytest.raises(KeyboardInterrupt):
            loop.run_forever()
        stopped_at = list(ran)
        loop.call_soon(loop.stop)
        loop.run_forever()
        return stopped_at, ran
    seen = on_both(scenario)
    assert seen["ringloop"] == seen["asyncio"] == ([0, 1, 2], [0, 1, 2, "after"])


def test_callbacks_run_in_their_contexts_and_in_order_with_tasks():
    var = contextvars.ContextVar("var", default="default")

    def scenario(loop):
        order = []

        async def child(i):
            order.append(("task", i, var.get()))
            await asyncio.sleep(0)
            order.append(("task again", i, var.get()))

        async def main():
            var.set("main")
            ctx = contextvars.copy_context()
            ctx.run(var.set, "given")
            tasks = [loop.create_task(child(0)), loop.create_task(child(1), context=ctx)]
            loop.call_soon(lambda: order.append(("callback", var.get())))
            loop.call_soon(lambda: order.append(("callback in", var.get())), context=ctx)
            await asyncio.gather(*tasks, asyncio.sleep(0))
        loop.run_until_complete(main())
        return order
    seen = on_both(scenario)
    assert seen["ringloop"] == seen["asyncio"]
    assert ("task again", 1, "given") in seen["ringloop"]


def _task_fields(loop, **options):
    async def coro():
        return 7

    task = loop.create_task(coro(), **options)
    traceback = task._source_traceback
    fields = {
        "type": type(task).__name__,
        "name": task.get_name() if "name" in options else None,
        "result": loop.run_until_complete(task),
        "traceback ends in": traceback[-1].name if traceback else None,
    }
    return fields


@pytest.mark.parametrize("debug", [False, True], ids=["normal", "debug"])
def test_create_task_gives_the_same_task(debug):
    def scenario(loop):
        loop.set_debug(debug)
        return [_task_fields(loop), _task_fields(loop, name="named"), _task_fields(loop, name=3)]
    seen = on_both(scenario)
    assert seen["ringloop"] == seen["asyncio"]
    # The traceback of a debug-mode task ends where create_task was called.
    assert seen["ringloop"][0]["traceback ends in"] == ("_task_fields" if debug else None)


@pytest.mark.parametrize("debug", [False, True], ids=["normal", "debug"])
def test_create_task_uses_the_task_factory_and_a_patched_task_class(monkeypatch, debug):
    class MyTask(asyncio.Task):
        pass

    def scenario(loop):
        loop.set_debug(debug)
        made = [_task_fields(loop)]
        with monkeypatch.context() as patch:
            patch.setattr(asyncio.tasks, "Task", MyTask)
            made.append(_task_fields(loop))
        loop.set_task_factory(lambda lp, coro, **kw: MyTask(coro, loop=lp, **kw))
        made.append(_task_fields(loop))
        made.append(_task_fields(loop, name="by factory"))
        return made
    seen = on_both(scenario)
    assert seen["ringloop"] == seen["asyncio"]
    assert [f["type"] for f in seen["ringloop"]] == ["Task", "MyTask", "MyTask", "MyTask"]


def test_create_task_and_call_soon_refuse_a_closed_loop():
    def scenario(loop):
        loop.close()
        errors = []
        coro = asyncio.sleep(0)
        for attempt in (lambda: loop.create_task(coro), lambda: loop.call_soon(print)):
            with pytest.raises(RuntimeError) as caught:
                attempt()
            errors.append(str(caught.value))
        coro.close()
        return errors
    seen = on_both(scenario)
    assert seen["ringloop"] == seen["asyncio"] == ["Event loop is closed"] * 2


def test_create_task_rejects_unknown_options_as_stock_asyncio_does():
    def scenario(loop):
        coro = asyncio.sleep(0)
        try:
            with pytest.raises(TypeError) as caught:
                loop.create_task(coro, no_such_option=True)
        finally:
            coro.close()
        return type(caught.value)
    seen = on_both(scenario)
    assert seen["ringloop"] == seen["asyncio"]


def test_call_soon_handle_fields_match_stock_asyncio():
    def scenario(loop):
        ctx = contextvars.copy_context()
        handle = loop.call_soon(_bad_callback, 1, context=ctx)
        implicit = loop.call_soon(print)
        fields = (repr(handle), handle._args, handle._context is ctx, handle._source_traceback,
                  handle._repr, handle.cancelled(), type(implicit._context).__name__,
                  isinstance(handle, asyncio.Handle), type(handle).__name__)
        handle.cancel()
        implicit.cancel()
        loop.call_soon(loop.stop)
        loop.run_forever()
        return fields, repr(handle), handle.cancelled()
    seen = on_both(scenario)
    assert seen["ringloop"] == seen["asyncio"]


# -- get_debug, time and create_future as C callables; the one-frame timer cancel ----


@pytest.mark.parametrize("debug", [False, True], ids=["normal", "debug"])
def test_get_debug_time_and_create_future_answer_as_stock_asyncio(debug):
    def scenario(loop):
        loop.set_debug(debug)
        seen = [loop.get_debug()]
        loop.set_debug(1)  # set_debug keeps what it is given, and get_debug returns it
        seen.append(loop.get_debug())
        loop.set_debug(debug)
        seen.append(loop.get_debug())
        future = loop.create_future()
        traceback = future._source_traceback
        seen += [type(future) is asyncio.Future, future.get_loop() is loop,
                 traceback[-1].name if traceback else None]
        before, now = loop.time(), loop.time()
        seen.append(before <= now)
        future.cancel()
        return seen
    seen = on_both(scenario)
    assert seen["ringloop"] == seen["asyncio"]
    assert seen["ringloop"][:3] == [debug, 1, debug]


def test_get_debug_follows_set_debug_while_running():
    loop = ringloop.new_event_loop()
    try:
        async def flip():
            seen = [loop.get_debug()]
            loop.set_debug(True)
            seen.append(loop.get_debug())
            seen.append(loop.create_future()._source_traceback is not None)
            loop.set_debug(False)
            seen.append(loop.create_future()._source_traceback)
            return seen
        assert loop.run_until_complete(flip()) == [False, True, True, None]
    finally:
        loop.close()


def test_a_subclass_keeps_its_own_get_debug_time_and_create_future():
    class Custom(ringloop.Loop):
        def get_debug(self):
            return "custom debug"

        def time(self):
            return 42.0

        def create_future(self):
            return "custom future"

    loop = Custom()
    try:
        assert (loop.get_debug(), loop.time(), loop.create_future()) == ("custom debug", 42.0, "custom future")
        loop.set_debug(True)
        loop.set_debug(False)
        assert (loop.get_debug(), loop.time(), loop.create_future()) == ("custom debug", 42.0, "custom future")
    finally:
        loop.close()


def test_futures_schedule_callbacks_through_call_soon_as_the_loop_has_it_now():
    """C futures look call_soon up on the loop per callback: a patch on the instance, then set_debug, still see them."""
    def scenario(loop):
        scheduled = []
        original = loop.call_soon

        def spy(callback, *args, context=None):
            scheduled.append(args)
            return original(callback, *args, context=context)

        future = loop.create_future()
        future.add_done_callback(lambda f: None)
        loop.call_soon = spy
        future.set_result("first")
        loop.set_debug(True)
        loop.set_debug(False)
        second = loop.create_future()
        second.add_done_callback(lambda f: None)
        second.set_result("second")
        loop.call_soon = original
        loop.call_soon(loop.stop)
        loop.run_forever()
        return [tuple(f.result() for f in args) for args in scheduled]
    seen = on_both(scenario)
    assert seen["ringloop"] == seen["asyncio"] == [("first",), ("second",)]


def test_a_subclass_call_soon_receives_what_futures_and_tasks_schedule():
    class Counting(ringloop.Loop):
        scheduled = 0

        def call_soon(self, callback, *args, context=None):
            self.scheduled += 1
            return super().call_soon(callback, *args, context=context)

    async def main():
        await asyncio.sleep(0)

    loop = Counting()
    try:
        loop.run_until_complete(main())
        # the task's first step, its step after sleep(0), and the done-callback
        # that stops run_until_complete
        assert loop.scheduled == 3
    finally:
        loop.close()


@pytest.mark.parametrize("debug", [False, True], ids=["normal", "debug"])
def test_call_at_and_call_later_timers_match_stock_asyncio(debug):
    def scenario(loop):
        loop.set_debug(debug)
        ctx = contextvars.copy_context()
        at = loop.call_at(1e9, _bad_callback, "at", context=ctx)
        later = loop.call_later(1e9, print)
        fields = []
        for timer in (at, later):
            traceback = timer._source_traceback
            fields.append((type(timer).__name__, isinstance(timer, asyncio.TimerHandle), timer._scheduled,
                           timer._args, timer._repr, timer.cancelled(), timer._context is ctx,
                           traceback[-1].name if traceback else None, repr(timer).split(" when=")[0]))
        fields.append(at.when() == 1e9)
        errors = []
        for call in (lambda: loop.call_at(None, print), lambda: loop.call_later(None, print)):
            with pytest.raises(TypeError) as raised:
                call()
            errors.append(str(raised.value))
        at.cancel()
        later.cancel()
        loop.close()
        for call in (lambda: loop.call_at(1e9, print), lambda: loop.call_later(1, print)):
            with pytest.raises(RuntimeError) as raised:
                call()
            errors.append(str(raised.value))
        return fields, errors
    seen = on_both(scenario)
    assert seen["ringloop"] == seen["asyncio"]


@pytest.mark.parametrize("debug", [False, True], ids=["normal", "debug"])
def test_timer_cancel_matches_stock_asyncio(debug):
    def scenario(loop):
        loop.set_debug(debug)
        ran = []
        timers = [loop.call_later(60, ran.append, i) for i in range(3)]
        timers[0].cancel()
        timers[0].cancel()  # twice: counted once
        counted_once = loop._timer_cancelled_count
        loop.call_soon(loop.stop)
        loop.run_forever()
        unscheduled = loop.call_at(loop.time() + 60, ran.append, "x")
        fields = [re.sub(r"when=[\d.]+", "when=T", repr(timers[0])), timers[0].cancelled(), timers[0]._callback, timers[0]._args,
                  isinstance(timers[0], asyncio.TimerHandle), counted_once]
        # A cancelled timer the loop already took off its heap is not counted again.
        timers[1].cancel()
        after_second = loop._timer_cancelled_count
        unscheduled._scheduled = False  # as after the heap dropped it
        unscheduled.cancel()
        fields += [after_second, loop._timer_cancelled_count, ran]
        timers[2].cancel()
        return fields
    seen = on_both(scenario)
    assert seen["ringloop"] == seen["asyncio"]
    assert seen["ringloop"][5] == 1


@pytest.mark.parametrize("debug", [False, True])
def test_call_soon_takes_its_arguments_by_keyword_as_asyncio_does(debug):
    def scenario(loop):
        loop.set_debug(debug)
        ran = []
        var = contextvars.ContextVar("var")
        context = contextvars.copy_context()
        context.run(var.set, "in the given context")
        loop.call_soon(callback=lambda: ran.append(var.get("outside")), context=context)
        loop.call_soon(callback=loop.stop)
        loop.run_forever()
        return ran

    assert on_both(scenario) == {kind: ["in the given context"] for kind in FACTORIES}
