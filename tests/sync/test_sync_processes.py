"""Real processes: the upstream as ``python -m ringloop.recorder serve`` (HTTP and HTTPS), a node SIGKILLed mid-sync."""
import json
import signal
import ssl
import subprocess
import sys
import textwrap

from helpers import run_checked

from ringloop.recorder import JournalStorage
from ringloop.sync import Replica, SyncedStorage

TOKEN = "process-token"

NODE = textwrap.dedent("""
    import sys, ringloop
    from ringloop.recorder import JournalStorage
    from ringloop.sync import SyncedStorage

    async def main(journal, url, token):
        node = SyncedStorage(JournalStorage(journal), upstream=url, token=token, interval=0.001, node="victim")
        n = 0
        while True:
            await node.put(f"k{n}", "SUCCESS", {"n": n})
            print(f"acked k{n}", flush=True)  # durable in the local journal when put() returned
            n += 1
            if n % 50 == 0:
                await node.sync()  # syncs in flight when the kill comes, besides the background ones
    ringloop.run(main(*sys.argv[1:]))
""")


def start_upstream(tmp_path, *tls):
    """``python -m ringloop.recorder serve`` on a free port (HTTPS with ``--cert C --key K`` in ``tls``); its URL."""
    (tmp_path / "token").write_text(TOKEN + "\n")
    server = subprocess.Popen([sys.executable, "-m", "ringloop.recorder", "serve", "--journal", str(tmp_path / "up.j"),
                               "--port", "0", "--token-file", str(tmp_path / "token"), *tls],
                              stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    assert line.startswith("serving on 127.0.0.1:"), line
    return server, f"{'https' if tls else 'http'}://127.0.0.1:{line.rsplit(':', 1)[1].strip()}"


def test_node_killed_mid_sync_loses_nothing_it_acknowledged(loop, tmp_path):
    server, url = start_upstream(tmp_path)
    try:
        node = subprocess.Popen([sys.executable, "-c", NODE, str(tmp_path / "victim.j"), url, TOKEN],
                                stdout=subprocess.PIPE, text=True)
        acked = []
        for line in node.stdout:
            acked.append(line.split()[1])
            if len(acked) >= 400:
                break
        node.send_signal(signal.SIGKILL)
        node.wait(timeout=30)
        acked += [line.split()[1] for line in node.stdout]  # lines written before the kill
        node.stdout.close()

        async def check():
            replica = Replica(JournalStorage(tmp_path / "victim.j"))
            await replica.open()
            assert replica.node == "victim"
            missing = [k for k in acked if k not in replica.records]
            assert missing == []
            await replica.close()
            # It comes back and syncs: the upstream ends up with everything it acknowledged.
            back = SyncedStorage(JournalStorage(tmp_path / "victim.j"), upstream=url, token=TOKEN, interval=3600)
            while not (await back.sync()).converged:
                pass
            other = SyncedStorage(JournalStorage(tmp_path / "other.j"), upstream=url, token=TOKEN, interval=3600)
            while not (await other.sync()).converged:
                pass
            assert set(acked) <= set(other.state()) and other.state() == back.state()
            await back.close()
            await other.close()

        run_checked(loop, check(), timeout=60)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        server.stdout.close()


def test_upstream_process_keeps_what_it_acknowledged_across_restart(loop, tmp_path):
    server, url = start_upstream(tmp_path)

    async def write():
        node = SyncedStorage(JournalStorage(tmp_path / "n.j"), upstream=url, token=TOKEN, interval=3600, node="n")
        for n in range(100):
            await node.put(f"id{n}", "SUCCESS", n)
        assert (await node.sync()).converged
        await node.close()

    run_checked(loop, write(), timeout=60)
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=30)
    server.stdout.close()

    async def read():
        replica = Replica(JournalStorage(tmp_path / "up.j"))
        await replica.open()
        assert sorted(replica.records) == sorted(f"id{n}" for n in range(100))
        await replica.close()

    run_checked(loop, read(), timeout=60)


def test_recorder_serve_command_serves_https_and_stops_on_sigterm(loop, tmp_path, certificate):
    cert, key = certificate
    server, url = start_upstream(tmp_path, "--cert", str(cert), "--key", str(key))
    try:
        async def sync():
            node = SyncedStorage(JournalStorage(tmp_path / "n.j"), upstream=url, token=TOKEN, interval=3600,
                                 node="n", ssl=ssl.create_default_context(cafile=str(cert)))
            for n in range(10):
                await node.put(f"id{n}", "SUCCESS", n)
            assert (await node.sync()).converged
            await node.close()

        run_checked(loop, sync(), timeout=60)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0  # a clean stop: the journal closed
        server.stdout.close()
    # The same entry module inspects the upstream's journal: every record, and the node's acknowledgement.
    report = subprocess.run([sys.executable, "-m", "ringloop.recorder", "journal", str(tmp_path / "up.j"), "--json"],
                            capture_output=True, text=True, check=True)
    assert json.loads(report.stdout)["records"] >= 10 + 1
    assert subprocess.run([sys.executable, "-m", "ringloop.sync", "serve", "--help"], capture_output=True).returncode == 0
