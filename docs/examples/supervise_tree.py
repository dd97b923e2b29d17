"""Second degree, part two: a supervision tree with OTP's strategies.

The database signals when it is ready, and only then does the cache start; a crash of the
cache restarts it and what was started after it (rest_for_one); the nested "workers" tree
restarts all its children when one crashes (one_for_all); too many crashes in the nested
tree make it give up, which its parent sees as a crash of that child.
"""
import asyncio

import ringloop
from ringloop.supervise import Child, Restart, Supervisor, SupervisorGaveUp, notify_ready

log = []
crash = {name: asyncio.Event() for name in ["cache", "w1", "w2"]}
up = {name: asyncio.Event() for name in ["cache", "w1", "w2"]}


def service(name):
    async def run():
        log.append(f"start {name}")
        up[name].set()
        try:
            await crash[name].wait()
        except asyncio.CancelledError:
            log.append(f"stop {name}")
            raise
        crash[name].clear()
        raise RuntimeError(f"{name} crashed")

    return run


async def run_db():
    log.append("start db")
    await asyncio.sleep(0.01)  # connecting...
    notify_ready()
    log.append("db ready")
    try:
        await asyncio.Event().wait()
    finally:
        log.append("stop db")


async def crash_and_wait(name, last_to_restart):
    """Crash ``name`` and return once ``last_to_restart`` runs again."""
    log.clear()
    up[last_to_restart].clear()
    crash[name].set()
    await up[last_to_restart].wait()


async def main():
    workers = Supervisor([Child("w1", service("w1")), Child("w2", service("w2"))],
                         strategy="one_for_all", name="workers", max_restarts=1, period=5.0)
    tree = Supervisor([
        Child("db", run_db, restart=Restart.PERMANENT, shutdown=5.0, notify_ready=True),
        Child("cache", service("cache")),
        workers,
    ], strategy="rest_for_one", name="root", max_restarts=3, period=5.0)

    async with tree:
        print("started:", log)
        assert log == ["start db", "db ready", "start cache", "start w1", "start w2"]
        print("children:", [(c.name, c.kind) for c in tree.which_children()], tree.count_children())

        await crash_and_wait("cache", "w2")
        print("cache crashed, rest_for_one:", log)
        assert log == ["stop w2", "stop w1", "start cache", "start w1", "start w2"]

        await crash_and_wait("w1", "w2")
        print("w1 crashed, one_for_all in workers:", log)
        assert log == ["stop w2", "start w1", "start w2"]

        # A second restart within 5 s is one too many for "workers": it stops its other
        # child and gives up; its parent sees a crashed child and restarts it.
        await crash_and_wait("w2", "w2")
        print("workers gave up, root restarted it:", log)
        assert log == ["stop w1", "start w1", "start w2"]

        await tree.terminate_child("cache")  # and its spec stays, to restart later
        await tree.restart_child("cache")

    outcomes = await tree.shutdown()
    print("stopped in reverse order:", log[-4:], {name: o.kind for name, o in outcomes.items()})
    assert log[-4:] == ["stop w2", "stop w1", "stop cache", "stop db"]

    # Past its own intensity, the root gives up too, and `async with` raises.
    try:
        async with Supervisor([Child("cache", service("cache"))], max_restarts=0, name="fragile"):
            crash["cache"].set()
            await asyncio.Event().wait()
    except SupervisorGaveUp as gave_up:
        print("gave up:", gave_up, "| last error:", repr(gave_up.__cause__))
        assert gave_up.name == "fragile"


ringloop.run(main())
