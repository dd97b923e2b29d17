"""Recorder: batches, linger, backpressure, retries and reporting, delayed storage, shutdown."""
import asyncio
import gc
import warnings

import pytest
from helpers import run_checked

import ringloop
from ringloop.recorder import (
    JournalStorage,
    MemoryStorage,
    NotStored,
    Recorder,
    RecorderClosed,
    RecorderFull,
    StorageBroken,
)


class Probe(MemoryStorage):
    """A MemoryStorage that notes its batches, can be held at ``gate``, and fails ``failures`` times."""

    def __init__(self, failures=0, error=OSError("injected")):
        super().__init__()
        self.batches = []
        self.calls = 0
        self.failures = failures
        self.error = error
        self.gate = None
        self.stored = asyncio.Event()  # set after each batch stored
        self.closed = 0

    async def save(self, batch):
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise self.error
        self.batches.append(list(batch))
        await super().save(batch)
        self.stored.set()

    async def close(self):
        self.closed += 1


def test_save_flush_records_close(loop):
    async def main():
        storage = Probe()
        rec = Recorder(storage)
        for i in range(10):
            rec.save({"i": i})
        assert await rec.records() == [{"i": i} for i in range(10)]  # sees every save before it
        rec.save("more")
        await rec.flush()
        assert rec.stats().stored == 11 and rec.stats().pending == 0
        assert await rec.records(lambda r: r == "more") == ["more"]
        assert await rec.close() is storage
        assert storage.closed == 1
        assert await rec.close() is storage  # the same outcome again
        assert storage.closed == 1
        with pytest.raises(RecorderClosed):
            rec.save(1)
        with pytest.raises(RecorderClosed):
            await rec.records()

    run_checked(loop, main())


def test_seed_001_defect_batches_have_a_maximum_size(loop):
    async def main():
        storage = Probe()
        rec = Recorder(storage, max_batch=100, linger=0)
        for i in range(1050):
            rec.save(i)
        await rec.flush()
        assert max(len(b) for b in storage.batches) == 100
        assert [r for b in storage.batches for r in b] == list(range(1050))
        await rec.close()

    run_checked(loop, main())


def test_seed_001_defect_a_batch_lingers_for_more_records_but_not_longer(loop):
    async def main():
        storage = Probe()
        rec = Recorder(storage, linger=0.3)
        start = loop.time()
        rec.save(1)
        for _ in range(5):
            await asyncio.sleep(0)  # the actor takes record 1 and lingers
        rec.save(2)  # joins the lingering batch
        await rec.save_wait(3)
        assert 0.25 <= loop.time() - start < 10
        assert storage.batches == [[1, 2, 3]]
        rec.save(4)
        start = loop.time()
        await rec.flush()  # a flush does not linger
        assert loop.time() - start < 0.15
        assert storage.batches[-1] == [4]
        await rec.close()

    run_checked(loop, main())


def test_a_full_batch_does_not_wait_for_linger(loop):
    async def main():
        storage = Probe()
        rec = Recorder(storage, max_batch=10, linger=30)
        for i in range(10):
            rec.save(i)
        rec.save(10)
        await asyncio.wait_for(storage.stored.wait(), 10)  # not 30 s
        assert storage.batches == [list(range(10))]
        await rec.close()

    run_checked(loop, main())


def test_seed_001_defect_the_queue_is_bounded(loop):
    async def main():
        storage = Probe()
        storage.gate = asyncio.Event()
        rec = Recorder(storage, max_batch=4, max_pending=10, linger=0)
        for i in range(10):
            rec.save(i)
        with pytest.raises(RecorderFull):
            rec.save(10)
        assert rec.stats().pending == 10
        waiting = asyncio.ensure_future(rec.save_wait(10))  # waits for room
        for _ in range(5):
            await asyncio.sleep(0)
        assert not waiting.done() and rec.stats().pending == 10
        storage.gate.set()
        await waiting
        await rec.flush()
        assert [r for b in storage.batches for r in b] == list(range(11))
        await rec.close()

    run_checked(loop, main())


