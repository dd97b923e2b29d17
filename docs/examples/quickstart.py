"""Run a coroutine on ringloop: timers, tasks, an executor and an async generator."""
import asyncio
import time

import ringloop


async def ticker(n):
    for i in range(n):
        await asyncio.sleep(0.01)
        yield i


def blocking_sum(n):
    return sum(range(n))


async def main():
    loop = asyncio.get_running_loop()
    print("running on ringloop:", isinstance(loop, ringloop.Loop))

    t0 = time.monotonic()
    results = await asyncio.gather(asyncio.sleep(0.05, "a"), asyncio.sleep(0.02, "b"))
    print("gather:", results, f"in {time.monotonic() - t0:.2f}s")

    fired = loop.create_future()
    loop.call_later(0.01, fired.set_result, "call_later fired")
    print(await fired)

    print("executor:", await loop.run_in_executor(None, blocking_sum, 1000))
    print("async generator:", [i async for i in ticker(3)])

    try:
        await asyncio.wait_for(asyncio.sleep(1), timeout=0.01)
    except asyncio.TimeoutError:
        print("wait_for timed out as expected")
    return "done"


print(ringloop.run(main()))
