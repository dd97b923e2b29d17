"""The sync log stays proportional to the ids held, not to the updates: it is compacted, and replays the same."""
import pytest
from helpers import run_checked

from ringloop.recorder import JournalStorage, MemoryStorage
from ringloop.sync import Replica, SyncedStorage, start_server
from ringloop.sync.store import COMPACT_FACTOR, COMPACT_MIN

TOKEN = "compaction-token"
IDS = 10
ROUNDS = 150  # 1,500 updates of 10 ids, 150 syncs: past COMPACT_MIN on both sides


def view(replica):
    return (replica.node, replica.records, replica.seqs, replica.seq, replica.acks, replica.horizon,
            replica.tree.root)


def test_logs_stay_bounded_across_many_updates_of_the_same_ids(loop, tmp_path):
    async def main():
        upstream = Replica(JournalStorage(tmp_path / "up.j"), node="upstream")
        await upstream.open()
        runner = await start_server(upstream, TOKEN)
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        node_log = JournalStorage(tmp_path / "node.j")
        node = SyncedStorage(node_log, upstream=url, token=TOKEN, interval=3600, node="node")
        longest = {"node": 0, "upstream": 0}
        for n in range(ROUNDS):
            for i in range(IDS):
                await node.put(f"id-{i}", "FAILED" if n % 3 else "WORKING", {"round": n})
            if n % 50 == 49:
                await node.put("id-0", "REVOKED")  # a tombstone, collected once acknowledged
            assert (await node.sync()).converged
            longest["node"] = max(longest["node"], len(await node_log.load(None)))
            longest["upstream"] = max(longest["upstream"], len(await upstream.storage.load(None)))
        bound = COMPACT_MIN + COMPACT_FACTOR * (IDS + 1 + 3) + IDS  # + the entries of one save
        assert longest["node"] <= bound and longest["upstream"] <= bound, longest
        assert node.replica.logged == len(await node_log.load(None))  # what it counts is what is there

        await node.put("last", "SUCCESS", 1)
        assert (await node.sync()).converged
        await node.put("last", "DELETED")           # the upstream's newest arrival, about to be collected
        for _ in range(2):
            assert (await node.sync()).converged
        assert "last" not in upstream.records
        await upstream.compact()
        await node.replica.compact()
        before = {"upstream": view(upstream), "node": view(node.replica)}
        await node.close()
        await runner.cleanup()
        await upstream.close()

        # Replayed from the compacted logs: the same state, arrival counter and clock floor included.
        upstream = Replica(JournalStorage(tmp_path / "up.j"))
        await upstream.open()
        again = Replica(JournalStorage(tmp_path / "node.j"))
        await again.open()
        assert view(upstream) == before["upstream"] and view(again) == before["node"]
        assert len(await upstream.storage.load(None)) == len(upstream.records) + len(upstream.acks) + 3
        runner = await start_server(upstream, TOKEN)
        await again.close()
        node = SyncedStorage(JournalStorage(tmp_path / "node.j"), upstream=f"http://127.0.0.1:{runner.addresses[0][1]}",
                             token=TOKEN, interval=3600)
        stats = await node.sync()
        assert stats.converged and stats.requests == 2 and not stats.pulled and not stats.pushed
        await node.put("later", "SUCCESS", 2)
        await node.sync()
        assert upstream.seqs["later"] == before["upstream"][3] + 1  # arrival numbers are never reused
        await node.close()
        await runner.cleanup()
        await upstream.close()

    run_checked(loop, main(), timeout=120)


def test_compact_needs_a_storage_that_can_replace(loop):
    class AppendOnly:
        def __init__(self):
            self.items = []

        async def save(self, batch):
            self.items += batch

        async def load(self, query):
            return list(self.items)

    async def main():
        replica = Replica(AppendOnly(), node="n")
        await replica.open()
        with pytest.raises(TypeError, match="replace"):
            await replica.compact()
        memory = Replica(MemoryStorage(), node="m")
        await memory.open()
        await memory.write("a", "SUCCESS", 1)
        await memory.compact()
        assert len(memory.storage) == 4

    run_checked(loop, main(), timeout=30)
