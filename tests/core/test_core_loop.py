"""The loop: asyncio semantics on the ring."""
import asyncio
import concurrent.futures
import logging
import os
import threading

import pytest

import ringloop
from helpers import open_fds


def test_call_soon_runs_in_order(loop):
    order = []
    for i in range(10):
        loop.call_soon(order.append, i)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert order == list(range(10))


def test_call_soon_handles_contexts_and_cancel_in_both_modes(loop):
    import contextvars

    var = contextvars.ContextVar("var", default="outer")
    ctx = contextvars.copy_context()
    ctx.run(var.set, "inner")
    for debug in (False, True):
        loop.set_debug(debug)
        seen = []
        loop.call_soon(lambda: seen.append(var.get()), context=ctx)
        loop.call_soon(lambda: seen.append(var.get()))
        loop.call_soon(seen.append, "cancelled").cancel()
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert seen == ["inner", "outer"]
    with pytest.raises(TypeError):
        loop.call_soon("not callable")  # debug mode checks the callback


def test_timers_fire_in_order_and_not_early(loop):
    fired = []
    start = loop.time()
    for delay in (0.03, 0.01, 0.02, 0.0, 0.01):
        loop.call_later(delay, lambda d=delay: fired.append((d, loop.time())))
    loop.call_later(0.05, loop.stop)
    loop.run_forever()
    assert [d for d, _ in fired] == [0.0, 0.01, 0.01, 0.02, 0.03]
    for delay, when in fired:
        assert when >= start + delay


def test_call_at_and_cancelled_timer(loop):
    fired = []
    handle = loop.call_at(loop.time() + 0.01, fired.append, "cancelled")
    loop.call_at(loop.time() + 0.02, fired.append, "kept")
    handle.cancel()
    loop.call_at(loop.time() + 0.03, loop.stop)
    loop.run_forever()
    assert fired == ["kept"]


def test_sleep_wakes_the_task(loop):
    async def main():
        start = loop.time()
        await asyncio.sleep(0.02)
        return loop.time() - start

    assert loop.run_until_complete(main()) >= 0.02


def test_call_soon_threadsafe_from_many_threads_loses_nothing(loop):
    threads, calls = 8, 1000
    count = 0
    done = asyncio.Event()

    def bump():
        nonlocal count
        count += 1
        if count == threads * calls:
            done.set()

    def worker():
        for _ in range(calls):
            loop.call_soon_threadsafe(bump)

    async def main():
        workers = [threading.Thread(target=worker) for _ in range(threads)]
        for t in workers:
            t.start()
        await asyncio.wait_for(done.wait(), 30)
        for t in workers:
            t.join()

    loop.run_until_complete(main())
    assert count == threads * calls


def test_call_soon_threadsafe_wakes_a_sleeping_loop(loop):
    # The loop waits in the ring with no timer due; only the eventfd wakes it.
    async def main():
        fut = loop.create_future()
        threading.Timer(0.02, loop.call_soon_threadsafe, (fut.set_result, "woken")).start()
        return await fut

    assert loop.run_until_complete(main()) == "woken"


def test_run_until_complete_propagates_exception(loop):
    async def fail():
        raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError, match="boom"):
        loop.run_until_complete(fail())
    assert not loop.is_running()
    assert loop.run_until_complete(asyncio.sleep(0, "still usable")) == "still usable"


def test_stop_and_close_rules(loop):
    async def close_while_running():
        with pytest.raises(RuntimeError, match="running"):
            loop.close()
        coro = asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already running"):
            loop.run_until_complete(coro)
        coro.close()

    loop.run_until_complete(close_while_running())
    loop.stop()  # a stop before running makes the next run_forever return at once
    loop.run_forever()
    loop.close()
    loop.close()  # harmless
    assert loop.is_closed()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon(print)
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="closed"):
        loop.run_until_complete(coro)
    coro.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon_threadsafe(print)
    with pytest.raises(RuntimeError, match="closed"):
        loop.ring_nop()


def test_executor_default_custom_and_shutdown(loop):
    async def main():
        assert await loop.run_in_executor(None, sum, [1, 2, 3]) == 6
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            loop.set_default_executor(pool)
            name = await loop.run_in_executor(None, lambda: threading.current_thread().name)
        assert name != threading.current_thread().name
        await loop.shutdown_default_executor()

    loop.run_until_complete(main())


def test_default_executor_must_be_a_thread_pool(loop):
    import concurrent.futures

    class Pool(concurrent.futures.ProcessPoolExecutor):
        pass

    for executor in (Pool(max_workers=1), object()):
        with pytest.raises(TypeError):
            loop.set_default_executor(executor)


def test_task_factory_and_create_future(loop):
    made = []

    def factory(loop, coro, **kwargs):
        task = asyncio.Task(coro, loop=loop, **kwargs)
        made.append(task)
        return task

    loop.set_task_factory(factory)
    assert loop.get_task_factory() is factory
    fut = loop.create_future()
    loop.call_soon(fut.set_result, 3)

    async def main():
        return await fut

    assert loop.run_until_complete(main()) == 3
    assert len(made) == 1


def test_exception_handler_receives_callback_errors(loop):
    seen = []
    loop.set_exception_handler(lambda lp, ctx: seen.append(ctx["exception"]))

    def bad():
        raise KeyError("cb")

    loop.call_soon(bad)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert isinstance(seen[0], KeyError)


