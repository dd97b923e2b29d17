"""CPython's own asyncio test suite, run on ringloop.

The mixins and test cases come from the running interpreter's ``test``
package (never copied here; `make test` installs it where a distribution
ships it apart).  Event-loop mixins are subclassed with ringloop's loop
factory; suites that create their loops through the policy
(IsolatedAsyncioTestCase, asyncio.new_event_loop, asyncio.run) run with
ringloop's policy installed.  conftest.py fails any test here that makes a
loop other than ringloop's, so every test counted here ran on ringloop.

Nothing is dropped in silence: an upstream suite this interpreter does not
have, and every upstream test skipped here (NOT_YET: a later issue brings it;
NOT_APPLICABLE: it tests another loop's internals), is reported as a skip
with its reason.  docs/conformance.md lists them per Python version.
"""
import asyncio
import sys
import unittest
import warnings

import pytest
from test.test_asyncio import (
    test_buffered_proto,
    test_context,
    test_events,
    test_futures2,
    test_locks,
    test_queues,
    test_sendfile,
    test_server,
    test_sock_lowlevel,
    test_ssl,
    test_sslproto,
    test_streams,
    test_subprocess,
    test_taskgroups,
    test_tasks,
    test_threads,
    test_timeouts,
    test_unix_events,
    test_waitfor,
)

import ringloop

VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"

#: Upstream tests of features a later issue brings, by test name: the conformance to-do.
NOT_YET: dict[str, str] = {}

# Left out on purpose, because they would not run on ringloop (conftest.py
# would fail them): test_events' TestPyGetEventLoop/TestCGetEventLoop install
# their own policies and make stock loops (they test asyncio's policy
# functions), and test_tasks' task suites run on test_utils.TestLoop, a
# fake-clock loop (they test Task, not a loop).

#: Upstream tests of another loop's internals, which ringloop does not have.
NOT_APPLICABLE = {
    "test_sendto_blocking": "patches sock.sendto() to raise BlockingIOError; ringloop never calls it (ring sendmsg)",
}


def _skipping_not_yet(cls: type) -> type:
    for name, reason in {**NOT_YET, **NOT_APPLICABLE}.items():
        if hasattr(cls, name):
            setattr(cls, name, unittest.skip(reason)(getattr(cls, name)))
    return cls


# -- suites whose loop comes from a factory method -------------------------------------


def _ringloop_loop(self):
    return ringloop.new_event_loop()


class _SubprocessOnRingloop:
    """test_subprocess's mixin on a ringloop loop, which watches its children itself (pidfds)."""

    def setUp(self):
        super().setUp()
        self.loop = ringloop.new_event_loop()
        self.set_event_loop(self.loop)


FACTORY_SUITES = [
    # (upstream module, its class names as bases, the method that makes the loop)
    (test_events, ("UnixEventLoopTestsMixin", "SubprocessTestsMixin"), "create_event_loop"),
    (test_sock_lowlevel, ("BaseSockTestsMixin",), "create_event_loop"),
    (test_sendfile, ("SendfileTestsBase",), "create_event_loop"),
    (test_buffered_proto, ("BufferedProtocolSelectorTests",), "new_loop"),
    (test_server, ("SelectorStartServerTests",), "new_loop"),
    (test_sslproto, ("SelectorStartTLSTests",), "new_loop"),
]

# -- suites whose loop comes from the policy --------------------------------------------

