"""First degree: a Group restarts crashed workers; scope() supervises them until main() ends.

The seed's opening example: workers answer "add" requests from a shared queue. One worker
crashes on its first request; the group replaces it and the request is retried.
"""
import asyncio

import ringloop
from ringloop.supervise import Group, Restart


async def main():
    requests: asyncio.Queue = asyncio.Queue()
    crashed = False

    async def adder():
        nonlocal crashed
        while True:
            a, b, reply = await requests.get()
            if not crashed:
                crashed = True
                raise RuntimeError("worker crashed holding a request")  # the request is lost with it
            reply.set_result(a + b)

    group = Group(adder, size=2, restart=Restart.PERMANENT, max_restarts=10, period=5.0,
                  backoff=(0.01, 1.0), name="adders")

    async def client():
        while True:  # the queue survives a worker, a request taken by one does not: retry
            reply = asyncio.get_running_loop().create_future()
            await requests.put((1, 2, reply))
            try:
                return await asyncio.wait_for(reply, 0.2)
            except TimeoutError:
                print("no answer (a worker crashed with the request); retrying")

    result = await group.scope(client())
    stats = group.stats()
    print(f"1 + 2 = {result}; {stats}")
    assert result == 3
    assert stats.failures == 1 and stats.restarts == 1 and stats.running == 0
    outcomes = await group.shutdown()  # already stopped by scope(): the last outcomes again
    print("outcomes:", [(o.name, o.kind) for o in outcomes])
    assert [o.kind for o in outcomes] == ["cancelled", "cancelled"]


ringloop.run(main())
