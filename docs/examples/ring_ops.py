"""The ring op-futures: one io_uring operation each, awaited like any future."""
import asyncio
import os
import tempfile
import time

import ringloop


async def main():
    loop = asyncio.get_running_loop()

    print("ring_nop ->", await loop.ring_nop())

    t0 = time.monotonic()
    print("ring_timeout(0.02) ->", await loop.ring_timeout(0.02), f"after {time.monotonic() - t0:.3f}s")

    # A pipe: offset -1 (the default) reads and writes at the current position.
    r, w = os.pipe()
    try:
        print("ring_write(pipe) ->", await loop.ring_write(w, b"hello ring"))
        buf = bytearray(64)
        n = await loop.ring_read(r, buf)
        print("ring_read(pipe) ->", n, bytes(buf[:n]))

        # Cancelling a read that is still waiting: the kernel gets ASYNC_CANCEL,
        # the awaiting task gets CancelledError.
        pending = loop.ring_read(r, bytearray(16))
        task = asyncio.ensure_future(pending)
        await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            print("pending ring_read cancelled:", pending.cancelled())
    finally:
        os.close(r)
        os.close(w)

    # A regular file with explicit offsets.
    with tempfile.TemporaryFile() as f:
        fd = f.fileno()
        await loop.ring_write(fd, b"0123456789", 0)
        buf = bytearray(4)
        n = await loop.ring_read(fd, buf, 3)
        print("ring_read(file, offset=3) ->", n, bytes(buf[:n]))
        print("ring_read at end of file ->", await loop.ring_read(fd, buf, 10))

    # A failed operation raises OSError with the kernel's errno.
    bad_fd = os.open(os.devnull, os.O_RDONLY)
    os.close(bad_fd)
    try:
        await loop.ring_read(bad_fd, bytearray(1))
    except OSError as exc:
        print("ring_read on a closed fd ->", type(exc).__name__, exc)


ringloop.run(main())
