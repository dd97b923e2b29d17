import os

import pytest

import ringloop


def open_fds() -> set[int]:
    """The file descriptors this process has open right now."""
    return {int(name) for name in os.listdir("/proc/self/fd")}


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
