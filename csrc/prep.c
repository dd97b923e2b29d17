/* ringloop C layer, SQE preparation: one rl_prep_* per opcode Python uses.
 * Each queues one SQE tagged with the caller's token and nothing else. */
#define _GNU_SOURCE
#include <errno.h>

#include "ring_internal.h"

/* Shared preamble of every prep helper: a usable ring and a free SQE carrying
 * the caller's token (io_uring_prep_* never touches user_data). */
#define PREP_SQE(r, sqe, ud)          \
    struct io_uring_sqe *sqe;         \
    if (!(r)->open)                   \
        return -EBADF;                \
    sqe = rl_get_sqe(r);                 \
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

int rl_prep_send_silent(rl_ring *r, uint64_t ud, int fd, const void *buf, unsigned n, int flags)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_send(sqe, fd, buf, n, flags | MSG_DONTWAIT | MSG_WAITALL);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
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

int rl_prep_sendmsg_linked(rl_ring *r, uint64_t ud, int fd, const struct msghdr *msg, unsigned flags, uint64_t prev)
{
    struct io_uring_sq *sq = &r->ring.sq;
    struct io_uring_sqe *last;

    /* Only behind `prev` while it is still the last SQE queued (not yet handed
     * to the kernel) and a free slot follows it without a submit in between:
     * then the two are one chain, and a failure of `prev` cancels this one. */
    if (!r->open || sq->sqe_tail == sq->sqe_head || io_uring_sq_space_left(&r->ring) < 1)
        return 0;
    last = &sq->sqes[(sq->sqe_tail - 1) & sq->ring_mask];
    if (last->user_data != prev)
        return 0;
    {
        PREP_SQE(r, sqe, ud);
        io_uring_prep_sendmsg(sqe, fd, msg, flags);
    }
    last->flags |= IOSQE_IO_LINK;
    r->chains_queued = 1;
    return 1;
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

int rl_prep_renameat(rl_ring *r, uint64_t ud, int olddfd, const char *oldpath, int newdfd, const char *newpath, unsigned flags)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_renameat(sqe, olddfd, oldpath, newdfd, newpath, flags);
    return 0;
}

int rl_prep_unlinkat(rl_ring *r, uint64_t ud, int dfd, const char *path, int flags)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_unlinkat(sqe, dfd, path, flags);
    return 0;
}

int rl_prep_mkdirat(rl_ring *r, uint64_t ud, int dfd, const char *path, unsigned mode)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_mkdirat(sqe, dfd, path, mode);
    return 0;
}

int rl_prep_linkat(rl_ring *r, uint64_t ud, int olddfd, const char *oldpath, int newdfd, const char *newpath, int flags)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_linkat(sqe, olddfd, oldpath, newdfd, newpath, flags);
    return 0;
}

int rl_prep_symlinkat(rl_ring *r, uint64_t ud, const char *target, int newdfd, const char *linkpath)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_symlinkat(sqe, target, newdfd, linkpath);
    return 0;
}

int rl_prep_fallocate(rl_ring *r, uint64_t ud, int fd, int mode, uint64_t off, uint64_t len)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_fallocate(sqe, fd, mode, off, len);
    return 0;
}

int rl_prep_ftruncate(rl_ring *r, uint64_t ud, int fd, uint64_t len)
{
    PREP_SQE(r, sqe, ud);
    /* What liburing >= 2.6 spells io_uring_prep_ftruncate: the length in off. */
    io_uring_prep_rw(RL_OP_FTRUNCATE, sqe, fd, NULL, 0, len);
    return 0;
}

int rl_prep_recv_multishot(rl_ring *r, uint64_t ud, int fd, unsigned short bgid)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = bgid;
    return 0;
}

/* Room for n SQEs in a row, so that a linked chain is never split across two
 * submissions (the kernel would end the chain at the split).  Submits what is
 * queued when there is not; 0 or -EBUSY. */
static int reserve_sqes(rl_ring *r, unsigned n)
{
    if (io_uring_sq_space_left(&r->ring) >= n)
        return 0;
    if (rl_ring_enable(r) < 0)
        return -EBUSY;
    io_uring_submit(&r->ring);
    /* Under SQPOLL the kernel thread frees slots on its own time (see rl_get_sqe). */
    for (int tries = 0; io_uring_sq_space_left(&r->ring) < n && (r->setup_flags & IORING_SETUP_SQPOLL)
                        && tries < 1000; tries++) {
        io_uring_submit(&r->ring);
        io_uring_sqring_wait(&r->ring);
    }
    return io_uring_sq_space_left(&r->ring) >= n ? 0 : -EBUSY;
}

int rl_prep_open_read2(rl_ring *r, uint64_t ud_open, uint64_t ud_read1, uint64_t ud_read2,
                       int dfd, const char *path, int flags, unsigned mode, unsigned slot,
                       void *buf, unsigned n1, unsigned n2)
{
    struct io_uring_sqe *sqe;

    if (!r->open)
        return -EBADF;
    if (reserve_sqes(r, 3) < 0)
        return -EBUSY;
    sqe = io_uring_get_sqe(&r->ring);
    io_uring_prep_openat_direct(sqe, dfd, path, flags, mode, slot);
    io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
    io_uring_sqe_set_data64(sqe, ud_open);

    sqe = io_uring_get_sqe(&r->ring);
    io_uring_prep_read(sqe, (int)slot, buf, n1, (uint64_t)-1);
    io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK);
    io_uring_sqe_set_data64(sqe, ud_read1);

    sqe = io_uring_get_sqe(&r->ring);
    io_uring_prep_read(sqe, (int)slot, (char *)buf + n1, n2, (uint64_t)-1);
    io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
    io_uring_sqe_set_data64(sqe, ud_read2);
    return 0;
}

int rl_prep_read_slot(rl_ring *r, uint64_t ud, unsigned slot, void *buf, unsigned n, uint64_t off)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_read(sqe, (int)slot, buf, n, off);
    io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
    return 0;
}

int rl_prep_close_direct(rl_ring *r, uint64_t ud, unsigned slot)
{
    PREP_SQE(r, sqe, ud);
    io_uring_prep_close_direct(sqe, slot);
    return 0;
}
