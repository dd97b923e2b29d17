"""An upstream and three nodes on loopback: partition, concurrent updates, revoke, tombstones, security."""

import aiohttp
import pytest
from helpers import open_fds, run_checked

from ringloop.recorder import JournalStorage, MemoryStorage
from ringloop.sync import Record, Replica, SyncedStorage, UpstreamError, start_server
from ringloop.sync.protocol import CONTENT_TYPE, MAGIC, RESPONSE, ROUTES, VERSION, Reader, Writer

TOKEN = "s3cret-token"


async def start_upstream(storage, port=0, max_body=1 << 20):
    replica = Replica(storage, node="upstream")
    await replica.open()
    runner = await start_server(replica, TOKEN, port=port, max_body=max_body)
    return replica, runner, runner.addresses[0][1]


async def converge(nodes, rounds=10):
    """Sync every node in turn until, in one pass, each found the upstream equal and moved nothing."""
    for _ in range(rounds):
        results = [await node.sync() for node in nodes]
        if all(s.converged and not s.pulled and not s.pushed for s in results):
            return
    raise AssertionError("nodes did not converge")


def test_three_nodes_partition_concurrent_updates_and_revoke(loop, tmp_path):
    fds = open_fds()

    async def main():
        upstream, runner, port = await start_upstream(JournalStorage(tmp_path / "up.journal"))
        url = f"http://127.0.0.1:{port}"
        nodes = [SyncedStorage(JournalStorage(tmp_path / f"n{i}.journal"), upstream=url, token=TOKEN,
                               interval=3600, node=f"node{i}") for i in range(3)]
        for node in nodes:
            await node.open()
        for i, node in enumerate(nodes):
            for n in range(20):
                await node.put(f"own-{i}-{n}", "SUCCESS", {"by": i})
        await converge(nodes)

        await runner.cleanup()  # partition: the upstream goes away, the nodes keep recording
        for i, node in enumerate(nodes):
            for n in range(10):
                await node.put(f"shared-{n}", "FAILED" if i else "WORKING", {"by": i, "n": n})
            with pytest.raises(UpstreamError):
                await node.sync()
        await nodes[1].put("shared-3", "SUCCESS", {"by": 1})        # a success beats later failures
        await nodes[2].put("shared-3", "FAILED", {"by": 2, "late": True})
        await nodes[0].put("own-1-5", "REVOKED")                    # a revoke of another node's success
        await nodes[2].put("own-2-0", "DELETED")

        runner = await start_server(upstream, TOKEN, port=port)     # back, on the same port
        await nodes[0].sync()
        await nodes[2].sync()
        # node1 has not acknowledged them yet: the tombstones are held
        assert upstream.records["own-1-5"].state == "REVOKED" and upstream.records["own-2-0"].state == "DELETED"
        await nodes[1].sync()
        # node1 took the revoke of its success, acknowledged last, and so let every node collect it
        assert nodes[1].get("own-1-5") is None and "own-1-5" not in upstream.records
        await converge(nodes)
        states = [node.state() for node in nodes]
        assert states[0] == states[1] == states[2]
        assert states[0] == {rid: (r.state, r.payload) for rid, r in upstream.records.items()}
        assert states[0]["shared-3"] == ("SUCCESS", {"by": 1})
        winners = {states[0][f"shared-{n}"][1]["by"] for n in range(10) if n != 3}
        assert len(winners) == 1  # one writer won every id it last wrote, the same on every node
        live = await nodes[1].load()
        assert len(live) == 60 + 10 - 2
        # Every node has acknowledged the tombstones: they are collected everywhere.
        assert "own-1-5" not in upstream.records and "own-2-0" not in upstream.records
        assert all("own-1-5" not in node.state() for node in nodes)
        for node in nodes:
            await node.close()
        await runner.cleanup()
        await upstream.close()

    run_checked(loop, main(), timeout=60)
    assert open_fds() == fds


def test_a_node_back_after_collection_cannot_resurrect_a_deleted_id(loop):
    async def main():
        upstream, runner, port = await start_upstream(MemoryStorage())
        url = f"http://127.0.0.1:{port}"
        a = SyncedStorage(MemoryStorage(), upstream=url, token=TOKEN, interval=3600, node="a")
        b_log = MemoryStorage()
        b = SyncedStorage(b_log, upstream=url, token=TOKEN, interval=3600, node="b")
        await a.put("gone", "SUCCESS", 1)
        await converge([a, b])
        await b.upstream.close()
        stale = list(b_log._records)  # b's log as it was: "gone" is a SUCCESS in it

        await a.put("gone", "DELETED")
        await converge([a, b])
        await converge([a, b])          # all acknowledged: the tombstone is collected
        assert "gone" not in upstream.records

        # b comes back from a backup taken before the delete (or was forgotten and returns)
        back = SyncedStorage(MemoryStorage(stale), upstream=url, token=TOKEN, interval=3600)
        await back.open()
        assert back.get("gone").state == "SUCCESS" and back.node == "b"
        await converge([back, a])
        assert "gone" not in upstream.records and back.get("gone") is None and a.get("gone") is None
        for node in (a, b, back):
            await node.close()
        await runner.cleanup()

    run_checked(loop, main(), timeout=60)


