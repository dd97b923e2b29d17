"""Every conformance test must run on ringloop: a test that makes any other event loop fails.

CPython's suites build their loops in several ways (a loop factory, the
policy, asyncio.run); this fixture watches BaseEventLoop.__init__ for the
length of each test, so none of those ways can slip a stock loop in unnoticed.
"""
from asyncio import base_events

import pytest

import ringloop


@pytest.fixture(autouse=True)
def only_ringloop_loops(monkeypatch):
    made = []
    original = base_events.BaseEventLoop.__init__

    def watched_init(self, *args, **kwargs):
        made.append(type(self))
        original(self, *args, **kwargs)

    monkeypatch.setattr(base_events.BaseEventLoop, "__init__", watched_init)
    yield made
    others = sorted({f"{cls.__module__}.{cls.__qualname__}" for cls in made if not issubclass(cls, ringloop.Loop)})
    assert not others, f"this conformance test ran on another loop: {others}"
