import asyncio
import os

import pytest

import ringloop


def open_fds() -> set[int]:
    """The file descriptors this process has open right now."""
    return {int(name) for name in os.listdir("/proc/self/fd")}


def run_checked(loop, coro, timeout=30):
    """Run ``coro`` on ``loop`` within ``timeout`` s; fail if the loop's exception handler saw anything."""
    errors = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    result = loop.run_until_complete(asyncio.wait_for(coro, timeout))
    assert not errors, errors
    return result


@pytest.fixture
def loop():
    loop = ringloop.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass
