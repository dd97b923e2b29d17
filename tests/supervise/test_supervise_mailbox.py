"""Second degree: a Mailbox delivers at least once, in order, and loses nothing to a crashing consumer."""
import asyncio

import pytest

from ringloop.supervise import DeadLetter, Group, Mailbox


async def take(box):
    async with box.receive() as message:
        return message


def test_messages_arrive_in_order_and_are_acknowledged(run):
    async def main():
        box = Mailbox()
        for n in range(3):
            box.put_nowait(n)
        await box.put(3)
        assert len(box) == 4
        assert [await take(box) for _ in range(4)] == [0, 1, 2, 3]
        assert len(box) == 0 and box.in_flight == 0 and box.dead_letters == []

    run(main())


def test_a_failed_delivery_goes_back_first_in_line(run):
    async def main():
        box = Mailbox()
        for message in "abc":
            box.put_nowait(message)
        with pytest.raises(ValueError):
            async with box.receive() as message:
                assert message == "a" and box.in_flight == 1
                raise ValueError("consumer crashed")
        assert box.in_flight == 0 and len(box) == 3
        receipt = box.receive()
        async with receipt as message:
            assert message == "a" and receipt.delivery == 2
        assert [await take(box), await take(box)] == ["b", "c"]

    run(main())


def test_a_consumer_cancelled_while_holding_a_message_gives_it_back(run):
    async def main():
        box = Mailbox()
        holding = asyncio.Event()

        async def consumer():
            async with box.receive():
                holding.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(consumer())
        box.put_nowait("precious")
        await holding.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await take(box) == "precious"

    run(main())


def test_a_receiver_cancelled_while_waiting_takes_nothing(run):
    async def main():
        box = Mailbox()
        waiting = [asyncio.create_task(take(box)) for _ in range(2)]
        await asyncio.sleep(0)
        box.put_nowait("only")  # wakes the first receiver...
        waiting[0].cancel()  # ...which is cancelled before it runs: the turn passes on
        assert await waiting[1] == "only"
        assert waiting[0].cancelled()

    run(main())


def test_the_last_failed_delivery_is_dead_lettered_with_every_error(run):
    async def main():
        box = Mailbox(max_deliveries=3)
        box.put_nowait("poison")
        box.put_nowait("fine")
        for attempt in range(3):
            with pytest.raises(RuntimeError):
                async with box.receive() as message:
                    assert message == "poison"
                    raise RuntimeError(attempt)
        assert box.dead_letters == [DeadLetter("poison", box.dead_letters[0].errors)]
        assert [e.args[0] for e in box.dead_letters[0].errors] == [0, 1, 2]
        assert await take(box) == "fine"

    run(main())


def test_in_flight_messages_count_against_maxsize(run):
    async def main():
        box = Mailbox(maxsize=2)
        box.put_nowait(1)
        box.put_nowait(2)
        assert box.full()
        with pytest.raises(asyncio.QueueFull):
            box.put_nowait(3)
        receipt = box.receive()
        await receipt.__aenter__()
        # Taken but not acknowledged: still no room, so a redelivery can never overflow.
        with pytest.raises(asyncio.QueueFull):
            box.put_nowait(3)
        putter = asyncio.create_task(box.put(3))
        await asyncio.sleep(0)
        assert not putter.done()
        await receipt.__aexit__(None, None, None)
        await putter
        assert [await take(box), await take(box)] == [2, 3]

    run(main())


def test_a_putter_cancelled_after_being_woken_passes_its_turn(run):
    async def main():
        box = Mailbox(maxsize=1)
        box.put_nowait("full")
        putters = [asyncio.create_task(box.put(n)) for n in range(2)]
        await asyncio.sleep(0)
        assert await take(box) == "full"  # wakes the first putter
        putters[0].cancel()
        await asyncio.gather(putters[1])
        assert await take(box) == 1

    run(main())


def test_join_waits_until_nothing_is_queued_or_in_flight(run):
    async def main():
        box = Mailbox()
        await box.join()  # empty: returns at once
        for n in range(3):
            box.put_nowait(n)
        joined = asyncio.create_task(box.join())
        handled = []
        for _ in range(3):
            await asyncio.sleep(0)
            assert not joined.done()
            handled.append(await take(box))
        await joined
        assert handled == [0, 1, 2]

    run(main())


def test_drain_takes_what_waits_redeliveries_first(run):
    async def main():
        box = Mailbox()
        for n in range(3):
            box.put_nowait(n)
        with pytest.raises(KeyError):
            async with box.receive():
                raise KeyError
        assert box.drain() == [0, 1, 2]
        assert len(box) == 0 and box.in_flight == 0

    run(main())


def test_a_receipt_delivers_once(run):
    async def main():
        box = Mailbox()
        box.put_nowait(1)
        box.put_nowait(2)
        receipt = box.receive()
        async with receipt:
            pass
        with pytest.raises(RuntimeError, match="one message"):
            async with receipt:
                pass
        assert len(box) == 1

    run(main())


def test_crashing_consumers_in_a_group_lose_nothing(run):
    async def main():
        box = Mailbox(maxsize=10)
        handled = []
        crashes = 0
        done = asyncio.Event()

        async def consumer():
            nonlocal crashes
            while True:
                receipt = box.receive()
                async with receipt as n:
                    if n % 7 == 3 and receipt.delivery == 1:
                        crashes += 1
                        raise ValueError(n)
                    handled.append(n)
                    if len(handled) == 100:
                        done.set()

        async def produce():
            for n in range(100):
                await box.put(n)  # producers never see a consumer's crash
            await done.wait()

        await Group(consumer, size=3, max_restarts=100).scope(produce())
        assert sorted(handled) == list(range(100)) and crashes > 0
        assert box.dead_letters == []

    run(main())


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(maxsize=-1), ValueError, "maxsize must be at least 0"),
    (dict(maxsize=None), TypeError, "maxsize must be an int"),
    (dict(max_deliveries=0), ValueError, "max_deliveries must be at least 1"),
])
def test_bad_arguments_are_refused_by_name(kwargs, error, words):
    with pytest.raises(error, match=words):
        Mailbox(**kwargs)


def test_drain_lets_in_as_many_putters_as_it_freed_room_for(run):
    async def main():
        box = Mailbox(maxsize=2)
        box.put_nowait("a")
        box.put_nowait("b")
        putters = [asyncio.create_task(box.put(n)) for n in range(2)]
        await asyncio.sleep(0)
        assert box.drain() == ["a", "b"]
        await asyncio.gather(*putters)
        assert box.drain() == [0, 1]

    run(main())
