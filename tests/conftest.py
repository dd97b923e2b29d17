import asyncio
import os

import pytest

import ringloop


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


@pytest.fixture(autouse=True)
def loop_reports_nothing_unexpected(request, monkeypatch):
    """Fail a test whose event loop sent anything to its default exception handler.

    Errors a loop reports (a failed callback, an exception in a completion
    handler, an unclosed transport's error) are only logged by default, so a
    test would pass over them.  A test that provokes them on purpose says so
    with ``@pytest.mark.loop_errors_expected``; CPython's suites
    (tests/conformance) check their own.
    """
    if request.node.get_closest_marker("loop_errors_expected") or "conformance" in request.node.path.parts:
        yield
        return
    reported = []
    original = asyncio.base_events.BaseEventLoop.default_exception_handler

    def recording_handler(self, context):
        reported.append(context.get("message"))
        original(self, context)

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "default_exception_handler", recording_handler)
    yield
    assert not reported, f"the loop reported unexpected errors: {reported}"
