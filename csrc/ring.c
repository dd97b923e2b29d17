/* ringloop C layer.  Small and dumb on purpose: the Python loop owns every policy
 * (which op, which buffer, what a completion means); this file owns the ring's
 * memory and turns one loop iteration into one submit+harvest call. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <liburing.h>

#include "ringloop.h"

struct rl_ring {
    struct io_uring ring;
    unsigned setup_flags;
    int open;
    int enabled;        /* an R_DISABLED ring is enabled by its first submitter */
    int enter_on_peek;  /* completions may need an enter to show up (deferred task work) */
};

#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif

/* Optional flags, most wanted first; the kernel refuses an unknown flag with
 * EINVAL, so setup walks down this list until one combination is accepted. */
static const unsigned no_sqpoll_extras[] = {
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN
        | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_R_DISABLED,
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN
        | IORING_SETUP_R_DISABLED,
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    IORING_SETUP_SUBMIT_ALL,
    0,
};
static const unsigned sqpoll_extras[] = {IORING_SETUP_SUBMIT_ALL, 0};

int rl_ring_open(const rl_options *o, rl_ring **out)
{
    const unsigned *extras;
    size_t n_extras, i;
    unsigned base = IORING_SETUP_CLAMP;
    int ret = -EINVAL;
    rl_ring *r;

    if (!o || !out || o->entries == 0)
        return -EINVAL;
    r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    if (o->sqpoll) {
        base |= IORING_SETUP_SQPOLL;
        if (o->sq_cpu >= 0)
            base |= IORING_SETUP_SQ_AFF;
        extras = sqpoll_extras;
        n_extras = sizeof(sqpoll_extras) / sizeof(*sqpoll_extras);
    } else {
        extras = no_sqpoll_extras;
        n_extras = sizeof(no_sqpoll_extras) / sizeof(*no_sqpoll_extras);
        if (!o->single_issuer) {
            extras += 2;
            n_extras -= 2;
        }
    }
    if (o->attach_fd >= 0)
        base |= IORING_SETUP_ATTACH_WQ;

    for (i = 0; i < n_extras; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        p.flags = base | extras[i];
        p.sq_thread_cpu = o->sq_cpu >= 0 ? (unsigned)o->sq_cpu : 0;
        p.sq_thread_idle = o->sq_idle_ms;
        p.wq_fd = o->attach_fd >= 0 ? (unsigned)o->attach_fd : 0;
        ret = io_uring_queue_init_params(o->entries, &r->ring, &p);
        if (ret != -EINVAL)
            break;
    }
    if (ret < 0) {
        free(r);
        return ret;
    }
    r->setup_flags = r->ring.flags;
    r->open = 1;
    r->enabled = !(r->setup_flags & IORING_SETUP_R_DISABLED);
    r->enter_on_peek = (r->setup_flags & (IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN))
        && !(r->setup_flags & IORING_SETUP_TASKRUN_FLAG);
    *out = r;
    return 0;
}

void rl_ring_close(rl_ring *r)
{
    if (r && r->open) {
        r->open = 0;
        io_uring_queue_exit(&r->ring);
    }
}

void rl_ring_free(rl_ring *r)
{
    rl_ring_close(r);
    free(r);
}

int rl_ring_fd(rl_ring *r) { return r->open ? r->ring.ring_fd : -EBADF; }
unsigned rl_ring_setup_flags(rl_ring *r)
{
    /* R_DISABLED only describes the ring until its first submitter enables it. */
    return r->enabled ? r->setup_flags & ~IORING_SETUP_R_DISABLED : r->setup_flags;
}
unsigned rl_ring_features(rl_ring *r) { return r->open ? r->ring.features : 0; }
unsigned rl_ring_sq_entries(rl_ring *r) { return r->open ? r->ring.sq.ring_entries : 0; }
unsigned rl_ring_cq_entries(rl_ring *r) { return r->open ? r->ring.cq.ring_entries : 0; }
unsigned rl_sq_pending(rl_ring *r) { return r->open ? io_uring_sq_ready(&r->ring) : 0; }

