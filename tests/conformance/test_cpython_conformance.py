"""CPython's own asyncio test suite, run on ringloop.

The mixins and test cases come from the interpreter's installed ``test``
package (never copied here).  Event-loop mixins are subclassed with ringloop's
loop factory; suites that create their loops through the policy
(IsolatedAsyncioTestCase, asyncio.new_event_loop) run with ringloop's policy
installed.  Tests for features that later issues build are listed in
NOT_YET, each skipped with the issue that brings it: that list is the
conformance to-do, and it only shrinks.
"""
import asyncio
import unittest
import warnings

import pytest

import ringloop

try:
    from test.test_asyncio import test_events, test_futures2, test_locks, test_queues
    from test.test_asyncio import test_taskgroups, test_tasks, test_threads, test_timeouts, test_waitfor
    from test.test_asyncio import test_subprocess
    from test.test_asyncio import test_buffered_proto, test_sendfile, test_server, test_sock_lowlevel
    from test.test_asyncio import test_ssl, test_sslproto, test_streams
except ImportError as exc:  # e.g. Debian's python3 without libpython3-testsuite
    pytest.skip(f"the interpreter's test.test_asyncio package is not installed ({exc})", allow_module_level=True)

NOT_YET: dict[str, str] = {}


# Tests of another loop's internals, which ringloop does not have.
NOT_APPLICABLE = {
    "test_sendto_blocking": "patches sock.sendto() to raise BlockingIOError; ringloop never calls it (ring sendmsg)",
}


def _skip_not_yet(cls):
    for name, reason in {**NOT_YET, **NOT_APPLICABLE}.items():
        if hasattr(cls, name):
            setattr(cls, name, unittest.skip(reason)(getattr(cls, name)))
    return cls


@_skip_not_yet
class RingloopEventLoopTests(
    test_events.UnixEventLoopTestsMixin, test_events.SubprocessTestsMixin, test_events.test_utils.TestCase
):
    def create_event_loop(self):
        return ringloop.new_event_loop()


class RingloopSubprocessTests(test_subprocess.SubprocessMixin, test_events.test_utils.TestCase):
    """test_subprocess's suite on a ringloop loop, which watches its children itself (pidfds)."""

    def setUp(self):
        super().setUp()
        self.loop = ringloop.new_event_loop()
        self.set_event_loop(self.loop)


@_skip_not_yet
class RingloopSockTests(test_sock_lowlevel.BaseSockTestsMixin, test_events.test_utils.TestCase):
    def create_event_loop(self):
        return ringloop.new_event_loop()


@_skip_not_yet
class RingloopSendfileTests(test_sendfile.SendfileTestsBase, test_events.test_utils.TestCase):
    def create_event_loop(self):
        return ringloop.new_event_loop()


class RingloopBufferedProtocolTests(test_buffered_proto.BufferedProtocolSelectorTests):
    def new_loop(self):
        return ringloop.new_event_loop()


class RingloopStartServerTests(test_server.SelectorStartServerTests):
    def new_loop(self):
        return ringloop.new_event_loop()


class RingloopStartTLSTests(test_sslproto.SelectorStartTLSTests):
    def new_loop(self):
        return ringloop.new_event_loop()


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
    (test_futures2, "CFutureTests"),
    (test_futures2, "PyFutureTests"),
    (test_futures2, "FutureReprTests"),
    (test_streams, "StreamTests"),
    (test_sslproto, "SslProtoHandshakeTests"),
    (test_ssl, "TestSSL"),
    # An asyncio child watcher attached to a ringloop loop (SafeChildWatcher
    # puts a SIGCHLD handler on it) must not disturb it.  FastChildWatcher is
    # left out: it reaps every child with waitpid(-1), taking the exit status
    # of children it did not start.
    (test_subprocess, "SubprocessThreadedWatcherTests"),
    (test_subprocess, "SubprocessSafeWatcherTests"),
    (test_subprocess, "SubprocessPidfdWatcherTests"),
]

if ringloop.EventLoopPolicy is not None:
    for _module, _name in POLICY_SUITES:
        _base = getattr(_module, _name, None)
        if _base is not None:  # suites differ a little between Python versions
            globals()[f"Ringloop{_name}"] = type(f"Ringloop{_name}", (WithRingloopPolicy, _base), {})

    class PolicyIsInForce(WithRingloopPolicy, unittest.IsolatedAsyncioTestCase):
        """Proof that the suites above really run on ringloop."""

        async def test_running_loop_is_ringloop(self):
            self.assertIsInstance(asyncio.get_running_loop(), ringloop.Loop)
