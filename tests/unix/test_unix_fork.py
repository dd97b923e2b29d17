"""A forked child never touches its parent's ring and can run a loop of its own."""
import asyncio
import os
import signal
import traceback

import pytest

import ringloop


def _child(body):
    """Run ``body()`` in a forked child; returns the child's pid.  The child exits 0 only if body returns True."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if body() else 2
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


async def _exit_code(pid):
    """Wait for a forked child through a pidfd reader on the running loop."""
    loop = asyncio.get_running_loop()
    pidfd = os.pidfd_open(pid)
    exited = loop.create_future()
    loop.add_reader(pidfd, lambda: exited.done() or exited.set_result(None))  # level-triggered
    try:
        await asyncio.wait_for(exited, 30)
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _fresh_loop_works(old_loop):
    async def main():
        assert await asyncio.get_running_loop().ring_nop() == 0
        r, w = os.pipe()
        os.write(w, b"child")
        buf = bytearray(5)
        n = await asyncio.get_running_loop().ring_read(r, buf)
        proc = await asyncio.create_subprocess_exec("/bin/true")
        return n == 5 and buf == b"child" and await proc.wait() == 0

    ok = old_loop.is_closed() and signal.set_wakeup_fd(-1) == -1
    with pytest.raises(RuntimeError):
        old_loop.call_soon(print)
    old_loop.close()  # harmless in the child
    return ringloop.run(main()) and ok


def test_fork_inside_a_running_loop():
    loop = ringloop.new_event_loop()
    r, w = os.pipe()

    async def main():
        loop.add_signal_handler(signal.SIGUSR1, print)
        buf = bytearray(6)
        pending = loop.ring_read(r, buf)  # in flight across the fork
        await asyncio.sleep(0)
        pid = _child(lambda: asyncio._get_running_loop() is None and _fresh_loop_works(loop))
        code = await _exit_code(pid)
        assert not pending.done()  # the child cancelled nothing of ours
        os.write(w, b"parent")
        assert await asyncio.wait_for(pending, 10) == 6
        loop.remove_signal_handler(signal.SIGUSR1)
        return code, bytes(buf)

    try:
        assert loop.run_until_complete(main()) == (0, b"parent")
    finally:
        loop.close()
        os.close(r)
        os.close(w)


def test_fork_with_an_idle_loop():
    loop = ringloop.new_event_loop()
    r, w = os.pipe()
    loop.add_reader(r, print)
    try:
        pid = _child(lambda: _fresh_loop_works(loop))
        loop.remove_reader(r)
        assert loop.run_until_complete(_exit_code(pid)) == 0
        assert loop.run_until_complete(loop.ring_nop()) == 0
    finally:
        loop.close()
        os.close(r)
        os.close(w)


def test_user_at_fork_handlers_still_run():
    loop = ringloop.new_event_loop()
    marks = []
    os.register_at_fork(after_in_child=lambda: marks.append("child"))
    try:
        pid = _child(lambda: marks[-1:] == ["child"] and loop.is_closed())
        assert loop.run_until_complete(_exit_code(pid)) == 0
        assert not loop.is_closed()
    finally:
        loop.close()
