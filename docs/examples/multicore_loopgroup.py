"""LoopGroup: loops in threads of one process, sharing one SQPOLL thread, handing work to each other.

submit(i, coro) runs a coroutine on loop i from any thread and returns a
concurrent.futures.Future; `await group.call(i, coro)` does the same from a coroutine on any
loop. The loop threads (and the executor threads they start) are kept off the SQPOLL CPU.
"""
import asyncio
import threading

from ringloop.scheduler import LoopGroup, format_cpus, thread_placements


def which(group):
    """The index of the loop running the caller."""
    return group.loops.index(asyncio.get_running_loop())


async def total(numbers):
    await asyncio.sleep(0)
    return sum(numbers)


async def ping(group, hops, trail):
    """Bounce between the two loops, recording which loop each hop ran on."""
    trail.append(which(group))
    if hops == 0:
        return trail
    return await group.call(1 - trail[-1], ping(group, hops - 1, trail))


with LoopGroup(2, sqpoll=True) as group:
    print("plan:", group.plan.reason)
    print("loop 1 shares loop 0's SQPOLL thread:", "ATTACH_WQ" in group.loops[1].ring_setup_flags)

    trail = group.submit(0, ping(group, 6, [])).result(timeout=10)
    print("hops ran on loops:", trail)
    assert trail == [0, 1, 0, 1, 0, 1, 0]

    async def ask_the_other():
        """Loop 0 hands a sum to loop 1 and awaits the answer."""
        return which(group), await group.call(1, total(range(100)))

    asker, answer = group.submit(0, ask_the_other()).result(timeout=10)
    print(f"loop {asker} got {answer} from loop 1")
    assert (asker, answer) == (0, 4950)

    async def in_executor():
        return await asyncio.get_running_loop().run_in_executor(None, threading.get_native_id)

    executor = group.submit(1, in_executor()).result(timeout=10)
    threads = {thread.tid: thread for thread in thread_placements()}
    loop_threads = {threads[tid].allowed for tid in (*group.native_ids, executor)}
    (sqpoll,) = [t for t in threads.values() if t.name.startswith("iou-sqp-")]
    print("loop and executor threads may run on CPU", ", ".join(format_cpus(cpus) for cpus in loop_threads))
    print("the SQPOLL thread may run on CPU", format_cpus(sqpoll.allowed))
    assert loop_threads == {frozenset(group.plan.loop_cpus)}
    if group.plan.sq_cpus:  # pinned where a CPU could be spared (not on a one-CPU machine)
        assert sqpoll.allowed == set(group.plan.sq_cpus) and not sqpoll.allowed & set(group.plan.loop_cpus)
print("closed:", all(loop.is_closed() for loop in group.loops))
