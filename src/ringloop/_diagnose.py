"""Why io_uring can or cannot be used here, and what this kernel offers.

Shared by the loop (a clear RuntimeError instead of a bare errno when the ring
cannot be created) and by ``python -m ringloop info``.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

from ._options import RingOptions
from ._ring import SETUP_FLAG_NAMES, Ring, probe_opcodes, try_setup

# Kernel ABI numbering of IORING_OP_*; newer kernels append.
OPCODE_NAMES = (
    "NOP READV WRITEV FSYNC READ_FIXED WRITE_FIXED POLL_ADD POLL_REMOVE SYNC_FILE_RANGE "
    "SENDMSG RECVMSG TIMEOUT TIMEOUT_REMOVE ACCEPT ASYNC_CANCEL LINK_TIMEOUT CONNECT "
    "FALLOCATE OPENAT CLOSE FILES_UPDATE STATX READ WRITE FADVISE MADVISE SEND RECV OPENAT2 "
    "EPOLL_CTL SPLICE PROVIDE_BUFFERS REMOVE_BUFFERS TEE SHUTDOWN RENAMEAT UNLINKAT MKDIRAT "
    "SYMLINKAT LINKAT MSG_RING FSETXATTR SETXATTR FGETXATTR GETXATTR SOCKET URING_CMD SEND_ZC "
    "SENDMSG_ZC READ_MULTISHOT WAITID FUTEX_WAIT FUTEX_WAKE FUTEX_WAITV FIXED_FD_INSTALL "
    "FTRUNCATE BIND LISTEN RECV_ZC EPOLL_WAIT READV_FIXED WRITEV_FIXED PIPE"
).split()

# Setup flags worth reporting one by one (each tried alone, plus what it needs).
_FLAG_TRIALS = {
    "SQPOLL": ["SQPOLL"],
    "SUBMIT_ALL": ["SUBMIT_ALL"],
    "COOP_TASKRUN": ["COOP_TASKRUN"],
    "TASKRUN_FLAG": ["COOP_TASKRUN", "TASKRUN_FLAG"],
    "SINGLE_ISSUER": ["SINGLE_ISSUER"],
    "DEFER_TASKRUN": ["SINGLE_ISSUER", "DEFER_TASKRUN"],
}
_FLAG_BITS = {name: bit for bit, name in SETUP_FLAG_NAMES.items()}


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _seccomp_mode() -> int:
    status = _read("/proc/self/status") or ""
    for line in status.splitlines():
        if line.startswith("Seccomp:"):
            return int(line.split()[1])
    return 0


def explain_setup_error(err: int, options: RingOptions | None = None) -> str:
    """A sentence saying why io_uring_setup failed with ``err`` on this machine."""
    disabled = _read("/proc/sys/kernel/io_uring_disabled")
    if disabled == "2":
        return "io_uring is disabled on this machine (sysctl kernel.io_uring_disabled=2)"
    if err == errno.EPERM and disabled == "1":
        group = _read("/proc/sys/kernel/io_uring_group") or "?"
        return (
            "io_uring is restricted to root and group "
            f"{group} (sysctl kernel.io_uring_disabled=1), and this process has neither"
        )
    if err in (errno.ENOSYS, errno.EPERM) and _seccomp_mode() == 2:
        return (
            "a seccomp filter (e.g. a container runtime's default profile) blocks "
            f"io_uring_setup ({errno.errorcode.get(err, err)})"
        )
    if err == errno.ENOSYS:
        return f"kernel {os.uname().release} has no io_uring (needs Linux 5.1+ built with CONFIG_IO_URING)"
    if err == errno.EPERM and options is not None and options.sqpoll:
        return "SQPOLL is not allowed for this process (kernels before 5.11 need CAP_SYS_NICE)"
    if err == errno.ENOMEM:
        return "not enough locked memory for the ring (raise `ulimit -l` or use fewer entries)"
    if err == errno.EINVAL:
        asked = f" {options}" if options is not None else ""
        return f"kernel {os.uname().release} rejected the ring parameters{asked}"
    return f"io_uring_setup failed: {os.strerror(err)}"


def open_ring(options: RingOptions) -> Ring:
    """Create the ring ``options`` describe, or raise RuntimeError saying why not."""
    try:
        return Ring(
            options.entries,
            sqpoll=options.sqpoll,
            sq_cpu=options.sq_cpu,
            sq_idle_ms=options.sq_idle_ms,
            attach_fd=options.attach_fd,
            single_issuer=options.single_issuer,
        )
    except OSError as exc:
        raise RuntimeError(f"ringloop cannot use io_uring: {explain_setup_error(exc.errno, options)}") from exc


def collect_info() -> dict:
    """Facts about io_uring on this machine, as a JSON-ready dict."""
    info: dict = {"kernel": os.uname().release, "io_uring_disabled_sysctl": _read("/proc/sys/kernel/io_uring_disabled")}
    err = try_setup(0)
    info["available"] = err == 0
    if err:
        info["reason"] = explain_setup_error(err)
        return info
    ring = open_ring(RingOptions())
    info["default_ring_flags"] = ring.setup_flags
    ring.close()
    known, supported = probe_opcodes()
    info["opcodes_known_to_kernel"] = known
    info["opcodes"] = [OPCODE_NAMES[op] if op < len(OPCODE_NAMES) else f"OP_{op}" for op in supported]
    flags = {}
    for name, needed in _FLAG_TRIALS.items():
        bits = 0
        for part in needed:
            bits |= _FLAG_BITS[part]
        trial = try_setup(bits)
        flags[name] = "yes" if trial == 0 else f"no ({errno.errorcode.get(trial, trial)})"
    info["setup_flags"] = flags
    info["sqpoll_allowed"] = flags["SQPOLL"] == "yes"
    return info