def test_shutdown_asyncgens_finalizes_generators(loop):
    finalized = []

    async def gen():
        try:
            yield 1
            yield 2
        finally:
            finalized.append(True)

    async def main():
        agen = gen()
        await agen.__anext__()
        return agen

    agen = loop.run_until_complete(main())
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert finalized == [True]
    del agen


def test_debug_mode_reports_slow_callbacks_and_foreign_threads(loop, caplog):
    loop.set_debug(True)
    loop.slow_callback_duration = 0.001
    assert loop.get_debug()

    def slow():
        import time

        time.sleep(0.01)

    loop.call_soon(slow)
    loop.call_soon(loop.stop)
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        loop.run_forever()
    assert any("took" in rec.getMessage() for rec in caplog.records)

    async def from_other_thread():
        errors = []

        def call():
            try:
                loop.call_soon(print)
            except RuntimeError as exc:
                errors.append(exc)

        await loop.run_in_executor(None, call)
        return errors

    errors = loop.run_until_complete(from_other_thread())
    assert errors and "thread" in str(errors[0])


def test_ring_ops_as_futures(loop, pipe):
    r, w = pipe

    async def main():
        assert await loop.ring_nop() == 0
        assert await loop.ring_timeout(0.005) is None
        buf = bytearray(5)
        reading = loop.ring_read(r, buf)
        assert await loop.ring_write(w, memoryview(b"hello")) == 5
        assert await reading == 5
        return bytes(buf)

    assert loop.run_until_complete(main()) == b"hello"


def test_ring_op_error_becomes_oserror(loop, pipe):
    async def main():
        await loop.ring_write(pipe[0], b"x")  # the read end of a pipe

    with pytest.raises(OSError) as info:
        loop.run_until_complete(main())
    assert info.value.errno == 9  # EBADF


def test_cancelled_read_task_cancels_the_ring_op(loop, pipe):
    r, w = pipe
    buf = bytearray(4)

    async def main():
        task = asyncio.ensure_future(loop.ring_read(r, buf))
        await asyncio.sleep(0)  # the task queues its read
        loop._ring.submit()  # and the kernel has it: the cancel must be an ASYNC_CANCEL
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The kernel confirms within a few ring round trips; until it has, the
        # buffer stays pinned (exported), after it the buffer is free.
        for _ in range(1000):
            if loop._ring.inflight == 1:  # only the wake-up read remains
                break
            await loop.ring_nop()
        assert loop._ring.inflight == 1
        buf.extend(b"x")  # a resize: raises BufferError while the ring still pins buf
        del buf[-1:]
        os.write(w, b"data")
        return await loop.ring_read(r, buf)

    assert loop.run_until_complete(main()) == 4


def test_ring_op_argument_checks(loop):
    with pytest.raises(TypeError):
        loop.ring_read("3", bytearray(1))
    with pytest.raises(ValueError):
        loop.ring_read(-1, bytearray(1))
    with pytest.raises(TypeError):
        loop.ring_read(0, b"immutable")
    with pytest.raises(TypeError):
        loop.ring_read(0, memoryview(bytearray(4)).toreadonly())
    with pytest.raises(TypeError):
        loop.ring_write(1, "text")
    with pytest.raises(ValueError):
        loop.ring_write(1, b"x", offset=-2)
    with pytest.raises(ValueError):
        loop.ring_timeout(-1)
    with pytest.raises(TypeError):
        loop.ring_timeout("1")
    with pytest.raises(ValueError):
        loop.ring_timeout(float("inf"))
    with pytest.raises(ValueError):
        loop.ring_timeout(float("nan"))


def test_no_fd_left_after_close():
    before = open_fds()
    loop = ringloop.new_event_loop()
    r, w = os.pipe()
    try:
        loop.run_until_complete(asyncio.sleep(0))
        buffers = [bytearray(8) for _ in range(50)]
        for buf in buffers:
            loop.ring_read(r, buf)
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        for buf in buffers:
            buf.extend(b"x")  # close cancelled each read and the kernel confirmed it
    finally:
        os.close(r)
        os.close(w)
    assert open_fds() == before


def test_loop_created_in_one_thread_runs_in_another():
    loop = ringloop.new_event_loop()
    result = []
    thread = threading.Thread(target=lambda: result.append(loop.run_until_complete(asyncio.sleep(0, "ok"))))
    thread.start()
    thread.join()
    assert result == ["ok"]
    # SINGLE_ISSUER bound the ring to that thread: a clear error here.
    with pytest.raises(RuntimeError, match="single_issuer=False"):
        loop.run_until_complete(asyncio.sleep(0.01))
    loop.close()


def test_single_issuer_false_runs_from_several_threads():
    loop = ringloop.new_event_loop(single_issuer=False)
    try:
        assert "SINGLE_ISSUER" not in loop.ring_setup_flags
        out = []
        thread = threading.Thread(target=lambda: out.append(loop.run_until_complete(asyncio.sleep(0.001, 1))))
        thread.start()
        thread.join()
        out.append(loop.run_until_complete(asyncio.sleep(0.001, 2)))
        assert out == [1, 2]
    finally:
        loop.close()


def test_setup_flags_drop_r_disabled_once_the_ring_runs(loop):
    assert "SINGLE_ISSUER" in loop.ring_setup_flags
    assert "R_DISABLED" in loop.ring_setup_flags
    loop.run_until_complete(loop.ring_nop())
    assert "R_DISABLED" not in loop.ring_setup_flags


def test_time_is_monotonic(loop):
    import time

    assert abs(loop.time() - time.monotonic()) < 1
