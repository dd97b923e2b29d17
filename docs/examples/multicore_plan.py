"""The CPU plan: which CPUs get loops and which get SQPOLL threads, as a pure function.

Loops in threads of one process share one SQPOLL thread (sq_threads=1); worker processes
need one each (sq_threads=workers). sqpoll="auto" uses SQPOLL only where every SQPOLL
thread can have a CPU of its own.
"""
from ringloop.scheduler import plan_cpus, sqpoll_auto_reason

for cpus in (1, 2, 4, 16):
    group = plan_cpus(range(cpus), 1, sq_threads=1)  # LoopGroup(threads=1)
    workers = plan_cpus(range(cpus), cpus // 2 or 1, sq_threads=cpus // 2 or 1)  # serve(workers=cpus // 2)
    print(f"LoopGroup(threads=1): {group.reason}")
    print(f"serve(workers={workers.loops}):     {workers.reason}")
    # Never a SQPOLL thread on a CPU a loop may use.
    assert not set(group.sq_cpus) & set(group.loop_cpus)
    assert group.sqpoll is (cpus >= 2) and workers.sqpoll is (cpus >= 2)

# serve(workers=4) on 16 CPUs: the workers (and their threads) may run on CPUs 0-11, and each
# worker's SQPOLL thread has a CPU of its own among 12-15.
plan = plan_cpus(range(16), 4, sq_threads=4, sqpoll="auto")
print("worker -> SQPOLL CPU:", {i: plan.sq_cpu_for(i) for i in range(4)})
assert plan.loop_cpus == (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11) and plan.sq_cpus == (12, 13, 14, 15)

# sqpoll=True insists: with too few CPUs the SQPOLL threads share the one spared for them.
crowded = plan_cpus(range(2), 2, sq_threads=2, sqpoll=True)
print("sqpoll=True, 2 workers on 2 CPUs:", crowded.reason)
assert crowded.loop_cpus == (0,) and crowded.sq_cpus == (1,)

print("python -m ringloop info would say: sqpoll='auto':", sqpoll_auto_reason())
