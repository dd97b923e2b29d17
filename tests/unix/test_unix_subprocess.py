"""Subprocesses watched through the ring: pidfd + poll, no thread per child, nothing left behind."""
import asyncio
import os
import signal
import sys
import threading

from helpers import open_fds

import ringloop


def _children_of_this_process():
    """Live and zombie children, from the kernel's per-thread lists."""
    pids = set()
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/children") as f:
            pids.update(int(p) for p in f.read().split())
    return pids


def test_200_short_lived_subprocesses_leave_no_fd_or_zombie():
    before = open_fds()
    threads = threading.active_count()
    assert not _children_of_this_process()

    async def one(i):
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", f"echo {i}; exit {i % 7}",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        return int(out), proc.returncode

    async def main():
        peak = 0
        results = []
        for start in range(0, 200, 25):
            batch = [asyncio.ensure_future(one(i)) for i in range(start, start + 25)]
            await asyncio.sleep(0)
            peak = max(peak, threading.active_count())
            results += await asyncio.gather(*batch)
        return results, peak

    results, peak = ringloop.run(main())
    assert results == [(i, i % 7) for i in range(200)]
    assert peak == threads  # no thread per child (nor an executor)
    assert not _children_of_this_process()
    assert open_fds() == before


def test_pidfd_released_when_child_exits(loop):
    async def main():
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
        watches = list(loop._children)
        assert len(watches) == 1 and watches[0].pidfd >= 0
        assert await proc.wait() == 0
        assert watches[0].pidfd == -1 and not loop._children

    loop.run_until_complete(main())


def test_kill_terminate_and_signal_returncodes(loop):
    async def main():
        codes = []
        for action in ("kill", "terminate", "send_signal"):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "import sys; sys.stdin.read()", stdin=asyncio.subprocess.PIPE
            )
            if action == "send_signal":
                proc.send_signal(signal.SIGUSR1)
            else:
                getattr(proc, action)()
            codes.append(await proc.wait())
        return codes

    assert loop.run_until_complete(main()) == [-signal.SIGKILL, -signal.SIGTERM, -signal.SIGUSR1]


def test_cancelled_wait_leaves_exit_observable(loop):
    async def main():
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(60)")
        waiter = asyncio.ensure_future(proc.wait())
        await asyncio.sleep(0)
        waiter.cancel()
        proc.kill()
        return await proc.wait()

    assert loop.run_until_complete(main()) == -signal.SIGKILL


def test_status_kept_when_popen_reaped_first(loop):
    """The Popen object reaped the child before the ring saw it exit: its status is used."""

    async def main():
        transport, _ = await loop.subprocess_exec(asyncio.SubprocessProtocol, sys.executable, "-c", "exit(5)")
        transport.get_extra_info("subprocess").wait()
        await transport._wait()
        code = transport.get_returncode()
        transport.close()
        return code

    assert loop.run_until_complete(main()) == 5


def test_loop_close_releases_pidfds_of_running_children():
    loop = ringloop.new_event_loop()
    before = open_fds()

    async def main():
        return await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(60)")

    proc = loop.run_until_complete(main())
    loop.close()
    popen = proc._transport.get_extra_info("subprocess")
    popen.kill()
    popen.wait()
    proc._transport.close()  # the child is reaped already: nothing to kill
    assert open_fds() <= before


def test_child_reaped_elsewhere_reports_255(loop, caplog):
    """Someone else's waitpid took the status (as FastChildWatcher would): the stock loop's 255."""

    async def main():
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "exit(3)")
        os.waitpid(proc.pid, 0)
        return await asyncio.wait_for(proc.wait(), 10)

    assert loop.run_until_complete(main()) == 255
    assert "reaped elsewhere" in caplog.text
