"""Entry points and option validation."""
import asyncio
import os
import subprocess
import sys
import warnings

import pytest

import ringloop
from ringloop._ring.options import RingOptions
from ringloop._ring.refusal import SystemFacts, explain_setup_error
from ringloop._ring.ring import Ring


async def running_loop_type():
    return type(asyncio.get_running_loop())


def test_run_returns_the_result_on_a_ringloop_loop():
    assert ringloop.run(running_loop_type()) is ringloop.Loop


def test_run_passes_debug_and_options():
    async def main():
        loop = asyncio.get_running_loop()
        return loop.get_debug(), loop.ring_setup_flags

    debug, flags = ringloop.run(main(), debug=True, sqpoll=True, sq_idle_ms=5)
    assert debug is True
    assert "SQPOLL" in flags


def test_runner_with_loop_factory():
    with asyncio.Runner(loop_factory=ringloop.new_event_loop) as runner:
        assert runner.run(running_loop_type()) is ringloop.Loop
        assert isinstance(runner.get_loop(), asyncio.AbstractEventLoop)


def test_new_event_loop_with_options():
    loop = ringloop.new_event_loop(entries=64, single_issuer=False)
    try:
        assert "SINGLE_ISSUER" not in loop.ring_setup_flags
        assert loop.run_until_complete(asyncio.sleep(0, 1)) == 1
    finally:
        loop.close()


@pytest.mark.skipif(ringloop.EventLoopPolicy is None, reason="this Python has no event loop policies")
def test_policy_and_install():
    old = asyncio.get_event_loop_policy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ringloop.install()
            assert isinstance(asyncio.get_event_loop_policy(), ringloop.EventLoopPolicy)
        assert asyncio.run(running_loop_type()) is ringloop.Loop
        loop = asyncio.new_event_loop()
        assert isinstance(loop, ringloop.Loop)
        loop.close()
        with pytest.raises(ValueError, match="entries"):
            ringloop.EventLoopPolicy(entries=-1)
    finally:
        asyncio.set_event_loop_policy(old)


@pytest.mark.parametrize(
    "options, error, name",
    [
        ({"entries": 0}, ValueError, "entries"),
        ({"entries": 1 << 20}, ValueError, "entries"),
        ({"entries": "64"}, TypeError, "entries"),
        ({"entries": True}, TypeError, "entries"),
        ({"sqpoll": "yes"}, TypeError, "sqpoll"),
        ({"sqpoll": True, "sq_cpu": 100000}, ValueError, "sq_cpu"),
        ({"sqpoll": True, "sq_cpu": 1.5}, TypeError, "sq_cpu"),
        ({"sq_cpu": 0}, ValueError, "sq_cpu"),
        ({"sqpoll": True, "sq_idle_ms": 0}, ValueError, "sq_idle_ms"),
        ({"sq_idle_ms": 10}, ValueError, "sq_idle_ms"),
        ({"single_issuer": 1}, TypeError, "single_issuer"),
        ({"attach_to": 3}, TypeError, "attach_to"),
        ({"sq_cpu": 100000}, ValueError, "sq_cpu.*sqpoll"),
        ({"bogus": 1}, TypeError, "bogus"),
    ],
)
def test_bad_options_are_rejected_by_name(options, error, name):
    with pytest.raises(error, match=name):
        ringloop.new_event_loop(**options)
    coro = running_loop_type()
    with pytest.raises(error, match=name):
        ringloop.run(coro, **options)
    coro.close()


def test_attach_to_shares_the_sqpoll_thread():
    first = ringloop.new_event_loop(sqpoll=True, sq_cpu=0)
    second = ringloop.new_event_loop(sqpoll=True, attach_to=first)
    try:
        assert "ATTACH_WQ" in second.ring_setup_flags
        assert second.run_until_complete(second.ring_nop()) == 0
    finally:
        second.close()
        first.close()
    closed = ringloop.new_event_loop()
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        ringloop.new_event_loop(sqpoll=True, attach_to=closed)
    sq = ringloop.new_event_loop(sqpoll=True)
    try:
        with pytest.raises(ValueError, match="attach_to requires sqpoll"):
            ringloop.new_event_loop(attach_to=sq)
    finally:
        sq.close()


def test_ring_failure_is_a_runtime_error_with_a_reason():
    r, w = os.pipe()
    try:
        with pytest.raises(RuntimeError, match="ringloop cannot use io_uring: .*rejected"):
            Ring.open(RingOptions(sqpoll=True, attach_fd=r))  # a pipe is not a ring
    finally:
        os.close(r)
        os.close(w)


def test_setup_errors_are_explained():
    import errno

    plain = SystemFacts(kernel="6.1.0", io_uring_disabled="0", io_uring_group=None, seccomp_mode=0)
    assert "kernel 6.1.0 has no io_uring" in explain_setup_error(errno.ENOSYS, None, plain)
    assert "locked memory" in explain_setup_error(errno.ENOMEM, None, plain)
    assert explain_setup_error(errno.EINVAL, None, plain).endswith("rejected the ring parameters")
    assert "SQPOLL is not allowed" in explain_setup_error(errno.EPERM, RingOptions(sqpoll=True), plain)
    assert "io_uring_setup failed" in explain_setup_error(errno.EBADF, None, plain)
    disabled = SystemFacts(kernel="6.6", io_uring_disabled="2", io_uring_group=None, seccomp_mode=0)
    assert "disabled on this machine" in explain_setup_error(errno.EPERM, None, disabled)
    restricted = SystemFacts(kernel="6.6", io_uring_disabled="1", io_uring_group="1001", seccomp_mode=0)
    assert "restricted to root and group 1001" in explain_setup_error(errno.EPERM, None, restricted)
    filtered = SystemFacts(kernel="6.6", io_uring_disabled=None, io_uring_group=None, seccomp_mode=2)
    assert "seccomp filter" in explain_setup_error(errno.ENOSYS, None, filtered)


def test_system_facts_read_this_machine():
    facts = SystemFacts.read()
    assert facts.kernel == os.uname().release
    assert facts.seccomp_mode in (0, 1, 2)


def test_info_command_reports_the_kernel():
    out = subprocess.run(
        [sys.executable, "-m", "ringloop", "info", "--json"], capture_output=True, text=True, check=True
    ).stdout
    import json

    info = json.loads(out)
    assert info["kernel"] == os.uname().release
    assert info["available"] is True
    assert {"NOP", "READ", "ASYNC_CANCEL"} <= set(info["opcodes"])
    assert set(info["setup_flags"]) >= {"SQPOLL", "DEFER_TASKRUN"}
    text = subprocess.run([sys.executable, "-m", "ringloop", "info"], capture_output=True, text=True, check=True).stdout
    assert "io_uring:            available" in text
