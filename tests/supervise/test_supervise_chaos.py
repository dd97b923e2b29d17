"""Chaos: workers and actors crashing at random (seeded) over 10,000 messages.

Every message is processed at least once or dead-lettered with an error for each of its
deliveries, intensity limits hold exactly, and whatever is stopped leaves no task behind.
"""
import asyncio
import random
from collections import Counter

import pytest

from ringloop.supervise import (Actor, ActorCrashed, Child, Group, Mailbox, Supervisor,
                                SupervisorGaveUp, spawn)

MESSAGES = 10_000
SEEDS = [1, 2]


class Crash(Exception):
    pass


@pytest.mark.parametrize("seed", SEEDS)
def test_crashing_group_consumers_lose_no_message(run, others, seed):
    async def main():
        rng = random.Random(seed)
        box = Mailbox(maxsize=256, max_deliveries=3)
        processed = Counter()
        failed_deliveries = Counter()
        crashes_between_messages = 0

        async def consumer():
            nonlocal crashes_between_messages
            while True:
                roll = rng.random()
                if roll < 0.002:
                    crashes_between_messages += 1
                    raise Crash("between messages")
                async with box.receive() as n:
                    if roll < 0.12:
                        failed_deliveries[n] += 1
                        if roll < 0.05:
                            await asyncio.sleep(0)  # crash after a wait, holding the message
                        raise Crash(n)
                    processed[n] += 1

        async def produce():
            for n in range(MESSAGES):
                await box.put(n)
            await box.join()

        group = Group(consumer, size=4, max_restarts=MESSAGES, period=60)
        await group.scope(produce())
        dead = {letter.message: letter for letter in box.dead_letters}
        assert set(processed) | set(dead) == set(range(MESSAGES))
        assert not set(processed) & set(dead)
        assert all(count == 1 for count in processed.values())  # a success is acknowledged once
        for n, letter in dead.items():
            assert failed_deliveries[n] == 3 and [e.args[0] for e in letter.errors] == [n] * 3
        stats = group.stats()
        assert stats.failures == sum(failed_deliveries.values()) + crashes_between_messages
        assert stats.restarts == stats.failures and stats.completed == 0
        assert len(dead) > 0 and stats.failures > 1000
        assert not others()

    run(main())


@pytest.mark.parametrize("seed", SEEDS)
def test_crashing_actors_answer_or_dead_letter_every_message(run, others, seed):
    async def main():
        rng = random.Random(seed)
        handled = Counter()
        busy = set()

        class Flaky(Actor):
            def __init__(self, name):
                self.name = name
                self.seen = 0  # fresh after every restart

            async def handle(self, n):
                assert self.name not in busy, "two messages at once"
                busy.add(self.name)
                try:
                    self.seen += 1
                    if n % 3 == 0:
                        await asyncio.sleep(0)
                    if rng.random() < 0.08:
                        raise Crash(n)
                finally:
                    busy.discard(self.name)
                handled[n] += 1
                return n * 2

        tree = Supervisor(name="actors", max_restarts=MESSAGES, period=60)
        async with tree:
            refs = [await spawn(Flaky, f"flaky{i}", supervisor=tree, maxsize=0) for i in range(3)]
            asks = {}
            for n in range(MESSAGES):
                ref = refs[n % 3]
                if n % 10 == 0:
                    asks[n] = asyncio.ensure_future(ref.ask(n, timeout=None))
                else:
                    ref.tell(n)
            answers = await asyncio.gather(*asks.values(), return_exceptions=True)
            for ref in refs:
                await ref.stop(timeout=10)
        dead = {letter.message: letter for ref in refs for letter in ref.dead_letters}
        assert set(handled) | set(dead) == set(range(MESSAGES))
        assert not set(handled) & set(dead)
        assert all(len(letter.errors) == 3 for letter in dead.values())
        for n, answer in zip(asks, answers):
            if n in dead:
                assert isinstance(answer, ActorCrashed) and answer.message == n
            else:
                assert answer == n * 2
        assert dead and not others()

    run(main())


@pytest.mark.parametrize("seed", SEEDS)
def test_intensity_limits_hold_exactly_under_random_crashes(run, others, seed):
    async def main():
        rng = random.Random(seed)
        box = Mailbox()
        for n in range(MESSAGES):
            box.put_nowait(n)
        crashes = 0

        async def consumer():
            nonlocal crashes
            while True:
                async with box.receive():
                    if rng.random() < 0.001:
                        crashes += 1
                        raise Crash(crashes)

        group = Group(consumer, size=4, max_restarts=5, period=60)
        with pytest.raises(SupervisorGaveUp) as raised:
            await group.scope(box.join())
        stats = group.stats()
        # Five restarts allowed: the sixth crash was one too many, and nothing restarted after
        # it. (Workers that crashed in the same loop iteration, before the group could stop
        # them, are counted as failures too.)
        assert (stats.restarts, stats.started) == (5, 9)
        assert stats.failures == crashes >= 6
        assert [e.args[0] for e in raised.value.errors] == [1, 2, 3, 4, 5, 6]
        assert not others()

    run(main())


@pytest.mark.parametrize("seed", SEEDS)
def test_a_chaotic_tree_stops_cleanly_and_reports_a_stubborn_child(run, others, seed):
    async def main():
        rng = random.Random(seed)
        loop = asyncio.get_running_loop()
        box = Mailbox(maxsize=100)
        processed = set()
        release = asyncio.Event()

        async def consumer():
            while True:
                async with box.receive() as n:
                    if rng.random() < 0.05:
                        raise Crash()
                    processed.add(n)

        async def pool():
            await Group(consumer, size=2, max_restarts=MESSAGES, period=60).scope(asyncio.Event().wait())

        async def stubborn():
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                await release.wait()

        workers = Supervisor([Child("pool", pool)] + [Child(f"consumer{i}", consumer) for i in range(3)],
                             name="workers", strategy="one_for_all", max_restarts=MESSAGES, period=60)
        tree = Supervisor([workers, Child("stubborn", stubborn, shutdown=0.2)], name="root")
        async with tree:
            for n in range(MESSAGES):
                await box.put(n)
            await box.join()
            began = loop.time()
        # The stubborn child, stopped first, got its 0.2 s; the tree went on without it.
        assert loop.time() - began >= 0.19
        outcomes = await tree.shutdown()
        assert {name: o.kind for name, o in outcomes.items()} == {"stubborn": "stuck", "workers": "cancelled"}
        dead = {letter.message for letter in box.dead_letters}
        assert processed | dead == set(range(MESSAGES)) and not processed & dead
        assert others() == {outcomes["stubborn"].task}
        release.set()
        await outcomes["stubborn"].task

    run(main())
