"""What io_uring offers on this machine: the facts behind ``python -m ringloop info``."""
from __future__ import annotations

import errno
from typing import Any

from .options import RingOptions
from .refusal import SystemFacts, explain_setup_error
from .ring import SETUP_FLAG_NAMES, Ring, probe_opcodes, try_setup

__all__ = ["collect_info", "OPCODE_NAMES"]

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


def collect_info() -> dict[str, Any]:
    """Facts about io_uring on this machine, as a JSON-ready dict."""
    facts = SystemFacts.read()
    info: dict[str, Any] = {"kernel": facts.kernel, "io_uring_disabled_sysctl": facts.io_uring_disabled}
    err = try_setup(0)
    info["available"] = err == 0
    if err:
        info["reason"] = explain_setup_error(err, None, facts)
        return info
    ring = Ring.open(RingOptions())
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
