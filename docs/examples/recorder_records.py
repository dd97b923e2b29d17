"""Save records without waiting for storage: batches, group commit, errors reported, never lost in silence."""
import asyncio
import os
import tempfile

import ringloop
from ringloop.recorder import JournalStorage, MemoryStorage, NotStored, Recorder


async def main(directory: str) -> None:
    failures = []
    rec = Recorder(JournalStorage(os.path.join(directory, "events.journal")), max_batch=1024, linger=0.002,
                   max_pending=65536, on_error=lambda exc, batch: failures.append((exc, len(batch))))
    for user in range(5000):
        rec.save({"user": user, "event": "login"})  # no await: queued, stored in batches
    await rec.save_wait({"user": 0, "event": "logout"})  # returns once its batch is on disk
    await rec.flush()  # everything saved so far is stored
    stats = rec.stats()
    print(f"stored {stats.stored} records in {stats.batches} batches (one write + one fdatasync each)")
    assert stats.stored == 5001 and stats.batches < 5001 and not failures

    logouts = await rec.records(lambda r: r["event"] == "logout")  # sees every save before the call
    assert logouts == [{"user": 0, "event": "logout"}]
    try:
        rec.save({"when": {1, 2}})  # not JSON: refused at the call, nothing queued
    except TypeError as exc:
        print("refused:", exc)
    storage = await rec.close()  # stores what is pending, closes the journal, returns it
    print("journal:", storage)

    # A storage that is not ready yet: saves queue until it is.
    async def connect() -> MemoryStorage:
        await asyncio.sleep(0.01)
        return MemoryStorage()

    early = Recorder.from_delayed_storage(connect())
    early.save("saved before the storage existed")
    assert await early.records() == ["saved before the storage existed"]
    await early.close()

    # A storage that fails: retried with backoff, then reported to on_error, stats() and flush().
    class Down(MemoryStorage):
        async def save(self, batch):
            raise ConnectionError("database is down")

    broken = Recorder(Down(), backoff=0.001, on_error=lambda exc, batch: failures.append((exc, len(batch))))
    broken.save({"lost": True})
    try:
        await broken.flush()
    except NotStored as exc:
        print("flush:", exc)
    print("on_error saw:", failures, "retries:", broken.stats().retries)
    assert broken.stats().failed == 1 and len(failures) == 1
    await broken.close()


with tempfile.TemporaryDirectory() as directory:
    ringloop.run(main(directory))
