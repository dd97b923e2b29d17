/* ringloop C layer: ring setup, SQE preparation and one batched submit+harvest call
 * (ring.c, prep.c, bufring.c; ring_internal.h is what they share).
 *
 * Every function returns 0 (or a count) on success and -errno on failure; none of
 * them allocates per operation or keeps policy.  A closed ring answers -EBADF to
 * every call, so a use-after-close is an error instead of a touch of freed memory.
 */
#ifndef RINGLOOP_H
#define RINGLOOP_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/time_types.h>

typedef struct rl_ring rl_ring;

/* One harvested completion; 16 bytes, laid out as Python's struct format "QiI". */
typedef struct {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
} rl_cqe;

typedef struct {
    unsigned entries;       /* SQ size; the kernel rounds it up to a power of two */
    int sqpoll;             /* non-zero: a kernel thread polls the SQ */
    int sq_cpu;             /* CPU for the SQPOLL thread, or -1 */
    int sq_idle_ms;         /* SQPOLL idle time before it sleeps; -1: kernel default */
    int attach_fd;          /* ring whose SQPOLL worker to share (ATTACH_WQ), or -1 */
    int single_issuer;      /* try SINGLE_ISSUER+DEFER_TASKRUN (no SQPOLL only) */
} rl_options;

int rl_ring_open(const rl_options *opts, rl_ring **out);
void rl_ring_close(rl_ring *r);           /* idempotent */
void rl_ring_free(rl_ring *r);            /* closes if needed, frees the handle */
int rl_ring_fd(rl_ring *r);
unsigned rl_ring_setup_flags(rl_ring *r); /* IORING_SETUP_* in force */
unsigned rl_ring_cq_entries(rl_ring *r);

/* Submit what is queued, wait per timeout_ns (<0: until a completion, 0: not at
 * all, >0: at most that long) and copy up to max completions into out (those
 * tagged RL_SILENT_TAG first, see below).
 * Returns the count copied; completions beyond max stay in the ring for the next
 * call (nothing is dropped: the kernel keeps CQ overflow in its backlog). */
int rl_enter(rl_ring *r, int64_t timeout_ns, rl_cqe *out, unsigned max);

/* The user_data bit of a silent send (rl_prep_send_silent).  rl_enter moves the
 * completions that carry it to the front of out, in their order: a failed silent
 * send is handled before any other completion of the same harvest. */
#define RL_SILENT_TAG (1ULL << 62)

/* Turn the queued, not yet submitted SQE tagged ud into a NOP (same tag), so
 * the operation never happens.  1 when found; 0 when already submitted (or
 * under SQPOLL), where only IORING_OP_ASYNC_CANCEL can stop it. */
int rl_unqueue(rl_ring *r, uint64_t ud);

/* Whether the kernel accepts exactly these IORING_SETUP_* flags: 0 or -errno. */
int rl_try_setup(unsigned flags, unsigned entries);

/* Opcodes the running kernel supports: supported[op] = 1 for op < n.
 * Returns the number of opcodes the kernel knows or -errno. */
int rl_probe_ops(uint8_t *supported, unsigned n);

/* SQE preparation: each queues one SQE tagged with user_data (submitting first
 * when the SQ is full) and returns 0, -EBADF (closed) or -EBUSY (SQ stuck full). */
int rl_prep_nop(rl_ring *r, uint64_t ud);
int rl_prep_timeout(rl_ring *r, uint64_t ud, struct __kernel_timespec *ts); /* ts: caller keeps it alive */
int rl_prep_read(rl_ring *r, uint64_t ud, int fd, void *buf, unsigned n, uint64_t off);
int rl_prep_write(rl_ring *r, uint64_t ud, int fd, const void *buf, unsigned n, uint64_t off);
int rl_prep_readv(rl_ring *r, uint64_t ud, int fd, const struct iovec *iov, unsigned cnt, uint64_t off);
int rl_prep_writev(rl_ring *r, uint64_t ud, int fd, const struct iovec *iov, unsigned cnt, uint64_t off);
int rl_prep_recv(rl_ring *r, uint64_t ud, int fd, void *buf, unsigned n, int flags);
int rl_prep_send(rl_ring *r, uint64_t ud, int fd, const void *buf, unsigned n, int flags);
/* A send that posts a completion only when it did not send everything: MSG_DONTWAIT
 * (the kernel never parks it waiting for room, so it is over when the submit that
 * carries it returns) and MSG_WAITALL (a short send is reported as a failure with
 * its count) are added to flags, IOSQE_CQE_SKIP_SUCCESS to the SQE.  ud must carry
 * RL_SILENT_TAG, so that rl_enter hands its completion out ahead of the others.
 * Only for rings without SQPOLL (whose submits are the kernel thread's own), on
 * kernels with DEFER_TASKRUN (6.1+: CQE_SKIP and the send's MSG_WAITALL). */
