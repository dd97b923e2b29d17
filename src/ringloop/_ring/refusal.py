"""Why the kernel refused to set up a ring: a sentence for the user, not a bare errno.

:func:`explain_setup_error` is a pure function of the error, the options asked
for and :class:`SystemFacts` (read from /proc once, by the caller), so every
branch can be tested with made-up facts.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from .options import RingOptions

__all__ = ["SystemFacts", "explain_setup_error"]


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _seccomp_mode(status: str) -> int:
    for line in status.splitlines():
        if line.startswith("Seccomp:"):
            return int(line.split()[1])
    return 0


@dataclass(frozen=True)
class SystemFacts:
    """What decides whether io_uring may be used here, as read from the running system."""

    kernel: str
    io_uring_disabled: str | None  # sysctl kernel.io_uring_disabled ("0", "1", "2"), None if absent
    io_uring_group: str | None  # sysctl kernel.io_uring_group
    seccomp_mode: int  # 2: a seccomp filter is installed

    @classmethod
    def read(cls) -> SystemFacts:
        """The facts of this machine and process now."""
        return cls(
            kernel=os.uname().release,
            io_uring_disabled=_read("/proc/sys/kernel/io_uring_disabled"),
            io_uring_group=_read("/proc/sys/kernel/io_uring_group"),
            seccomp_mode=_seccomp_mode(_read("/proc/self/status") or ""),
        )


def explain_setup_error(err: int, options: RingOptions | None, facts: SystemFacts) -> str:
    """A sentence saying why io_uring_setup failed with errno ``err`` on a system with ``facts``."""
    if facts.io_uring_disabled == "2":
        return "io_uring is disabled on this machine (sysctl kernel.io_uring_disabled=2)"
    if err == errno.EPERM and facts.io_uring_disabled == "1":
        return (
            "io_uring is restricted to root and group "
            f"{facts.io_uring_group or '?'} (sysctl kernel.io_uring_disabled=1), and this process has neither"
        )
    if err in (errno.ENOSYS, errno.EPERM) and facts.seccomp_mode == 2:
        return (
            "a seccomp filter (e.g. a container runtime's default profile) blocks "
            f"io_uring_setup ({errno.errorcode.get(err, err)})"
        )
    if err == errno.ENOSYS:
        return f"kernel {facts.kernel} has no io_uring (needs Linux 5.1+ built with CONFIG_IO_URING)"
    if err == errno.EPERM and options is not None and options.sqpoll:
        return "SQPOLL is not allowed for this process (kernels before 5.11 need CAP_SYS_NICE)"
    if err == errno.ENOMEM:
        return "not enough locked memory for the ring (raise `ulimit -l` or use fewer entries)"
    if err == errno.EINVAL:
        asked = f" {options}" if options is not None else ""
        return f"kernel {facts.kernel} rejected the ring parameters{asked}"
    return f"io_uring_setup failed: {os.strerror(err)}"
