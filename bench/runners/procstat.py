"""What a server process costs: CPU time from /proc, and syscalls counted by ``perf stat``."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

SYSCALL_EVENT = "raw_syscalls:sys_enter"
ATTACH_TIMEOUT = 5.0


def cpu_seconds(pid: int, proc: str = "/proc") -> float:
    """User + system CPU seconds of process ``pid`` so far, all its threads included.

    Fields 14 and 15 (utime, stime) of ``/proc/<pid>/stat``: for a process
    they add up every thread, live or exited, in clock ticks.
    """
    with open(f"{proc}/{pid}/stat", encoding="ascii") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15, counted from field 3
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def perf_problem() -> str | None:
    """None when ``perf stat -e raw_syscalls:sys_enter`` works here, else why it does not."""
    perf = shutil.which("perf")
    if perf is None:
        return "perf is not installed"
    try:
        done = subprocess.run([perf, "stat", "-x,", "-e", SYSCALL_EVENT, "--", "true"],
                              capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "perf stat did not finish"
    first = done.stderr.strip().splitlines()[:1]
    if done.returncode != 0 or not first or not first[0].split(",")[0].isdigit():
        return f"perf stat -e {SYSCALL_EVENT} is not permitted or not supported: {done.stderr.strip()[-200:]}"
    return None


def _perf_fds_open(pid: int) -> bool:
    try:
        return any("perf_event" in os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


class SyscallCounter:
    """``perf stat -p <pid>`` counting the target's syscalls from :meth:`start` to :meth:`stop`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._out = Path(tempfile.mkstemp(prefix="bench-perf-", suffix=".csv")[1])
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Attach to the process; returns once perf's counters are open (so no syscall is missed)."""
        self._proc = subprocess.Popen(
            ["perf", "stat", "-x,", "-e", SYSCALL_EVENT, "-o", str(self._out), "-p", str(self.pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + ATTACH_TIMEOUT
        # perf opens its perf_event fds as it attaches: seeing one is seeing it count.
        while not _perf_fds_open(self._proc.pid) and time.monotonic() < deadline:
            time.sleep(0.005)

    def stop(self) -> int | None:
        """Stop counting; the number of syscalls the process entered, or None if perf reported none."""
        if self._proc is None:
            return None
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        try:
            return parse_perf_csv(self._out.read_text())
        finally:
            self._out.unlink(missing_ok=True)


def parse_perf_csv(text: str) -> int | None:
    """The ``raw_syscalls:sys_enter`` count in ``perf stat -x,`` output, or None when absent or not counted."""
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2] == SYSCALL_EVENT:
            return int(fields[0]) if fields[0].isdigit() else None
    return None
