"""Server processes under test: start one pinned to a CPU, wait until it listens, stop it, say how it ended."""
from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..load.generator import Address

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 15.0


class Unsupported(Exception):
    """The server's loop lacks an API the mode needs; the message is the short reason."""


class ServerFailed(Exception):
    """The server did not start or died; the message says how."""


def python_server_argv(loop: str, mode: str, address: Address) -> list[str]:
    """The command line of the server app serving ``mode`` on ``loop`` at ``address``."""
    return [sys.executable, "-m", "bench.runners.server_app", "--loop", loop, "--mode", mode, *address.flags()]


def _outcome(stdout_rest: str, stderr: str, returncode: int | None) -> Exception:
    for line in stdout_rest.splitlines():
        if line.startswith("UNSUPPORTED "):
            return Unsupported(line.removeprefix("UNSUPPORTED "))
    last = stderr.strip().splitlines()[-1:] or [f"exit status {returncode}"]
    return ServerFailed(last[0][:200])


@dataclass
class Server:
    """A running server process and the address it listens on."""

    proc: subprocess.Popen[str]
    address: Address

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.proc.pid

    def stop(self) -> Exception | None:
        """Kill the server; None if it was still serving, else Unsupported or ServerFailed saying why it ended."""
        alive = self.proc.poll() is None
        if alive:
            self.proc.send_signal(signal.SIGKILL)  # its state is of no further use; no clean-up to wait for
        out, err = self.proc.communicate()
        return None if alive else _outcome(out, err, self.proc.returncode)


def start(argv: Sequence[str], address: Address, cpu: int | None, timeout: float = START_TIMEOUT) -> Server:
    """Start ``argv`` on CPU ``cpu`` and wait for its ``READY <port>`` line.

    Returns the server with its actual address (the port it printed when
    ``address`` asked for port 0).  Raises Unsupported when it printed
    ``UNSUPPORTED <reason>``, ServerFailed when it exited or stayed silent for
    ``timeout`` seconds.
    """
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    if cpu is not None:
        try:
            os.sched_setaffinity(proc.pid, {cpu})  # before it starts serving; threads it starts inherit this
        except ProcessLookupError:
            pass
    line = _first_line(proc, timeout)
    if line.startswith("READY "):
        port = int(line.split()[1])
        return Server(proc, address if address.unix is not None else Address(port=port))
    if proc.poll() is None:
        proc.kill()
    out, err = proc.communicate()
    if not line:
        return_code = proc.returncode
        raise ServerFailed(f"no READY line within {timeout:.0f} s (exit status {return_code}): "
                           f"{err.strip()[-200:]}")
    raise _outcome(line + out, err, proc.returncode)


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first stdout line of ``proc``, or "" if none came within ``timeout`` seconds."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if sel.select(left):
                return proc.stdout.readline().strip()
    return ""
