/* ringloop C layer, the ring itself: setup, enter (submit + harvest), probe.
 *
 * Mechanical on purpose: Python decides which op, which buffer and what a
 * completion means.  What this file does decide, and why here: which optional
 * setup flags to ask for (a ladder tried top-down, since the kernel answers an
 * unknown flag with EINVAL and only C sees the attempts cheaply) and how long to
 * retry for a free SQE under SQPOLL (the kernel thread frees slots on its own
 * time, and giving up at once would fail an op that a moment's wait saves), and
 * how many extra enters a queued linked chain gets (see rl_enter). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ring_internal.h"


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
        p.sq_thread_idle = o->sq_idle_ms > 0 ? (unsigned)o->sq_idle_ms : 0;
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
    rl_bufrings_free(r);
    free(r);
}

int rl_ring_fd(rl_ring *r) { return r->open ? r->ring.ring_fd : -EBADF; }
unsigned rl_ring_setup_flags(rl_ring *r)
{
    /* R_DISABLED only describes the ring until its first submitter enables it. */
    return r->enabled ? r->setup_flags & ~IORING_SETUP_R_DISABLED : r->setup_flags;
}
unsigned rl_ring_cq_entries(rl_ring *r) { return r->open ? r->ring.cq.ring_entries : 0; }

/* The thread that first submits owns a SINGLE_ISSUER ring. */
int rl_ring_enable(rl_ring *r)
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

struct io_uring_sqe *rl_get_sqe(rl_ring *r)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (sqe)
        return sqe;
    if (rl_ring_enable(r) < 0)
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

/* Move the completions tagged RL_SILENT_TAG to the front of out[0..n), each
 * group in its order.  They are failed sends, a handful at most, so each is
 * moved down by itself. */
static void silent_first(rl_cqe *out, unsigned n)
{
    unsigned front = 0;
    for (unsigned i = 0; i < n; i++) {
        if (!(out[i].user_data & RL_SILENT_TAG))
            continue;
        if (i != front) {
            rl_cqe moved = out[i];
            memmove(&out[front + 1], &out[front], (i - front) * sizeof *out);
            out[front] = moved;
        }
        front++;
    }
}

int rl_enter(rl_ring *r, int64_t timeout_ns, rl_cqe *out, unsigned max)
{
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0, n = 0, silent = 0;
    int ret = 0;

    if (!r->open)
        return -EBADF;
    ret = rl_ring_enable(r);
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
        /* Under DEFER_TASKRUN the kernel issues each op linked behind a
         * completed one as task work, which runs only in an enter: without
         * more enters a chain of N sends would take N loop iterations.  Only
         * an iteration that queued a chain pays for it, bounded so that a
         * stream of other completions cannot keep it here. */
        if (r->chains_queued) {
            r->chains_queued = 0;
            for (int hops = 0; ret >= 0 && hops < 64
                 && (IO_URING_READ_ONCE(*r->ring.sq.kflags) & IORING_SQ_TASKRUN); hops++)
                ret = io_uring_get_events(&r->ring);
        }
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
        if (cqe->user_data & RL_SILENT_TAG)
            silent++;
        n++;
    }
    io_uring_cq_advance(&r->ring, seen);
    if (silent)
        silent_first(out, n);
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


/* The files layer's fixed file table: n empty slots (IORING_REGISTER_FILES2
 * with IORING_RSRC_REGISTER_SPARSE).  Registering works on a disabled ring, and
 * on an enabled SINGLE_ISSUER ring from its submitter thread only (-EEXIST
 * elsewhere); -EBUSY when a table is already registered. */
int rl_register_files_sparse(rl_ring *r, unsigned n)
{
    if (!r->open)
        return -EBADF;
    return io_uring_register_files_sparse(&r->ring, n);
}
