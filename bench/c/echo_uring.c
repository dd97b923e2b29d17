/* echo_uring: the physical-limit reference of the echo benchmarks.
 *
 * A single-threaded echo server on liburing (Debian 12's liburing 2.3 API):
 * one multishot accept, then per connection one recv or send in flight at a
 * time (recv what came, send all of it back, recv again), one
 * io_uring_submit_and_wait per loop iteration and a loop over every ready CQE.
 *
 * Usage: echo_uring --port N      (TCP on 127.0.0.1; 0 picks a free port)
 *        echo_uring --unix PATH   (Unix stream socket)
 * Prints "READY <port>" (0 for a Unix socket) on stdout once it listens, then
 * serves until killed.
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RING_ENTRIES 256
#define BUF_SIZE (256 * 1024)
#define ACCEPT_TAG 0 /* user_data of the accept; connections use their pointer */

struct conn {
    int fd;
    int sending;         /* 1 while a send is in flight, 0 while a recv is */
    size_t len, off;     /* bytes received, and sent back so far */
    char buf[BUF_SIZE];
};

static void die(const char *what, int err) {
    fprintf(stderr, "echo_uring: %s: %s\n", what, strerror(err));
    exit(1);
}

static struct io_uring_sqe *get_sqe(struct io_uring *ring) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) { /* SQ full: push what is queued, then there is room */
        io_uring_submit(ring);
        sqe = io_uring_get_sqe(ring);
        if (!sqe) die("io_uring_get_sqe", EBUSY);
    }
    return sqe;
}

static void arm_accept(struct io_uring *ring, int lfd) {
    struct io_uring_sqe *sqe = get_sqe(ring);
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, ACCEPT_TAG);
}

static void arm_recv(struct io_uring *ring, struct conn *c) {
    struct io_uring_sqe *sqe = get_sqe(ring);
    c->sending = 0;
    io_uring_prep_recv(sqe, c->fd, c->buf, BUF_SIZE, 0);
    io_uring_sqe_set_data(sqe, c);
}

static void arm_send(struct io_uring *ring, struct conn *c) {
    struct io_uring_sqe *sqe = get_sqe(ring);
    c->sending = 1;
    io_uring_prep_send(sqe, c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, c);
}

static int listen_on(const char *unix_path, int port) {
    int fd;
    if (unix_path) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (strlen(unix_path) >= sizeof sun.sun_path) die("unix path", ENAMETOOLONG);
        strcpy(sun.sun_path, unix_path);
        unlink(unix_path);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0) die("bind", errno);
    } else {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int one = 1;
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) die("socket", errno);
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) die("bind", errno);
    }
    if (listen(fd, 1024) < 0) die("listen", errno);
    return fd;
}

static int bound_port(int fd) {
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0 || sin.sin_family != AF_INET) return 0;
    return ntohs(sin.sin_port);
}

static void on_accept(struct io_uring *ring, int lfd, struct io_uring_cqe *cqe, int is_tcp) {
    if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept(ring, lfd); /* multishot ended: re-arm */
    if (cqe->res < 0) return;
    struct conn *c = malloc(sizeof *c);
    if (!c) die("malloc", ENOMEM);
    c->fd = cqe->res;
    if (is_tcp) { /* same as what the Python loops do: no Nagle delay on small echoes */
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    arm_recv(ring, c);
}

static void on_conn(struct io_uring *ring, struct conn *c, int res) {
    if (res <= 0) { /* EOF or error: the client is gone */
        close(c->fd);
        free(c);
        return;
    }
    if (!c->sending) {
        c->len = (size_t)res;
        c->off = 0;
    } else {
        c->off += (size_t)res;
    }
    if (c->off < c->len) arm_send(ring, c); /* echo what is left of this chunk */
    else arm_recv(ring, c);
}

int main(int argc, char **argv) {
    const char *unix_path = NULL;
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--unix")) unix_path = argv[i + 1];
        else { fprintf(stderr, "usage: echo_uring --port N | --unix PATH\n"); return 2; }
    }
    int lfd = listen_on(unix_path, port);

    struct io_uring ring;
    /* Single issuer + deferred task work: fewer interruptions of this one
     * thread; older kernels refuse the flags, so fall back to none. */
    int ret = io_uring_queue_init(RING_ENTRIES, &ring,
                                  IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
    if (ret < 0) ret = io_uring_queue_init(RING_ENTRIES, &ring, 0);
    if (ret < 0) die("io_uring_queue_init", -ret);

    arm_accept(&ring, lfd);
    printf("READY %d\n", unix_path ? 0 : bound_port(lfd));
    fflush(stdout);

    for (;;) {
        ret = io_uring_submit_and_wait(&ring, 1);
        if (ret < 0 && ret != -EINTR) die("io_uring_submit_and_wait", -ret);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            uint64_t tag = io_uring_cqe_get_data64(cqe);
            if (tag == ACCEPT_TAG) on_accept(&ring, lfd, cqe, unix_path == NULL);
            else on_conn(&ring, (struct conn *)(uintptr_t)tag, cqe->res);
            seen++;
        }
        io_uring_cq_advance(&ring, seen);
    }
}
