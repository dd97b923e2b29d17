"""Forking from a process with a ringloop loop: the child runs a loop of its own."""
import asyncio
import os

import ringloop


async def child_main():
    await asyncio.sleep(0.01)
    return await asyncio.get_running_loop().ring_nop()


async def main():
    loop = asyncio.get_running_loop()
    pid = os.fork()
    if pid == 0:
        # The parent's loop is closed here, and no longer the running loop:
        # the child never touches the parent's ring.
        ok = loop.is_closed() and ringloop.run(child_main()) == 0
        os._exit(0 if ok else 1)
    pidfd = os.pidfd_open(pid)
    exited = loop.create_future()
    loop.add_reader(pidfd, lambda: exited.done() or exited.set_result(None))
    await exited
    loop.remove_reader(pidfd)
    os.close(pidfd)
    status = os.waitpid(pid, 0)[1]
    print("child ran its own loop, exit code", os.waitstatus_to_exitcode(status))
    print("parent loop still works:", await loop.ring_nop() == 0)


ringloop.run(main())