POLICY_SUITES = [
    (test_threads, "ToThreadTests"),
    (test_taskgroups, "TestTaskGroup"),
    (test_timeouts, "TimeoutTests"),
    (test_waitfor, "AsyncioWaitForTest"),
    (test_tasks, "RunCoroutineThreadsafeTests"),
    (test_tasks, "SleepTests"),
    (test_tasks, "CompatibilityTests"),
    (test_locks, "LockTests"),
    (test_locks, "EventTests"),
    (test_locks, "ConditionTests"),
    (test_locks, "SemaphoreTests"),
    (test_locks, "BarrierTests"),
    (test_queues, "QueueBasicTests"),
    (test_queues, "QueueGetTests"),
    (test_queues, "QueuePutTests"),
    (test_queues, "LifoQueueTests"),
    (test_queues, "PriorityQueueTests"),
    (test_queues, "QueueJoinTests"),
    (test_queues, "QueueShutdownTests"),
    (test_futures2, "CFutureTests"),
    (test_futures2, "PyFutureTests"),
    (test_futures2, "FutureReprTests"),
    (test_context, "DecimalContextTest"),
    (test_unix_events, "TestFunctional"),
    (test_tasks, "PyCurrentLoopTests"),
    (test_tasks, "CCurrentLoopTests"),
    (test_streams, "StreamTests"),
    (test_sslproto, "SslProtoHandshakeTests"),
    (test_ssl, "TestSSL"),
    # An asyncio child watcher attached to a ringloop loop (SafeChildWatcher
    # puts a SIGCHLD handler on it) must not disturb it.  (Child watchers are
    # gone from Python 3.14; these suites exist up to 3.13.)
    (test_subprocess, "SubprocessThreadedWatcherTests"),
    (test_subprocess, "SubprocessSafeWatcherTests"),
    (test_subprocess, "SubprocessPidfdWatcherTests"),
    (test_subprocess, "SubprocessFastWatcherTests"),
]


class WithRingloopPolicy:
    """Runs a stock test case with asyncio's loops made by ringloop.

    The policy goes in around the whole run, because IsolatedAsyncioTestCase
    makes its loop before setUp.
    """

    def run(self, result=None):
        saved = asyncio.get_event_loop_policy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(ringloop.EventLoopPolicy())
        try:
            return super().run(result)
        finally:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                asyncio.set_event_loop_policy(saved)


def _build_suites() -> tuple[dict[str, type], dict[str, str]]:
    """The test classes to collect (by name), and each upstream suite left out with its reason."""
    classes: dict[str, type] = {}
    missing: dict[str, str] = {}
    for module, base_names, factory in FACTORY_SUITES:
        bases = [getattr(module, name, None) for name in base_names]
        if None in bases:
            missing[f"{module.__name__}.{'+'.join(base_names)}"] = f"not in Python {VERSION}"
            continue
        if factory == "create_event_loop":
            bases.append(test_events.test_utils.TestCase)
        name = f"Ringloop{base_names[0]}"
        classes[name] = _skipping_not_yet(type(name, tuple(bases), {factory: _ringloop_loop}))
    classes["RingloopSubprocessMixin"] = _skipping_not_yet(
        type("RingloopSubprocessMixin",
             (_SubprocessOnRingloop, test_subprocess.SubprocessMixin, test_events.test_utils.TestCase), {})
    )
    if ringloop.EventLoopPolicy is None:
        missing["all policy suites"] = f"Python {VERSION} has no event loop policies"
        return classes, missing
    for module, name in POLICY_SUITES:
        base = getattr(module, name, None)
        if base is None:
            missing[f"{module.__name__}.{name}"] = f"not in Python {VERSION}"
            continue
        classes[f"Ringloop{name}"] = _skipping_not_yet(type(f"Ringloop{name}", (WithRingloopPolicy, base), {}))
    return classes, missing


_CLASSES, MISSING_SUITES = _build_suites()
globals().update(_CLASSES)
del _CLASSES


@pytest.mark.parametrize("suite", sorted(MISSING_SUITES) or ["none"])
def test_upstream_suite_left_out(suite):
    """One skip per upstream suite this interpreter lacks, so none is dropped unreported."""
    if suite == "none":
        return
    pytest.skip(f"{suite}: {MISSING_SUITES[suite]}")


def test_only_ringloop_suites_are_collected():
    """No upstream class (a mixin base, a loop variable) is left where pytest would collect it."""
    upstream = [name for name, value in globals().items()
                if isinstance(value, type) and issubclass(value, unittest.TestCase)
                and not name.startswith("Ringloop") and value is not unittest.TestCase]
    assert upstream == []


if ringloop.EventLoopPolicy is not None:

    class RingloopPolicyIsInForce(WithRingloopPolicy, unittest.IsolatedAsyncioTestCase):
        """Proof that the policy suites really run on ringloop."""

        async def test_running_loop_is_ringloop(self):
            self.assertIsInstance(asyncio.get_running_loop(), ringloop.Loop)
