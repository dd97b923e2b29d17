"""Third degree: actors handle one message at a time, in order, and restart fresh after a crash."""
import asyncio

import pytest

from ringloop.supervise import (Actor, ActorCrashed, ActorStopped, Supervisor, SupervisorGaveUp,
                                spawn)


class Counter(Actor):
    def __init__(self, start: int = 0):
        self.n = start

    async def handle(self, message):
        if message == "crash":
            raise RuntimeError("asked to crash")
        self.n += message
        return self.n


class Gated(Actor):
    """Answers each message with itself, once ``gate`` is set."""

    def __init__(self, gate: asyncio.Event):
        self.gate = gate

    async def handle(self, message):
        await self.gate.wait()
        return message


class Adder(Actor):
    """The seed's example: add two numbers."""

    async def handle(self, message):
        a, b = message
        return a + b


def test_the_counter_of_the_issue(run, others):
    async def main():
        ref = await spawn(Counter, 10)
        ref.tell(5)
        assert await ref.ask(1, timeout=1.0) == 16
        await ref.stop()
        assert not others()

    run(main())


def test_the_seeds_adder(run):
    async def main():
        ref = await spawn(Adder)
        assert await ref.ask((1, 2)) == 3
        await ref.stop()

    run(main())


def test_a_crash_restarts_with_fresh_state_and_keeps_the_mailbox(run):
    async def main():
        ref = await spawn(Counter, 100, max_deliveries=1)
        ref.tell(1)
        ref.tell("crash")
        ref.tell(2)
        ref.tell(3)
        # 101, then a crash (dead-lettered after its one delivery), then a fresh 100 + 2 + 3
        assert await ref.ask(0) == 105
        assert [letter.message for letter in ref.dead_letters] == ["crash"]
        await ref.stop()

    run(main())


def test_a_poison_message_is_redelivered_then_dead_lettered_and_its_ask_fails(run):
    async def main():
        deliveries = []

        class Picky(Actor):
            async def handle(self, message):
                deliveries.append(message)
                if message == "poison":
                    raise ValueError(f"cannot digest #{deliveries.count('poison')}")
                return message.upper()

        ref = await spawn(Picky, max_deliveries=3)
        with pytest.raises(ActorCrashed) as raised:
            await ref.ask("poison")
        assert [str(e) for e in raised.value.errors] == [f"cannot digest #{n}" for n in (1, 2, 3)]
        assert raised.value.__cause__ is raised.value.errors[-1] and raised.value.message == "poison"
        assert deliveries == ["poison"] * 3
        assert [letter.message for letter in ref.dead_letters] == ["poison"]
        assert await ref.ask("fine") == "FINE"  # three crashes: within the default 3 restarts
        await ref.stop()

    run(main())


def test_messages_are_handled_one_at_a_time_in_order(run):
    async def main():
        log = []

        class Slow(Actor):
            async def handle(self, message):
                log.append(("begin", message))
                await asyncio.sleep(0)
                await asyncio.sleep(0)
                log.append(("end", message))
                return message

        ref = await spawn(Slow)
        answers = await asyncio.gather(*(ref.ask(n) for n in range(5)))
        assert answers == list(range(5))
        assert log == [(step, n) for n in range(5) for step in ("begin", "end")]
        await ref.stop()

    run(main())


def test_tell_never_blocks_and_a_full_mailbox_raises(run):
    async def main():
        gate = asyncio.Event()
        ref = await spawn(Gated, gate, maxsize=2)
        ref.tell(1)
        ref.tell(2)
        with pytest.raises(asyncio.QueueFull):
            ref.tell(3)
        with pytest.raises(asyncio.QueueFull):
            await ref.ask(3)
        gate.set()
        await ref.stop()

    run(main())


def test_an_ask_times_out_and_the_late_answer_is_dropped(run):
    async def main():
        gate = asyncio.Event()
        ref = await spawn(Gated, gate)
        with pytest.raises(TimeoutError, match="did not answer within 0.05 s"):
            await ref.ask("hello", timeout=0.05)
        gate.set()
        assert await ref.ask("again") == "again"
        await ref.stop()

    run(main())


