"""Subprocess transports whose children are watched through the ring.

A child's exit is observed with a pidfd (``os.pidfd_open``) and a one-shot
ring poll for POLLIN on it; when the poll completes the child is reaped with
``waitpid``, unless the Popen object was waited on already (its status is then
used).  No thread per child and no SIGCHLD handler;
asyncio's child watchers are not used.  The child's stdin/stdout/stderr are the
ring pipe transports of :mod:`ringloop._pipes`.
"""
from __future__ import annotations

import os
import select
import subprocess
from asyncio import base_subprocess
from typing import Any

from .._core.base import LoopCore
from .._ring.errors import CANCELED, logger
from .._ring.options import RingOptions

__all__ = ["SubprocessTransport", "ChildWatch", "Subprocesses"]



class SubprocessTransport(base_subprocess.BaseSubprocessTransport):
    """asyncio's BaseSubprocessTransport with the child started by subprocess.Popen."""

    def _start(self, args: Any, shell: bool, stdin: Any, stdout: Any, stderr: Any, bufsize: int, **kwargs: Any) -> None:
        # Looked up on the module at call time, so that subprocess.Popen can be patched.
        self._proc = subprocess.Popen(
            args, shell=shell, stdin=stdin, stdout=stdout, stderr=stderr,
            universal_newlines=False, bufsize=bufsize, **kwargs,
        )


class ChildWatch:
    """Calls ``transport._process_exited(returncode)`` once the child has exited and been reaped."""

    __slots__ = ("loop", "transport", "pidfd", "token")

    def __init__(self, loop: Any, transport: SubprocessTransport) -> None:
        self.loop = loop
        self.transport = transport
        self.token: int | None = None
        try:
            self.pidfd = os.pidfd_open(transport.get_pid())
        except ProcessLookupError:
            # Reaped already (by a waiter outside asyncio): report at once.
            self.pidfd = -1
            loop.call_soon(self._reap)
            return
        self.token = loop._ring.poll_add(self.pidfd, select.POLLIN, self._on_exit)
        loop._children.add(self)

    def _on_exit(self, res: int, flags: int) -> None:
        self.token = None
        if res != CANCELED:  # cancelled: the loop is closing
            self._reap()

    def _reap(self) -> None:
        transport = self.transport
        proc = transport._proc
        returncode = proc.returncode  # set if the Popen was waited on already
        if returncode is None:
            try:
                pid, status = os.waitpid(proc.pid, os.WNOHANG)
            except ChildProcessError:
                # Reaped by someone outside our control (a waitpid(-1)):
                # the stock loop's answer for a status it cannot get.
                logger.warning("child process %s was reaped elsewhere; its exit status is unknown", proc.pid)
                returncode = 255
            else:
                if pid == 0:  # not gone after all: keep watching
                    self.token = self.loop._ring.poll_add(self.pidfd, select.POLLIN, self._on_exit)
                    return
                returncode = os.waitstatus_to_exitcode(status)
        self.close()
        # One loop iteration later, as asyncio's child watchers report: the
        # end of file of the child's pipes, which the kernel signals before
        # its exit, is then seen before wait() returns, as with the stock loop.
        self.loop.call_soon(self._report, returncode)

    def _report(self, returncode: int) -> None:
        if self.transport._returncode is None:
            self.transport._process_exited(returncode)

    def close(self) -> None:
        """Release the pidfd, after cancelling a poll still armed on it.

        A poll still queued would otherwise name a closed number, one the
        kernel may already have given to another file.
        """
        self.loop._children.discard(self)
        if self.token is not None:
            self.loop._ring.cancel(self.token)
            self.token = None
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


class Subprocesses(LoopCore):
    """The loop's _make_subprocess_transport, behind subprocess_exec/subprocess_shell."""

    def __init__(self, options: RingOptions) -> None:
        super().__init__(options)
        self._children: set[ChildWatch] = set()

    async def _make_subprocess_transport(
        self, protocol: Any, args: Any, shell: bool, stdin: Any, stdout: Any, stderr: Any,
        bufsize: int, extra: Any = None, **kwargs: Any,
    ) -> SubprocessTransport:
        waiter = self.create_future()
        transport = SubprocessTransport(
            self, protocol, args, shell, stdin, stdout, stderr, bufsize, waiter=waiter, extra=extra, **kwargs
        )
        ChildWatch(self, transport)
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            transport.close()
            await transport._wait()
            raise
        return transport

    def _close_features(self) -> None:
        self._close_children()
        super()._close_features()

    def _close_children(self) -> None:
        # Children still running keep running; only our pidfds go.
        for watch in list(self._children):
            watch.close()
