"""Builds ringloop's C layer (csrc/) as the cffi API-mode module ``ringloop._ringffi``.

setuptools runs this through ``cffi_modules`` during ``pip install``; the module
links against the system liburing (Debian's liburing-dev 2.3 is the floor).
"""
from cffi import FFI

# Relative paths: setuptools runs this from the project root and refuses absolute ones.
CSRC = "csrc"

CDEF = """
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

typedef struct rl_ring rl_ring;
typedef struct { uint64_t user_data; int32_t res; uint32_t flags; } rl_cqe;
typedef struct {
    unsigned entries; int sqpoll; int sq_cpu; unsigned sq_idle_ms;
    int attach_fd; int single_issuer;
} rl_options;

int rl_ring_open(const rl_options *opts, rl_ring **out);
void rl_ring_close(rl_ring *r);
void rl_ring_free(rl_ring *r);
int rl_ring_fd(rl_ring *r);
unsigned rl_ring_setup_flags(rl_ring *r);
unsigned rl_ring_features(rl_ring *r);
unsigned rl_ring_sq_entries(rl_ring *r);
unsigned rl_ring_cq_entries(rl_ring *r);
int rl_enter(rl_ring *r, int64_t timeout_ns, rl_cqe *out, unsigned max);
unsigned rl_sq_pending(rl_ring *r);
int rl_try_setup(unsigned flags, unsigned entries);
int rl_probe_ops(uint8_t *supported, unsigned n);

int rl_prep_nop(rl_ring *r, uint64_t ud);
int rl_prep_timeout(rl_ring *r, uint64_t ud, struct __kernel_timespec *ts);
int rl_prep_read(rl_ring *r, uint64_t ud, int fd, void *buf, unsigned n, uint64_t off);
int rl_prep_write(rl_ring *r, uint64_t ud, int fd, const void *buf, unsigned n, uint64_t off);
int rl_prep_readv(rl_ring *r, uint64_t ud, int fd, const struct iovec *iov, unsigned cnt, uint64_t off);
int rl_prep_writev(rl_ring *r, uint64_t ud, int fd, const struct iovec *iov, unsigned cnt, uint64_t off);
int rl_prep_recv(rl_ring *r, uint64_t ud, int fd, void *buf, unsigned n, int flags);
int rl_prep_send(rl_ring *r, uint64_t ud, int fd, const void *buf, unsigned n, int flags);
int rl_prep_recvmsg(rl_ring *r, uint64_t ud, int fd, struct msghdr *msg, unsigned flags);
int rl_prep_sendmsg(rl_ring *r, uint64_t ud, int fd, const struct msghdr *msg, unsigned flags);
int rl_prep_accept(rl_ring *r, uint64_t ud, int fd, struct sockaddr *addr, socklen_t *addrlen, int flags, int multishot);
int rl_prep_connect(rl_ring *r, uint64_t ud, int fd, const struct sockaddr *addr, socklen_t addrlen);
int rl_prep_poll_add(rl_ring *r, uint64_t ud, int fd, unsigned mask, int multishot);
int rl_prep_cancel(rl_ring *r, uint64_t ud, uint64_t target, int all);
int rl_prep_close(rl_ring *r, uint64_t ud, int fd);
int rl_prep_openat(rl_ring *r, uint64_t ud, int dfd, const char *path, int flags, unsigned mode);
int rl_prep_statx(rl_ring *r, uint64_t ud, int dfd, const char *path, int flags, unsigned mask, void *statxbuf);
int rl_prep_fsync(rl_ring *r, uint64_t ud, int fd, unsigned flags);
int rl_prep_splice(rl_ring *r, uint64_t ud, int fd_in, int64_t off_in, int fd_out, int64_t off_out, unsigned n, unsigned flags);
int rl_prep_shutdown(rl_ring *r, uint64_t ud, int fd, int how);

typedef struct rl_bufring rl_bufring;
int rl_bufring_open(rl_ring *r, unsigned short bgid, unsigned entries, void *base, unsigned buf_size,
                    rl_bufring **out);
void rl_bufring_recycle(rl_bufring *b, const uint16_t *bids, unsigned n);
void rl_bufring_free(rl_bufring *b);
int rl_prep_recv_multishot(rl_ring *r, uint64_t ud, int fd, unsigned short bgid);

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
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "ringloop._ringffi",
    '#include "ringloop.h"\n#include <liburing.h>\n',
    sources=[f"{CSRC}/ring.c"],
    include_dirs=[CSRC],
    depends=[f"{CSRC}/ringloop.h"],
    libraries=["uring"],
    extra_compile_args=["-O2", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir="build", verbose=True)