int rl_prep_send_silent(rl_ring *r, uint64_t ud, int fd, const void *buf, unsigned n, int flags);
int rl_prep_recvmsg(rl_ring *r, uint64_t ud, int fd, struct msghdr *msg, unsigned flags);
int rl_prep_sendmsg(rl_ring *r, uint64_t ud, int fd, const struct msghdr *msg, unsigned flags);
/* A sendmsg linked (IOSQE_IO_LINK) behind the SQE `prev`, queued only if that is still the last SQE
 * queued and unsubmitted, with room after it: 1 if queued, 0 if not (nothing queued). */
int rl_prep_sendmsg_linked(rl_ring *r, uint64_t ud, int fd, const struct msghdr *msg, unsigned flags, uint64_t prev);
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
/* Path and file-space operations (the files layer): each fills one SQE as its
 * *at(2) namesake would be called; paths are NUL-terminated and the caller keeps
 * them alive until the final completion. */
int rl_prep_renameat(rl_ring *r, uint64_t ud, int olddfd, const char *oldpath, int newdfd, const char *newpath, unsigned flags);
int rl_prep_unlinkat(rl_ring *r, uint64_t ud, int dfd, const char *path, int flags);
int rl_prep_mkdirat(rl_ring *r, uint64_t ud, int dfd, const char *path, unsigned mode);
int rl_prep_linkat(rl_ring *r, uint64_t ud, int olddfd, const char *oldpath, int newdfd, const char *newpath, int flags);
int rl_prep_symlinkat(rl_ring *r, uint64_t ud, const char *target, int newdfd, const char *linkpath);
int rl_prep_fallocate(rl_ring *r, uint64_t ud, int fd, int mode, uint64_t off, uint64_t len);
/* IORING_OP_FTRUNCATE exists from Linux 6.9 on, later than liburing 2.3's
 * headers: its opcode is spelled here, for rl_probe_ops look-ups too. */
enum { RL_OP_FTRUNCATE = 55 };
int rl_prep_ftruncate(rl_ring *r, uint64_t ud, int fd, uint64_t len);

/* Fixed files (registered file table slots), for chains whose later operations
 * name a file that an earlier one opens.  rl_register_files_sparse registers an
 * empty table of n slots (once per ring); slots are chosen by the caller. */
int rl_register_files_sparse(rl_ring *r, unsigned n);
/* One linked chain, queued whole (never split across submissions): OPENAT of
 * path into fixed slot `slot` (IOSQE_IO_LINK: if it fails, both reads are
 * cancelled: nothing was opened), a READ of up to n1 bytes into buf and a READ
 * of up to n2 bytes into buf + n1, both from the slot at its file position (the
 * first with IOSQE_IO_HARDLINK: the second follows even a short or failed
 * read).  A second read of 0 bytes is the end of the file, whatever its type.
 * Three completions, tagged ud_open, ud_read1, ud_read2; the slot stays open
 * (close it with rl_prep_close_direct). */
int rl_prep_open_read2(rl_ring *r, uint64_t ud_open, uint64_t ud_read1, uint64_t ud_read2,
                       int dfd, const char *path, int flags, unsigned mode, unsigned slot,
                       void *buf, unsigned n1, unsigned n2);
/* A READ from fixed file `slot` (off -1: at its file position). */
int rl_prep_read_slot(rl_ring *r, uint64_t ud, unsigned slot, void *buf, unsigned n, uint64_t off);
int rl_prep_close_direct(rl_ring *r, uint64_t ud, unsigned slot);

/* Provided buffer ring over caller-owned memory: entries (a power of two)
 * buffers of buf_size bytes at base, group id bgid.  Recycling is batched.
 * The ring owns it: it is freed by rl_ring_free, never on its own. */
typedef struct rl_bufring rl_bufring;
int rl_bufring_open(rl_ring *r, unsigned short bgid, unsigned entries, void *base, unsigned buf_size,
                    rl_bufring **out);
void rl_bufring_recycle(rl_bufring *b, const uint16_t *bids, unsigned n);
/* A multishot recv that takes its buffers from group bgid. */
int rl_prep_recv_multishot(rl_ring *r, uint64_t ud, int fd, unsigned short bgid);

#endif
