"""single_issuer: which thread may run a loop."""
import asyncio
import threading

import ringloop


def run_in_thread(loop, coro):
    out = []

    def target():
        try:
            out.append(loop.run_until_complete(coro))
        except Exception as exc:
            coro.close()
            out.append(f"{type(exc).__name__}: {exc}")

    t = threading.Thread(target=target)
    t.start()
    t.join()
    return out[0]


# Default (single_issuer=True): the ring is bound to the first thread that runs it.
# Creating the loop in one thread and running it in another is fine.
loop = ringloop.new_event_loop()
print("flags:", " ".join(loop.ring_setup_flags))
print("thread A:", run_in_thread(loop, asyncio.sleep(0.01, "ok")))
print("thread B:", run_in_thread(loop, asyncio.sleep(0.01, "ok")))
loop.close()

# single_issuer=False: one loop may be run from different threads in turn.
loop = ringloop.new_event_loop(single_issuer=False)
print("flags:", " ".join(loop.ring_setup_flags))
print("thread A:", run_in_thread(loop, asyncio.sleep(0.01, "ok")))
print("thread B:", run_in_thread(loop, asyncio.sleep(0.01, "ok")))
loop.close()
