"""Builds ringloop's C layer (csrc/) as the cffi API-mode module ``ringloop._ring._ffi``.

setuptools runs this through ``cffi_modules`` during ``pip install``; the module
links against the system liburing (Debian's liburing-dev 2.3 is the floor).
"""
from cffi import FFI

# Relative paths: setuptools runs this from the project root and refuses absolute ones.
CSRC = "csrc"

# The system types csrc/ringloop.h uses, as far as Python touches them.
SYSTEM_TYPES = """
typedef unsigned int socklen_t;
struct iovec { void *iov_base; size_t iov_len; };
struct msghdr {
    void *msg_name; socklen_t msg_namelen;
    struct iovec *msg_iov; size_t msg_iovlen;
    void *msg_control; size_t msg_controllen;
    int msg_flags;
    ...;
};
struct sockaddr { ...; };
struct __kernel_timespec { int64_t tv_sec; long long tv_nsec; };
"""

# Constants from liburing's headers that the Python layer reads.
CONSTANTS = """
#define IORING_SETUP_IOPOLL ...
#define IORING_SETUP_SQPOLL ...
#define IORING_SETUP_SQ_AFF ...
#define IORING_SETUP_CQSIZE ...
#define IORING_SETUP_CLAMP ...
#define IORING_SETUP_ATTACH_WQ ...
#define IORING_SETUP_R_DISABLED ...
#define IORING_SETUP_SUBMIT_ALL ...
#define IORING_SETUP_COOP_TASKRUN ...
#define IORING_SETUP_TASKRUN_FLAG ...
#define IORING_SETUP_SINGLE_ISSUER ...
#define IORING_SETUP_DEFER_TASKRUN ...
#define IORING_CQE_F_MORE ...
#define IORING_CQE_F_BUFFER ...
#define IORING_CQE_BUFFER_SHIFT ...
#define IORING_FSYNC_DATASYNC ...
#define RL_SILENT_TAG ...
"""


def header_declarations() -> str:
    """csrc/ringloop.h without its preprocessor lines: the one source of the C API."""
    with open(f"{CSRC}/ringloop.h") as header:
        return "".join(line for line in header if not line.lstrip().startswith("#"))


ffibuilder = FFI()
ffibuilder.cdef(SYSTEM_TYPES + header_declarations() + CONSTANTS)
ffibuilder.set_source(
    "ringloop._ring._ffi",
    '#include "ringloop.h"\n#include <liburing.h>\n',
    sources=[f"{CSRC}/ring.c", f"{CSRC}/prep.c", f"{CSRC}/bufring.c"],
    include_dirs=[CSRC],
    depends=[f"{CSRC}/ringloop.h", f"{CSRC}/ring_internal.h"],
    libraries=["uring"],
    extra_compile_args=["-O2", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir="build", verbose=True)
