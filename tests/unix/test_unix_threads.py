"""Wake-ups from many threads at once: none may be lost."""
import asyncio
import threading

import ringloop

THREADS = 8
CALLS = 10_000


def test_no_lost_wakeup_in_10000_calls_from_8_threads():
    """Each call is a round trip: the thread waits until its callback ran.

    The loop has no timer and nothing else to do, so between two calls it
    sleeps in the ring wait; a wake-up lost there leaves a thread waiting, and
    its wait's limit (a watchdog, not a synchronisation) records the loss.
    """
    loop = ringloop.new_event_loop()
    per_thread = CALLS // THREADS
    ran = [0] * THREADS
    lost = []
    all_done = loop.create_future()
    finished = 0

    def callback(i, event):
        ran[i] += 1
        event.set()

    def thread_done():
        nonlocal finished
        finished += 1
        if finished == THREADS:
            all_done.set_result(None)

    def worker(i):
        for _ in range(per_thread):
            event = threading.Event()
            loop.call_soon_threadsafe(callback, i, event)
            if not event.wait(timeout=30):
                lost.append(i)
                break
        loop.call_soon_threadsafe(thread_done)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    try:
        loop.run_until_complete(all_done)
    finally:
        for t in threads:
            t.join()
        loop.close()
    assert lost == []
    assert ran == [per_thread] * THREADS
    assert sum(ran) == CALLS


def test_run_coroutine_threadsafe_from_many_threads():
    loop = ringloop.new_event_loop()
    results = []
    lock = threading.Lock()

    async def double(x):
        await asyncio.sleep(0)
        return 2 * x

    def worker(base):
        for k in range(100):
            value = asyncio.run_coroutine_threadsafe(double(base + k), loop).result(timeout=30)
            with lock:
                results.append(value)

    stopper = loop.create_future()
    threads = [threading.Thread(target=worker, args=(i * 1000,)) for i in range(THREADS)]

    def watch():
        for t in threads:
            t.join()
        loop.call_soon_threadsafe(stopper.set_result, None)

    for t in threads:
        t.start()
    threading.Thread(target=watch).start()
    loop.run_until_complete(stopper)
    loop.close()
    assert sorted(results) == sorted(2 * (i * 1000 + k) for i in range(THREADS) for k in range(100))
