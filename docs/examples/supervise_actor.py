"""Third degree: actors. The seed's "add two numbers" actor, and a counter that crashes.

A crashing actor restarts with fresh state, its mailbox intact; a message that crashes it on
every delivery is dead-lettered and its ask fails with ActorCrashed, never hangs.
"""

import ringloop
from ringloop.supervise import Actor, ActorCrashed, ActorStopped, Supervisor, spawn


class Adder(Actor):
    """Add two numbers: the seed's example, as an actor."""

    async def handle(self, message):
        a, b = message
        return a + b


class Counter(Actor):
    def __init__(self, start: int = 0):
        self.n = start

    async def handle(self, msg):
        if msg == "boom":
            raise RuntimeError("counter exploded")
        self.n += msg
        return self.n


async def main():
    adder = await spawn(Adder)  # no supervisor: it runs in a one-worker group of its own
    total = await adder.ask((1, 2))
    print("1 + 2 =", total)
    assert total == 3
    await adder.stop()

    async with Supervisor(name="actors", max_restarts=5) as tree:
        ref = await spawn(Counter, 10, supervisor=tree, name="counter")
        ref.tell(5)  # no await, never blocks
        count = await ref.ask(1, timeout=1.0)
        print("counter:", count)
        assert count == 16
        try:
            await ref.ask("boom")  # crashes the actor on each of its 3 deliveries
        except ActorCrashed as crashed:
            print("ask failed:", crashed)
        fresh = await ref.ask(1)
        print("after the crashes, fresh state:", fresh)
        assert fresh == 11  # 10 (a new Counter(10)) + 1: the 5 and 1 before died with the old one
        print("children:", [(c.name, c.kind, c.restart.value) for c in tree.which_children()])
        print("dead letters:", [(d.message, len(d.errors)) for d in ref.dead_letters])
        assert [d.message for d in ref.dead_letters] == ["boom"]
        await ref.stop()
        try:
            ref.tell(1)
        except ActorStopped as stopped:
            print("after stop():", stopped)
        assert tree.which_children() == []


ringloop.run(main())