def test_tombstones_wait_for_every_known_node(loop):
    async def main():
        upstream, runner, port = await start_upstream(MemoryStorage())
        url = f"http://127.0.0.1:{port}"
        a = SyncedStorage(MemoryStorage(), upstream=url, token=TOKEN, interval=3600, node="a")
        away = SyncedStorage(MemoryStorage(), upstream=url, token=TOKEN, interval=3600, node="away")
        await a.put("x", "SUCCESS")
        await converge([a, away])
        await a.put("x", "REVOKED")
        for _ in range(3):
            await converge([a])
        assert upstream.records["x"].state == "REVOKED"  # "away" has not acknowledged it
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{url}/v1/forget", json={"node": "away"},
                                    headers={"Authorization": f"Bearer {TOKEN}"}) as response:
                assert response.status == 200 and (await response.json())["forgotten"] is True
        assert "x" not in upstream.records
        for node in (a, away):
            await node.close()
        await runner.cleanup()

    run_checked(loop, main(), timeout=60)


SALT = b"\x02" * 16


def push(*records, node="n"):
    return Writer(ROUTES["push"]).text(node).records(list(records)).finish()


def records_message(*records):
    """A push of (id, state code, payload JSON) records, written field by field: invalid ones too."""
    message = Writer(ROUTES["push"]).text("n").varint(1).text("n").varint(len(records))
    for rid, state, payload in records:
        message.text(rid).varint(state).blob(payload).hlc((1, 0)).varint(0).varint(0)
    return message.finish()


def test_auth_size_and_malformed_requests_change_nothing(loop):
    async def main():
        upstream, runner, port = await start_upstream(MemoryStorage(), max_body=4096)
        url = f"http://127.0.0.1:{port}/v1"
        good = {"Authorization": f"Bearer {TOKEN}", "Content-Type": CONTENT_TYPE}
        record = Record("k", "SUCCESS", 1, (1, 0), "n")
        before = upstream.tree.root
        big = [Record(f"k{n}", "SUCCESS", "x" * 40, (1, 0), "n") for n in range(300)]  # 15 kB: over 4096
        cases = [
            ("push", {}, push(record), 401),
            ("push", {"Authorization": "Bearer wrong"}, push(record), 401),
            ("push", {"Authorization": TOKEN}, push(record), 401),
            ("push", good, push(*big), 413),
            ("push", good, push(record)[:-1], 400),                      # cut short
            ("push", good, push(record) + b"\0", 400),                   # bytes left over
            ("push", good, records_message(("k", 2, b"1"), ("k2", 9, b"1")), 400),  # 2nd: no such state
            ("push", good, records_message(("k", 2, b"1"), ("k2", 3, b"1")), 400),  # 2nd: a tombstone with a payload
            ("push", good, records_message(("k", 2, b"1"), ("k2", 2, b"{x")), 400),  # 2nd: payload not JSON
            ("push", good, push(record, node=""), 400),                   # an empty node id
            ("push", good, b'{"node": "n", "records": []}', 400),        # JSON: not this protocol
            ("push", good, MAGIC + bytes((VERSION + 1,)) + push(record)[5:], 400),  # a future version
            ("hello", good, push(record), 400),                           # a push sent to hello
            ("compare", good, Writer(ROUTES["compare"]).blob(SALT).varint(0).indexes([0]).blob(b"x").finish(), 400),
            ("compare", good, Writer(ROUTES["compare"]).blob(SALT).varint(99).indexes([]).blob(b"").finish(), 400),
            ("compare", good, Writer(ROUTES["compare"]).blob(b"short").varint(0).indexes([0]).blob(b"\0" * 16)
             .finish(), 400),                                              # a salt of 5 bytes
            ("compare", good, Writer(ROUTES["compare"]).blob(SALT).varint(0).indexes([0]).blob(b"\0" * 15)
             .finish(), 400),                                              # 3 fingerprints and 3 bytes
            ("leaves", good, Writer(ROUTES["leaves"]).blob(SALT).indexes([0]).varint(3).blob(b"").finish(), 400),
            ("root", good, Writer(ROUTES["root"]).text("n").blob(b"\0" * 3).hlc((1, 0)).finish(), 400),
            ("forget", good, b"{not json", 400),
        ]
        async with aiohttp.ClientSession() as session:
            for route, headers, body, status in cases:
                async with session.post(f"{url}/{route}", data=body, headers=headers) as response:
                    assert response.status == status, (route, body[:40], await response.read())
            assert upstream.tree.root == before and upstream.records == {} and upstream.acks == {}
            async with session.post(f"{url}/push", data=push(record), headers=good) as response:
                assert response.status == 200  # the same request, well formed: accepted
                answer = Reader(await response.read(), ROUTES["push"] | RESPONSE)
                assert answer.varint() == 0  # nothing rejected
        assert upstream.tree.root != before and list(upstream.records) == ["k"]
        assert upstream.acks == {}
        await runner.cleanup()

    run_checked(loop, main(), timeout=30)


def test_node_keeps_working_while_upstream_is_down(loop):
    async def main():
        node = SyncedStorage(MemoryStorage(), upstream="http://127.0.0.1:9", token=TOKEN, interval=0.01)
        await node.save([["S", "t1", 1.0, 2.0, None], ["R", "t1"], ["S", "t2", 1.0, 2.0, None]])
        assert await node.load() == [["S", "t2", 1.0, 2.0, None]]
        with pytest.raises(UpstreamError):
            await node.sync()
        assert isinstance(node.error, UpstreamError)
        await node.close()
        with pytest.raises(TypeError):
            await SyncedStorage(MemoryStorage(), upstream="http://x", token="t").save([["Q", 1]])

    run_checked(loop, main(), timeout=30)