/* The thread that first submits owns a SINGLE_ISSUER ring. */
static int ensure_enabled(rl_ring *r)
{
    int ret;
    if (r->enabled)
        return 0;
    /* liburing 2.3 declares io_uring_enable_rings() but does not export it. */
    ret = io_uring_register(r->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    if (ret < 0)
        return ret;
    r->enabled = 1;
    return 0;
}

static struct io_uring_sqe *get_sqe(rl_ring *r)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (sqe)
        return sqe;
    if (ensure_enabled(r) < 0)
        return NULL;
    /* SQ full: push the queued entries to the kernel and take a fresh slot. */
    io_uring_submit(&r->ring);
    sqe = io_uring_get_sqe(&r->ring);
    /* Under SQPOLL the kernel thread frees slots on its own time; the wait for
     * one can end early (a signal, or the thread dozing off between our wake-up
     * and its check), so retry a bounded number of times, waking it each time. */
    for (int tries = 0; !sqe && (r->setup_flags & IORING_SETUP_SQPOLL) && tries < 1000; tries++) {
        io_uring_submit(&r->ring);
        io_uring_sqring_wait(&r->ring);
        sqe = io_uring_get_sqe(&r->ring);
    }
    return sqe;
}

static int needs_kernel_for_cqes(rl_ring *r)
{
    unsigned kflags = IO_URING_READ_ONCE(*r->ring.sq.kflags);
    return r->enter_on_peek || (kflags & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN));
}

int rl_enter(rl_ring *r, int64_t timeout_ns, rl_cqe *out, unsigned max)
{
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0, n = 0;
    int ret = 0;

    if (!r->open)
        return -EBADF;
    ret = ensure_enabled(r);
    if (ret < 0)
        return ret;

    if (timeout_ns == 0 || io_uring_cq_ready(&r->ring)) {
        /* No sleeping: enter only when the kernel holds completions we cannot
         * see from user space yet, or to submit (which an awake SQPOLL thread
         * does without any syscall: io_uring_submit knows when to skip it). */
        if (needs_kernel_for_cqes(r))
            ret = io_uring_submit_and_get_events(&r->ring);
        else if (io_uring_sq_ready(&r->ring))
            ret = io_uring_submit(&r->ring);
    } else if (timeout_ns < 0) {
        ret = io_uring_submit_and_wait(&r->ring, 1);
    } else {
        struct __kernel_timespec ts;
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        ret = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
    }
    /* ETIME: the wait ran out; EINTR: a signal, so return to let Python run its
     * handler (the caller retries, PEP 475 style); EBUSY/EAGAIN: the kernel wants
     * us to reap first, which is what follows. */
    if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN)
        return ret;

    io_uring_for_each_cqe(&r->ring, head, cqe) {
        if (n == max)
            break;
        seen++;
        if (cqe->user_data == LIBURING_UDATA_TIMEOUT)
            continue; /* liburing's own wait timeout on kernels without EXT_ARG */
        out[n].user_data = cqe->user_data;
        out[n].res = cqe->res;
        out[n].flags = cqe->flags;
        n++;
    }
    io_uring_cq_advance(&r->ring, seen);
    return (int)n;
}

int rl_unqueue(rl_ring *r, uint64_t ud)
{
    struct io_uring_sq *sq = &r->ring.sq;
    unsigned head;

    /* An SQPOLL thread reads the SQ concurrently: no rewriting there. */
    if (!r->open || (r->setup_flags & IORING_SETUP_SQPOLL))
        return 0;
    for (head = sq->sqe_head; head != sq->sqe_tail; head++) {
        struct io_uring_sqe *sqe = &sq->sqes[head & sq->ring_mask];
        if (sqe->user_data == ud) {
            io_uring_prep_nop(sqe); /* keeps user_data: the completion still comes */
            return 1;
        }
    }
    return 0;
}

int rl_try_setup(unsigned flags, unsigned entries)
{
    struct io_uring ring;
    struct io_uring_params p;
    int ret;

    memset(&p, 0, sizeof(p));
    p.flags = flags;
    ret = io_uring_queue_init_params(entries, &ring, &p);
    if (ret < 0)
        return ret;
    io_uring_queue_exit(&ring);
    return 0;
}

