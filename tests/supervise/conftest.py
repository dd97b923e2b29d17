"""Every supervise test runs on stock asyncio and on ringloop."""
import asyncio

import pytest

import ringloop

LOOPS = {"asyncio": asyncio.new_event_loop, "ringloop": ringloop.new_event_loop}


@pytest.fixture(params=list(LOOPS))
def run(request):
    """Run a coroutine on a fresh loop of each kind, within ``timeout`` seconds.

    Fails if the loop's exception handler was called or if the coroutine left a task
    behind: supervision must clean up after itself.
    """
    async def bounded(coro, timeout):
        async with asyncio.timeout(timeout):
            return await coro

    def runner(coro, timeout=20.0):
        loop = LOOPS[request.param]()
        errors = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        try:
            result = loop.run_until_complete(bounded(coro, timeout))
        finally:
            # Also after a failure, so that the next test does not inherit half-run coroutines.
            left = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.wait(left, timeout=5))
            loop.close()
        assert not left, f"tasks left on the loop: {left}"
        assert not errors, errors
        return result

    return runner


@pytest.fixture
def others():
    """The tasks on the running loop other than the caller."""
    return lambda: {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}
