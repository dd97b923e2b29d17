"""A task that counts its turns: how the fairness tests see whether other tasks still run."""
import asyncio


def other_task_turns():
    """Start a task that counts its turns; returns it and a function that says how many it has had."""
    turns = [0]

    async def other():
        while True:
            turns[0] += 1
            await asyncio.sleep(0)

    return asyncio.ensure_future(other()), lambda: turns[0]
