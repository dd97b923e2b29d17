"""The upstream as a process: ``python -m ringloop.recorder serve`` over HTTPS, two nodes syncing with it."""
import signal
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

import ringloop
from ringloop.recorder import JournalStorage
from ringloop.sync import SyncedStorage


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made with the openssl command (use your CA's in production)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=upstream", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


async def record_and_sync(directory: Path, url: str, token: str, trust: ssl.SSLContext) -> None:
    nodes = [SyncedStorage(JournalStorage(directory / f"{name}.journal"), upstream=url, token=token,
                           interval=3600, node=name, ssl=trust) for name in ("berlin", "osaka")]
    await nodes[0].put("invoice-7", "SUCCESS", {"total": 90})
    await nodes[1].put("invoice-8", "FAILED", {"error": "timeout"})
    for node in nodes + nodes:
        stats = await node.sync()
    print("converged:", stats.converged)
    for node in nodes:
        print(node.node, sorted((rid, state) for rid, (state, _) in node.state().items()))
        await node.close()


with tempfile.TemporaryDirectory() as tmp:
    directory = Path(tmp)
    cert, key = self_signed(directory)
    (directory / "token").write_text("example-token\n")   # the token is read from a file, never argv
    server = subprocess.Popen([sys.executable, "-m", "ringloop.recorder", "serve",
                               "--journal", str(directory / "upstream.journal"), "--port", "0",
                               "--token-file", str(directory / "token"), "--cert", str(cert), "--key", str(key)],
                              stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline().strip()                # "serving on 127.0.0.1:PORT" once it accepts
    print(line)
    url = f"https://127.0.0.1:{line.rsplit(':', 1)[1]}"
    ringloop.run(record_and_sync(directory, url, "example-token", ssl.create_default_context(cafile=str(cert))))
    server.send_signal(signal.SIGTERM)                     # a clean stop: the journal is closed
    print("upstream exit status:", server.wait(timeout=30))
    server.stdout.close()