int rl_probe_ops(uint8_t *supported, unsigned n)
{
    struct io_uring_probe *probe = io_uring_get_probe();
    unsigned op;
    int last;

    if (!probe)
        return -ENOSYS;
    last = probe->last_op + 1;
    for (op = 0; op < n; op++)
        supported[op] = io_uring_opcode_supported(probe, (int)op) ? 1 : 0;
    io_uring_free_probe(probe);
    return last;
}

/* Shared preamble of every prep helper: a usable ring and a free SQE carrying
 * the caller's token (io_uring_prep_* never touches user_data). */
#define PREP_SQE(r, sqe, ud)          \
    struct io_uring_sqe *sqe;         \
    if (!(r)->open)                   \
        return -EBADF;                \
    sqe = get_sqe(r);                 \
    if (!sqe)                         \
        return -EBUSY;                \
    io_uring_sqe_set_data64(sqe, ud)

int rl_prep_nop(rl_ring *r, uint64_t ud)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_nop(sqe);
    return 0;
}

int rl_prep_timeout(rl_ring *r, uint64_t ud, struct __kernel_timespec *ts)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_timeout(sqe, ts, 0, 0);
    return 0;
}

int rl_prep_read(rl_ring *r, uint64_t ud, int fd, void *buf, unsigned n, uint64_t off)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_read(sqe, fd, buf, n, off);
    return 0;
}

int rl_prep_write(rl_ring *r, uint64_t ud, int fd, const void *buf, unsigned n, uint64_t off)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_write(sqe, fd, buf, n, off);
    return 0;
}

int rl_prep_readv(rl_ring *r, uint64_t ud, int fd, const struct iovec *iov, unsigned cnt, uint64_t off)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_readv(sqe, fd, iov, cnt, off);
    return 0;
}

int rl_prep_writev(rl_ring *r, uint64_t ud, int fd, const struct iovec *iov, unsigned cnt, uint64_t off)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_writev(sqe, fd, iov, cnt, off);
    return 0;
}

int rl_prep_recv(rl_ring *r, uint64_t ud, int fd, void *buf, unsigned n, int flags)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_recv(sqe, fd, buf, n, flags);
    return 0;
}

int rl_prep_send(rl_ring *r, uint64_t ud, int fd, const void *buf, unsigned n, int flags)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_send(sqe, fd, buf, n, flags);
    return 0;
}

int rl_prep_recvmsg(rl_ring *r, uint64_t ud, int fd, struct msghdr *msg, unsigned flags)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_recvmsg(sqe, fd, msg, flags);
    return 0;
}

int rl_prep_sendmsg(rl_ring *r, uint64_t ud, int fd, const struct msghdr *msg, unsigned flags)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_sendmsg(sqe, fd, msg, flags);
    return 0;
}

int rl_prep_accept(rl_ring *r, uint64_t ud, int fd, struct sockaddr *addr, socklen_t *addrlen, int flags, int multishot)
{
    PREP_SQE(r, sqe, ud);
    if (multishot)
        io_uring_prep_multishot_accept(sqe, fd, addr, addrlen, flags);
    else
        io_uring_prep_accept(sqe, fd, addr, addrlen, flags);
    return 0;
}

int rl_prep_connect(rl_ring *r, uint64_t ud, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_connect(sqe, fd, addr, addrlen);
    return 0;
}

int rl_prep_poll_add(rl_ring *r, uint64_t ud, int fd, unsigned mask, int multishot)
{
    PREP_SQE(r, sqe, ud);
    if (multishot)
        io_uring_prep_poll_multishot(sqe, fd, mask);
    else
        io_uring_prep_poll_add(sqe, fd, mask);
    return 0;
}

int rl_prep_cancel(rl_ring *r, uint64_t ud, uint64_t target, int all)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_cancel64(sqe, target, all ? IORING_ASYNC_CANCEL_ANY : 0);
    return 0;
}

int rl_prep_close(rl_ring *r, uint64_t ud, int fd)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_close(sqe, fd);
    return 0;
}