def test_a_storage_error_is_retried_with_backoff(loop):
    async def main():
        storage = Probe(failures=2)
        rec = Recorder(storage, backoff=0.01, linger=0)
        rec.save("x")
        await rec.flush()
        assert storage.calls == 3 and storage.batches == [["x"]]
        stats = rec.stats()
        assert stats.retries == 2 and stats.failures == 0 and stats.stored == 1
        await rec.close()

    run_checked(loop, main())


def test_seed_001_defect_a_batch_that_fails_for_good_is_reported_everywhere(loop):
    async def main():
        storage = Probe(failures=3)
        reported = []
        rec = Recorder(storage, backoff=0.001, linger=0, on_error=lambda exc, batch: reported.append((exc, batch)))
        rec.save("a")
        with pytest.raises(NotStored) as caught:
            await rec.save_wait("b")
        assert caught.value.__cause__ is storage.error
        assert reported == [(storage.error, ["a", "b"])]
        stats = rec.stats()
        assert stats.failures == 1 and stats.failed == 2 and stats.last_error is storage.error
        assert storage.calls == 3  # 3 attempts by default
        with pytest.raises(NotStored):  # the records saved since the start
            await rec.flush()
        await rec.flush()  # ... are reported once to flush()
        rec.save("c")
        await rec.flush()
        assert await rec.records() == ["c"]
        await rec.close()

    run_checked(loop, main())


def test_a_failure_is_reported_to_every_flush_that_covers_it_and_to_close(loop):
    async def main():
        storage = Probe()
        storage.gate = asyncio.Event()
        rec = Recorder(storage, attempts=1, linger=0, on_error=lambda exc, batch: None)
        rec.save(1)
        first = asyncio.ensure_future(rec.flush())
        await asyncio.sleep(0)  # a flush covers what was saved when it starts
        rec.save(2)
        second = asyncio.ensure_future(rec.flush())
        await asyncio.sleep(0)
        storage.failures = 5
        storage.gate.set()
        for flush in (first, second):
            with pytest.raises(NotStored):
                await flush
        storage.failures = 1
        rec.save(3)
        with pytest.raises(NotStored):
            await rec.close()
        with pytest.raises(NotStored):
            await rec.close()

    run_checked(loop, main())


def test_without_on_error_a_failure_is_logged(loop, caplog):
    async def main():
        rec = Recorder(Probe(failures=1), attempts=1, linger=0)
        rec.save(1)
        with pytest.raises(NotStored):
            await rec.flush()
        await rec.close()

    run_checked(loop, main())
    assert "was not stored" in caplog.text


def test_an_on_error_that_raises_goes_to_the_exception_handler(loop):
    async def main():
        contexts = []
        loop.set_exception_handler(lambda _loop, context: contexts.append(context))
        rec = Recorder(Probe(failures=1), attempts=1, linger=0, on_error=lambda exc, batch: 1 / 0)
        rec.save(1)
        with pytest.raises(NotStored):
            await rec.flush()
        assert isinstance(contexts[0]["exception"], ZeroDivisionError)
        await rec.close()

    loop.run_until_complete(main())


def test_storage_broken_is_not_retried(loop):
    async def main():
        storage = Probe(failures=5, error=StorageBroken("fsync failed"))
        rec = Recorder(storage, on_error=lambda exc, batch: None, linger=0)
        with pytest.raises(NotStored):
            await rec.save_wait(1)
        assert storage.calls == 1 and rec.stats().retries == 0
        with pytest.raises(NotStored):  # close() covers what was saved since the last flush()
            await rec.close()

    run_checked(loop, main())


def test_records_are_checked_and_copied_when_saved(loop, tmp_path):
    async def main():
        rec = Recorder(JournalStorage(tmp_path / "j"))
        record = {"n": 1}
        rec.save(record)
        record["n"] = 2  # too late: what was saved is stored
        with pytest.raises(TypeError):
            rec.save({"a set": {1}})
        with pytest.raises(TypeError):
            await rec.save_wait(object())
        assert rec.stats().pending == 1
        assert await rec.records() == [{"n": 1}]
        await rec.close()

    run_checked(loop, main())


