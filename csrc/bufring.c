/* ringloop C layer, provided buffer rings. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ring_internal.h"

/* A pool of equal buffers the kernel picks from when a recv completes, so a
 * multishot recv needs no buffer of its own.  Python owns the pool's memory
 * (one page-aligned mmap); this holds the ring of buffer descriptors.
 *
 * The ring owns its buffer rings and frees them in rl_ring_free: Python's
 * objects may be collected in any order at interpreter exit, and a buffer ring
 * freed after its ring would otherwise read the ring's freed memory. */

struct rl_bufring {
    rl_ring *ring;
    rl_bufring *next;   /* the ring's list */
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
    b->next = r->bufrings;
    r->bufrings = b;
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

void rl_bufrings_free(rl_ring *r)
{
    /* Called after the ring is closed: closing dropped the registrations, so
     * the kernel no longer reads any br and nothing needs unregistering. */
    while (r->bufrings) {
        rl_bufring *b = r->bufrings;
        r->bufrings = b->next;
        free(b->br);
        free(b);
    }
}