int rl_prep_openat(rl_ring *r, uint64_t ud, int dfd, const char *path, int flags, unsigned mode)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_openat(sqe, dfd, path, flags, mode);
    return 0;
}

int rl_prep_statx(rl_ring *r, uint64_t ud, int dfd, const char *path, int flags, unsigned mask, void *statxbuf)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_statx(sqe, dfd, path, flags, mask, (struct statx *)statxbuf);
    return 0;
}

int rl_prep_fsync(rl_ring *r, uint64_t ud, int fd, unsigned flags)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_fsync(sqe, fd, flags);
    return 0;
}

int rl_prep_splice(rl_ring *r, uint64_t ud, int fd_in, int64_t off_in, int fd_out, int64_t off_out, unsigned n, unsigned flags)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_splice(sqe, fd_in, off_in, fd_out, off_out, n, flags);
    return 0;
}

int rl_prep_shutdown(rl_ring *r, uint64_t ud, int fd, int how)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_shutdown(sqe, fd, how);
    return 0;
}

/* -- provided buffer rings ------------------------------------------------
 * A pool of equal buffers the kernel picks from when a recv completes, so a
 * multishot recv needs no buffer of its own.  Python owns the pool's memory
 * (one bytearray); this holds the ring of buffer descriptors. */

struct rl_bufring {
    rl_ring *ring;
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    char *base;
    unsigned buf_size;
    unsigned entries;
    unsigned short bgid;
    int mask;
    int registered;
};

int rl_bufring_open(rl_ring *r, unsigned short bgid, unsigned entries, void *base, unsigned buf_size,
                    rl_bufring **out)
{
    struct io_uring_buf_reg reg;
    rl_bufring *b;
    unsigned i;
    int ret;

    if (!r->open)
        return -EBADF;
    if (entries == 0 || entries > 32768 || (entries & (entries - 1)) || !base || !buf_size)
        return -EINVAL;
    b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->br_bytes = entries * sizeof(struct io_uring_buf);
    ret = posix_memalign((void **)&b->br, (size_t)sysconf(_SC_PAGESIZE), b->br_bytes);
    if (ret) {
        free(b);
        return -ret;
    }
    memset(b->br, 0, b->br_bytes);
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)b->br;
    reg.ring_entries = entries;
    reg.bgid = bgid;
    ret = io_uring_register_buf_ring(&r->ring, &reg, 0);
    if (ret < 0) {
        free(b->br);
        free(b);
        return ret;
    }
    b->ring = r;
    b->base = base;
    b->buf_size = buf_size;
    b->entries = entries;
    b->bgid = bgid;
    b->mask = io_uring_buf_ring_mask(entries);
    b->registered = 1;
    io_uring_buf_ring_init(b->br);
    for (i = 0; i < entries; i++)
        io_uring_buf_ring_add(b->br, b->base + (size_t)i * buf_size, buf_size, (unsigned short)i, b->mask, (int)i);
    io_uring_buf_ring_advance(b->br, (int)entries);
    *out = b;
    return 0;
}

/* Hand buffers back to the kernel: one call per loop iteration for all of them. */
void rl_bufring_recycle(rl_bufring *b, const uint16_t *bids, unsigned n)
{
    unsigned i;
    if (!b->registered || !b->ring->open)
        return;
    for (i = 0; i < n; i++)
        io_uring_buf_ring_add(b->br, b->base + (size_t)bids[i] * b->buf_size, b->buf_size, bids[i], b->mask, (int)i);
    io_uring_buf_ring_advance(b->br, (int)n);
}

void rl_bufring_free(rl_bufring *b)
{
    if (!b)
        return;
    if (b->registered && b->ring->open) {
        struct io_uring_buf_reg reg;
        memset(&reg, 0, sizeof(reg));
        reg.bgid = b->bgid;
        io_uring_register(b->ring->ring.ring_fd, IORING_UNREGISTER_PBUF_RING, &reg, 1);
    }
    /* A closed ring has dropped its registrations; the kernel no longer reads br. */
    free(b->br);
    free(b);
}

int rl_prep_recv_multishot(rl_ring *r, uint64_t ud, int fd, unsigned short bgid)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = bgid;
    return 0;
}