def test_stop_lets_the_sent_messages_be_handled_then_refuses_more(run, others):
    async def main():
        handled = []

        class Recorder(Actor):
            async def handle(self, message):
                await asyncio.sleep(0)
                handled.append(message)

        ref = await spawn(Recorder)
        for n in range(10):
            ref.tell(n)
        await ref.stop()
        assert handled == list(range(10))
        with pytest.raises(ActorStopped):
            ref.tell(10)
        with pytest.raises(ActorStopped):
            await ref.ask(10)
        await ref.stop()  # again: nothing to do
        assert not others()

    run(main())


def test_stop_dead_letters_what_the_actor_could_not_reach(run):
    async def main():
        class Stuck(Actor):
            async def handle(self, message):
                await asyncio.Event().wait()

        ref = await spawn(Stuck)
        ref.tell("held")
        asking = asyncio.create_task(ref.ask("never reached", timeout=None))
        await asyncio.sleep(0)
        await ref.stop(timeout=0.05)
        with pytest.raises(ActorStopped):
            await asking
        letters = {letter.message: type(letter.errors[-1]) for letter in ref.dead_letters}
        # "held" was taken by the actor when it was cancelled: back in the mailbox, then dead-lettered.
        assert letters == {"held": ActorStopped, "never reached": ActorStopped}

    run(main())


def test_an_actor_under_a_supervisor(run, others):
    async def main():
        async with Supervisor(name="actors") as tree:
            ref = await spawn(Counter, 1, supervisor=tree, name="counter")
            assert [(i.name, i.restart.value) for i in tree.which_children()] == [("counter", "transient")]
            assert await ref.ask(1) == 2
            ref.tell("crash")
            assert await ref.ask(1) == 2  # fresh state after the restart
            await ref.stop()
            assert tree.which_children() == []
        assert not others()

    run(main())


def test_actor_crashes_count_against_the_supervisors_intensity(run):
    async def main():
        tree = Supervisor(name="actors", max_restarts=1, period=60)
        with pytest.raises(SupervisorGaveUp):
            async with tree:
                ref = await spawn(Counter, supervisor=tree, max_deliveries=5)
                await ref.ask("crash", timeout=None)  # cancelled when the tree gives up
        assert len(ref.dead_letters) == 0 and ref.pending == 1

    run(main())


def test_an_actor_without_supervisor_that_gave_up_says_so_on_stop(run):
    async def main():
        ref = await spawn(Counter, max_restarts=1, max_deliveries=5)
        with pytest.raises(TimeoutError):
            await ref.ask("crash", timeout=0.2)
        with pytest.raises(SupervisorGaveUp, match="more than 1 restarts"):
            await ref.stop(timeout=0.05)

    run(main())


def test_spawn_refuses_bad_arguments(run):
    async def main():
        with pytest.raises(TypeError, match="actor_class must be a subclass of Actor"):
            await spawn(dict)
        with pytest.raises(TypeError):
            await spawn(Counter, 1, 2, 3)  # checked by building the first instance
        with pytest.raises(TypeError, match="supervisor must be a Supervisor"):
            await spawn(Counter, supervisor="tree")
        with pytest.raises(ValueError, match="max_restarts and period apply to an actor without"):
            await spawn(Counter, supervisor=Supervisor(), max_restarts=3)
        with pytest.raises(ValueError, match="max_deliveries must be at least 1"):
            await spawn(Counter, max_deliveries=0)
        ref = await spawn(Counter)
        with pytest.raises(ValueError, match="timeout"):
            await ref.ask(1, timeout=-1)
        with pytest.raises(TypeError, match="timeout"):
            await ref.stop(timeout=None)
        await ref.stop()

    run(main())


def test_asks_sharing_a_timeout_expire_in_order_and_others_are_answered(run):
    async def main():
        gate = asyncio.Event()
        ref = await spawn(Gated, gate)
        blocked = asyncio.ensure_future(ref.ask("block", timeout=None))
        short = [asyncio.ensure_future(ref.ask(n, timeout=0.05)) for n in range(3)]
        patient = asyncio.ensure_future(ref.ask("patient", timeout=30))
        results = await asyncio.gather(*short, return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in results)
        assert not patient.done()
        gate.set()
        assert await blocked == "block" and await patient == "patient"
        assert await ref.ask("again", timeout=0.05) == "again"
        await ref.stop()
        assert ref._expiries == {}  # no timer outlives the actor

    run(main())
