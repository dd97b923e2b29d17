"""Recorded tasks: each id runs to success at most once, and its state survives a restart."""
import asyncio
import os
import tempfile

import ringloop
from ringloop.recorder import JournalStorage, Launch, State, TaskRecorder

charged = []


async def charge_card(order: str, amount: int) -> None:
    await asyncio.sleep(0.01)  # talk to the payment service
    if amount <= 0:
        raise ValueError(f"bad amount {amount}")
    charged.append(order)


async def main(path: str) -> None:
    async with TaskRecorder.open(JournalStorage(path)) as tasks:
        assert await tasks.launch("order-17", charge_card, "order-17", 30) is Launch.STARTED
        assert await tasks.query("order-17") is State.WORKING  # seen at once
        # A second launch while it works, or after it succeeded, runs nothing.
        assert await tasks.launch("order-17", charge_card, "order-17", 30) is Launch.ALREADY_WORKING
        assert await tasks.wait("order-17", timeout=5) is State.SUCCESS  # on disk by now
        assert await tasks.launch("order-17", charge_card, "order-17", 30) is Launch.ALREADY_SUCCEEDED
        print("order-17:", tasks.info("order-17").state.name, "charged", charged)

        await tasks.launch("order-18", charge_card, "order-18", 0)
        assert await tasks.wait("order-18") is State.FAILED  # a failure may be launched again
        print("order-18:", tasks.info("order-18").error)
        assert await tasks.revoke("order-18") is False  # only a SUCCESS can be revoked

        await tasks.launch("order-19", asyncio.sleep, 3600)  # still working when we "crash" below
        await tasks.launch("order-20", charge_card, "order-20", 5)
        await tasks.wait("order-20")  # stored after order-19's WORKING record: that one is on disk too
        # Simulate a crash: reopen a copy of what is on disk now, with order-19 working.
        copy = path + ".crashed"
        with open(path, "rb") as src, open(copy, "wb") as dst:
            dst.write(src.read())
        await tasks.close(cancel=True)  # leaving the block would wait for order-19

    async with TaskRecorder.open(JournalStorage(copy)) as after_crash:
        assert after_crash.query_quick("order-17") is State.SUCCESS
        assert after_crash.query_quick("order-19") is State.FAILED  # interrupted, never WORKING
        print("after the crash: order-19 is", after_crash.info("order-19").error)
        print("FAILED ids:", after_crash.ids(State.FAILED))
        assert await after_crash.revoke("order-17") is True  # SUCCESS -> NOT_FOUND: may run again
        assert await after_crash.launch("order-17", charge_card, "order-17", 30) is Launch.STARTED
    assert charged == ["order-17", "order-20", "order-17"]


with tempfile.TemporaryDirectory() as directory:
    ringloop.run(main(os.path.join(directory, "tasks.journal")))
