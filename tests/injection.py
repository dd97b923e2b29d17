"""Fault injection for tests: ``from injection import EagainKernel, round_trips_until``.

A module of its own beside helpers.py, for the tests that drive the loop's
fallback branches (-EAGAIN answered by the "kernel", then a readiness poll).
"""
import asyncio
import errno
import select
import time


async def round_trips_until(loop, predicate, timeout=20.0):
    """Ring round trips (one loop iteration each) until ``predicate()``, for at most ``timeout`` s; its final value.

    The first hundred run back to back; after that each also waits 1 ms, for
    work the kernel does on its own threads (io-wq) or a helper thread does.
    """
    deadline = time.monotonic() + timeout
    trips = 0
    while not predicate() and time.monotonic() < deadline:
        await loop.ring_nop()
        trips += 1
        if trips > 100:
            await asyncio.sleep(0.001)
    return predicate()


class EagainKernel:
    """The loop's Ring answering for ``fd`` as a kernel that returns -EAGAIN for an fd not ready.

    ``ops``: Ring methods to answer for.  A read-like op (read, recv,
    recv_pinned, recv_multishot, recvmsg, accept) is not ready while ``fd`` is not
    readable, a write-like one (send, sendmsg, write, writev, splice into
    ``fd``) while it is not writable.  ``force``: the next ``force`` calls get
    -EAGAIN even when ``fd`` is ready (a readiness report made stale).  Every
    ``poll_add`` on ``fd`` is recorded as [mask, result] (None until it
    completes); ``log`` holds every event on ``fd`` in order: ("eagain", op),
    ("op", op), ("poll", mask).

    ``send_silent`` needs no stand-in: the kernel itself answers a silent
    send (MSG_DONTWAIT) into a full socket -EAGAIN.  It is only recorded,
    as "eagain" when ``fd`` is not writable, and passed on.
    """

    FD_ARG = {"read": 0, "recv": 0, "recv_pinned": 0, "recv_multishot": 0, "recvmsg": 0, "accept": 0,
              "write": 0, "writev": 0, "send": 0, "sendmsg": 0, "sendmsg_linked": 0, "splice": 2,
              "send_silent": 0}
    # Refused by a real op on fd -1 (-EBADF, reported as -EAGAIN): a failure
    # the kernel sees, which cancels the ops linked behind it as a refusal does.
    FAILING = {"sendmsg", "sendmsg_linked"}
    INBOUND = {"read", "recv", "recv_pinned", "recv_multishot", "recvmsg", "accept"}

    def __init__(self, ring, fd, ops, force=0):
        self.ring, self.fd, self.force = ring, fd, force
        self.injected, self.passed, self.polls, self.log = [], [], [], []
        self.names = [*ops, "poll_add"]
        for name in ops:
            self._wrap(name)
        real_poll = ring.poll_add

        def poll_add(fd, mask, handler, **kwargs):
            if fd != self.fd:
                return real_poll(fd, mask, handler, **kwargs)
            entry = [mask, None]
            self.polls.append(entry)
            self.log.append(("poll", mask))

            def done(res, flags):
                entry[1] = res
                handler(res, flags)

            return real_poll(fd, mask, done, **kwargs)

        ring.poll_add = poll_add

    def _wrap(self, name):
        real = getattr(self.ring, name)
        mask = select.POLLIN if name in self.INBOUND else select.POLLOUT

        def op(*args, **kwargs):
            if args[self.FD_ARG[name]] != self.fd:
                return real(*args, **kwargs)
            if self.force > 0:
                self.force -= 1
            elif self._ready(mask):
                self.passed.append(name)
                self.log.append(("op", name))
                return real(*args, **kwargs)
            self.injected.append(name)
            self.log.append(("eagain", name))
            if name == "send_silent":
                return real(*args, **kwargs)
            handler = args[-1] if name != "sendmsg_linked" else args[-2]
            # A cancelled op reports -ECANCELED: that passes through as it is.
            def refused(res, flags):
                handler(-errno.EAGAIN if res >= 0 or res == -errno.EBADF else res, 0)

            if name in self.FAILING:
                rest = list(args[1:])
                rest[-1 if name == "sendmsg" else -2] = refused
                return real(-1, *rest)
            token = self.ring.nop(refused)
            return (token, None) if name == "recvmsg" else token

        setattr(self.ring, name, op)

    def _ready(self, mask):
        poller = select.poll()
        poller.register(self.fd, mask)
        return bool(poller.poll(0))

    def each_eagain_followed_by_a_poll(self, mask):
        """Whether the fd's next event after every -EAGAIN was a poll for ``mask`` (not a retry at once)."""
        return all(
            self.log[i + 1 : i + 2] == [("poll", mask)] for i, (kind, _) in enumerate(self.log) if kind == "eagain"
        )

    async def settled(self, loop):
        """Round trips until no -EAGAIN waits for its completion (the last event is not one); whether that held."""
        return await round_trips_until(loop, lambda: not self.log or self.log[-1][0] != "eagain")

    def completed_polls(self, mask):
        return [res for m, res in self.polls if m == mask and res is not None]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for name in self.names:
            delattr(self.ring, name)  # the instance attribute goes; the Ring's own method is back
