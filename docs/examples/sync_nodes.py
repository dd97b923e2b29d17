"""Three nodes and an upstream: record offline, sync, converge; a revoke propagates as a tombstone."""
import tempfile
from pathlib import Path

import ringloop
from ringloop.recorder import JournalStorage
from ringloop.sync import Replica, SyncedStorage, UpstreamError, start_server

TOKEN = "example-token"


async def main(directory: Path) -> None:
    upstream = Replica(JournalStorage(directory / "upstream.journal"), node="upstream")
    await upstream.open()
    server = await start_server(upstream, TOKEN, port=0)       # python -m ringloop.recorder serve ... does this
    port = server.addresses[0][1]
    print(f"upstream on 127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}"
    nodes = [SyncedStorage(JournalStorage(directory / f"{name}.journal"), upstream=url, token=TOKEN,
                           interval=3600, node=name) for name in ("paris", "tokyo", "lima")]

    await nodes[0].put("order-1", "SUCCESS", {"total": 12})
    await nodes[1].put("order-2", "FAILED", {"error": "card declined"})
    await server.cleanup()                                      # the upstream goes down...
    await nodes[2].put("order-2", "SUCCESS", {"total": 30})      # ...nodes keep recording
    try:
        await nodes[2].sync()
    except UpstreamError:
        print("lima: upstream unreachable, recorded locally:", nodes[2].get("order-2").state)

    server = await start_server(upstream, TOKEN, port=port)
    for _ in range(2):
        for node in nodes:
            stats = await node.sync()
    for node in nodes:
        print(node.node, {rid: state for rid, (state, _) in sorted(node.state().items())})

    await nodes[1].put("order-1", "REVOKED")                    # tokyo revokes paris's success
    for _ in range(2):
        for node in nodes:
            stats = await node.sync()
    print("after the revoke:", sorted(nodes[0].state()), "converged:", stats.converged)
    print("tombstone collected upstream:", "order-1" not in upstream.records)
    for node in nodes:
        await node.close()
    await server.cleanup()
    await upstream.close()


with tempfile.TemporaryDirectory() as tmp:
    ringloop.run(main(Path(tmp)))
