"""Waking the loop from other threads: call_soon_threadsafe, executors, to_thread."""
import asyncio
import threading
import time

import ringloop


async def main():
    loop = asyncio.get_running_loop()

    # Another thread resolves a future while the loop is blocked in the ring wait.
    fut = loop.create_future()

    def worker():
        time.sleep(0.02)
        loop.call_soon_threadsafe(fut.set_result, f"set from {threading.current_thread().name}")

    threading.Thread(target=worker, name="worker").start()
    print(await fut)

    # Many calls from many threads; wake-ups coalesce, no call is lost.
    counter = 0
    done = loop.create_future()

    def bump():
        nonlocal counter
        counter += 1
        if counter == 4000 and not done.done():
            done.set_result(None)

    def spam():
        for _ in range(1000):
            loop.call_soon_threadsafe(bump)

    threads = [threading.Thread(target=spam) for _ in range(4)]
    for t in threads:
        t.start()
    await done
    for t in threads:
        t.join()
    print("callbacks run:", counter)

    # Executor results come back through the same wake-up.
    print("to_thread:", await asyncio.to_thread(sum, range(100)))
    print("run_in_executor:", await loop.run_in_executor(None, pow, 2, 10))


def from_outside(loop):
    # run_coroutine_threadsafe from a thread that does not run the loop.
    cf = asyncio.run_coroutine_threadsafe(asyncio.sleep(0.01, "coroutine ran on the loop"), loop)
    return cf.result(timeout=5)


async def main2():
    loop = asyncio.get_running_loop()
    print("run_coroutine_threadsafe:", await asyncio.to_thread(from_outside, loop))


ringloop.run(main())
ringloop.run(main2())
