"""Second degree, part one: a Mailbox loses no message when the consumer holding it crashes.

Compare with supervise_group.py: with a mailbox, the client needs no retry loop. A message
that crashes its consumer on every delivery ends up in dead_letters, with its errors.
"""

import ringloop
from ringloop.supervise import Group, Mailbox


async def main():
    box = Mailbox(maxsize=100, max_deliveries=3)
    answers = {}

    async def adder():
        while True:
            receipt = box.receive()
            async with receipt as (a, b):  # acknowledged when the block ends normally
                if a < 0:
                    raise ValueError(f"negative operand {a}")  # every delivery of it fails
                if (a, b) == (1, 2) and receipt.delivery == 1:
                    raise RuntimeError("crash on the first delivery")  # redelivered, first in line
                answers[a, b] = a + b

    async def client():
        for request in [(1, 2), (-1, 5), (3, 4)]:
            await box.put(request)
        await box.join()  # every message acknowledged or dead-lettered

    group = Group(adder, max_restarts=10)
    await group.scope(client())
    print("answers:", answers)
    print("dead letters:", [(d.message, [str(e) for e in d.errors]) for d in box.dead_letters])
    print("consumer restarts:", group.stats().restarts)
    assert answers == {(1, 2): 3, (3, 4): 7}
    assert [d.message for d in box.dead_letters] == [(-1, 5)] and len(box.dead_letters[0].errors) == 3
    assert group.stats().restarts == 4


ringloop.run(main())
