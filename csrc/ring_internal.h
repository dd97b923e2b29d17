/* What ring.c, prep.c and bufring.c share: the ring handle and SQE allocation.
 * Not part of the API that Python sees (that is ringloop.h). */
#ifndef RINGLOOP_INTERNAL_H
#define RINGLOOP_INTERNAL_H

#include <liburing.h>

#include "ringloop.h"

struct rl_ring {
    struct io_uring ring;
    unsigned setup_flags;
    int open;
    int enabled;        /* an R_DISABLED ring is enabled by its first submitter */
    int enter_on_peek;  /* completions may need an enter to show up (deferred task work) */
    int chains_queued;  /* linked SQEs queued since the last enter: run their task work through */
    rl_bufring *bufrings; /* owned: freed with the ring, so no pool outlives its ring's memory */
};

/* Activate an R_DISABLED ring from the calling thread (its first submitter). */
int rl_ring_enable(rl_ring *r);

/* A free SQE, submitting what is queued first when the SQ is full; NULL when
 * none can be had. */
struct io_uring_sqe *rl_get_sqe(rl_ring *r);

/* Free the buffer rings a ring owns (ring teardown only). */
void rl_bufrings_free(rl_ring *r);

#endif