def test_replace(loop):
    async def main():
        rec = Recorder(MemoryStorage())
        rec.save(1)
        rec.save(2)
        replacing = asyncio.ensure_future(rec.replace(["snapshot"]))
        await asyncio.sleep(0)
        rec.save(3)  # saved after the call: stored after the new content
        await replacing
        assert await rec.records() == ["snapshot", 3]
        await rec.close()

        class NoReplace:
            async def save(self, batch):
                pass

            async def load(self, query):
                return []

        plain = Recorder(NoReplace())
        with pytest.raises(TypeError, match="replace"):
            await plain.replace([])
        await plain.close()

    run_checked(loop, main())


def test_delayed_storage(loop):
    async def main():
        ready = asyncio.Event()
        storage = Probe()

        async def make():
            await ready.wait()
            return storage

        rec = Recorder.from_delayed_storage(make())
        rec.save("early")
        reading = asyncio.ensure_future(rec.records())
        for _ in range(5):
            await asyncio.sleep(0)
        assert not reading.done() and storage.batches == []
        ready.set()
        assert await reading == ["early"]
        assert await rec.close() is storage

    run_checked(loop, main())


def test_delayed_storage_checks_early_records_when_it_exists(loop, tmp_path):
    async def main():
        reported = []

        async def make():
            return JournalStorage(tmp_path / "j")

        rec = Recorder.from_delayed_storage(make(), on_error=lambda exc, batch: reported.append((exc, batch)))
        rec.save("fine")
        rec.save({"not json": {1}})
        rec.save("also fine")
        with pytest.raises(NotStored):
            await rec.flush()
        assert len(reported) == 1 and reported[0][1] == [{"not json": {1}}]
        assert isinstance(reported[0][0], TypeError)
        assert await rec.records() == ["fine", "also fine"]
        await rec.close()

    run_checked(loop, main())


def test_a_delayed_storage_that_fails_fails_its_records_and_closes(loop):
    async def main():
        reported = []

        async def make():
            raise ConnectionError("no database")

        rec = Recorder.from_delayed_storage(make(), on_error=lambda exc, batch: reported.append(batch))
        rec.save(1)
        with pytest.raises(NotStored):
            await rec.save_wait(2)
        assert reported == [[1, 2]]
        with pytest.raises(RecorderClosed, match="no database"):
            rec.save(3)
        with pytest.raises(RecorderClosed):
            await rec.close()

    run_checked(loop, main())


def test_an_unclosed_recorder_stores_its_records_when_the_loop_shuts_down_and_warns(tmp_path):
    path = tmp_path / "j"

    async def main():
        rec = Recorder(JournalStorage(path), linger=10)
        for i in range(100):
            rec.save(i)

    with pytest.warns(ResourceWarning, match="was not closed"):
        ringloop.run(main())

    async def check():
        journal = JournalStorage(path)  # closed by the Recorder: not locked
        assert await journal.load() == list(range(100))
        await journal.close()

    ringloop.run(check())


def test_bad_arguments(loop):
    async def main():
        for options in ({"max_batch": 0}, {"max_pending": -1}, {"attempts": 0}, {"linger": -1},
                        {"linger": float("inf")}, {"backoff": "1"}, {"max_batch": True}, {"on_error": 5}):
            with pytest.raises((TypeError, ValueError)):
                Recorder(MemoryStorage(), **options)
        with pytest.raises(TypeError, match="save"):
            Recorder(object())
        with pytest.raises(TypeError):
            Recorder.from_delayed_storage(MemoryStorage())

        async def make():
            return MemoryStorage()

        coro = make()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ValueError):
                Recorder.from_delayed_storage(coro, max_batch=0)
            del coro
            gc.collect()  # closed, so no "never awaited" warning
        rec = Recorder(MemoryStorage())
        with pytest.raises(TypeError):
            await rec.replace("not a list")
        with pytest.raises(TypeError):
            await rec.records(42)
        await rec.close()

    run_checked(loop, main())
    with pytest.raises(RuntimeError, match="running event loop"):
        Recorder(MemoryStorage())
