/* loadgen: the echo load generator of the benchmark lab.
 *
 * Opens N connections to an echo server and plays ping-pong on each: send an
 * M-byte message, wait until M bytes have come back, send the next.  One
 * thread, non-blocking sockets, epoll.  After --warmup seconds of unrecorded
 * traffic it records for --duration seconds, then prints one JSON object:
 *
 *   {"connections", "size", "duration_s", "round_trips", "round_trips_total",
 *    "rt_per_s", "mb_per_s", "p50_us", "p99_us", "errors", "cpu_util"}
 *
 * round_trips and the rates cover the recorded window; round_trips_total
 * counts every completed round trip since the first connect (what a server
 * CPU or syscall count taken around the whole run divides by).  cpu_util is
 * this process's CPU time over its wall time: near 1.0 means the load
 * generator, not the server, may have been the bottleneck.
 *
 * Usage: loadgen (--port N | --unix PATH) [--conns 16] [--size 1024]
 *                [--duration 1.0] [--warmup 0.1]
 * Exit status 0 when at least one round trip was recorded, 1 otherwise.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define MAX_EVENTS 64
#define RECV_CHUNK (256 * 1024)

struct conn {
    int fd;
    int alive;
    size_t sent, received; /* bytes of the current message */
    int64_t started_ns;    /* when its first byte was sent */
    int want_out;          /* EPOLLOUT registered: a send was short */
};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void fail(const char *what) {
    printf("{\"error\": \"%s: %s\"}\n", what, strerror(errno));
    exit(1);
}

/* Latency samples in ns, one per recorded round trip; sorted once at the end. */
static int64_t *samples;
static size_t n_samples, cap_samples;

static void record(int64_t ns) {
    if (n_samples == cap_samples) {
        cap_samples = cap_samples ? cap_samples * 2 : 1 << 16;
        samples = realloc(samples, cap_samples * sizeof *samples);
        if (!samples) fail("realloc");
    }
    samples[n_samples++] = ns;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double percentile_us(double p) {
    if (!n_samples) return 0;
    size_t i = (size_t)(p * (n_samples - 1) + 0.5); /* nearest rank on the sorted samples */
    return samples[i] / 1e3;
}

static int connect_to(const char *unix_path, int port) {
    int fd;
    if (unix_path) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        strncpy(sun.sun_path, unix_path, sizeof sun.sun_path - 1);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) fail("connect");
    } else {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int one = 1;
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) fail("connect");
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static int epfd;
static char *msg, *sink;
static size_t size;
static long errors, alive; /* connections dropped, and still open */

static void set_out(struct conn *c, int on) {
    if (c->want_out == on) return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = on;
}

static void drop(struct conn *c) {
    errors++;
    alive--;
    c->alive = 0;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
}

/* Send what is left of the current message; register for EPOLLOUT if short. */
static void push(struct conn *c) {
    while (c->sent < size) {
        ssize_t n = send(c->fd, msg + c->sent, size - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) { set_out(c, 1); return; }
            drop(c);
            return;
        }
        c->sent += (size_t)n;
    }
    set_out(c, 0);
}

static void start_message(struct conn *c) {
    c->sent = c->received = 0;
    c->started_ns = now_ns();
    push(c);
}

int main(int argc, char **argv) {
    const char *unix_path = NULL;
    int port = 0, nconns = 16;
    double duration = 1.0, warmup = 0.1;
    size = 1024;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--port")) port = atoi(v);
        else if (!strcmp(k, "--unix")) unix_path = v;
        else if (!strcmp(k, "--conns")) nconns = atoi(v);
        else if (!strcmp(k, "--size")) size = (size_t)atol(v);
        else if (!strcmp(k, "--duration")) duration = atof(v);
        else if (!strcmp(k, "--warmup")) warmup = atof(v);
        else { fprintf(stderr, "loadgen: unknown option %s\n", k); return 2; }
    }
    if ((!unix_path && port <= 0) || nconns < 1 || size < 1 || duration <= 0 || warmup < 0) {
        fprintf(stderr, "usage: loadgen (--port N | --unix PATH) [--conns N] [--size BYTES] "
                        "[--duration S] [--warmup S]\n");
        return 2;
    }
    msg = malloc(size);
    sink = malloc(RECV_CHUNK);
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    if (!msg || !sink || !conns) fail("malloc");
    memset(msg, 'x', size);

    epfd = epoll_create1(0);
    if (epfd < 0) fail("epoll_create1");
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        c->fd = connect_to(unix_path, port);
        c->alive = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) fail("epoll_ctl");
    }

    double cpu0 = cpu_seconds();
    int64_t t0 = now_ns();
    int64_t record_from = t0 + (int64_t)(warmup * 1e9);
    int64_t end = record_from + (int64_t)(duration * 1e9);
    long total = 0;
    alive = nconns;
    for (int i = 0; i < nconns; i++) start_message(&conns[i]);

    struct epoll_event events[MAX_EVENTS];
    int64_t now = t0;
    while (now < end && alive > 0) {
        int timeout_ms = (int)((end - now) / 1000000) + 1;
        int n = epoll_wait(epfd, events, MAX_EVENTS, timeout_ms);
        if (n < 0 && errno != EINTR) fail("epoll_wait");
        for (int e = 0; e < n; e++) {
            struct conn *c = events[e].data.ptr;
            if (!c->alive) continue;
            if (events[e].events & EPOLLOUT) push(c);
            if (!c->alive || !(events[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
            for (;;) { /* drain what arrived; a whole echo completes the round trip */
                ssize_t got = recv(c->fd, sink, RECV_CHUNK, 0);
                if (got < 0 && errno == EAGAIN) break;
                if (got <= 0) { drop(c); break; }
                c->received += (size_t)got;
                if (c->received >= size) {
                    int64_t t = now_ns();
                    total++;
                    if (t >= record_from && t < end) record(t - c->started_ns);
                    start_message(c);
                    if (!c->alive) break;
                }
            }
        }
        now = now_ns();
    }
    double wall = (now - t0) / 1e9, cpu = cpu_seconds() - cpu0;
    double window = (now < end ? now : end) - record_from;
    window = window > 0 ? window / 1e9 : 0;

    qsort(samples, n_samples, sizeof *samples, cmp_i64);
    double rate = window > 0 ? n_samples / window : 0;
    printf("{\"connections\": %d, \"size\": %zu, \"duration_s\": %.6f, \"round_trips\": %zu, "
           "\"round_trips_total\": %ld, \"rt_per_s\": %.1f, \"mb_per_s\": %.3f, "
           "\"p50_us\": %.1f, \"p99_us\": %.1f, \"errors\": %ld, \"cpu_util\": %.3f}\n",
           nconns, size, window, n_samples, total, rate, rate * (double)size / 1e6,
           percentile_us(0.50), percentile_us(0.99), errors, wall > 0 ? cpu / wall : 0);
    return n_samples ? 0 : 1;
}
