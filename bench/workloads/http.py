"""HTTP/1.1 keep-alive: a raw-Protocol server on each loop (``bench.runners.server_app --mode http``) under ``wrk``."""
from __future__ import annotations

from ..load.generator import Address, LoadResult
from ..load.wrk import find_wrk, run_wrk
from ..registry import LoadSettings, ServerWorkload, register, title

title("http", "HTTP/1.1 keep-alive")

CONNECTIONS = 16


def wrk_problem() -> str | None:
    """Why wrk cannot load the server here (it is not installed), or None."""
    return None if find_wrk() else "wrk is not installed (Debian: apt-get install wrk); the bench does not install it"


def wrk_client(address: Address, settings: LoadSettings) -> LoadResult:
    """``wrk -t1 -c16 --latency`` against ``address`` for the settings' duration (whole seconds)."""
    wrk = find_wrk()
    assert wrk is not None, "requires() said wrk is installed"
    return run_wrk(wrk, address, connections=CONNECTIONS, seconds=settings.seconds, cpu=settings.cpu)


register(ServerWorkload(
    name="http_keepalive",
    group="http",
    description=f"HTTP/1.1 keep-alive GET / with a 13-byte body, {CONNECTIONS} connections, "
                f"raw asyncio.Protocol server, load from wrk -t1 --latency",
    mode="http",
    client=wrk_client,
    requires=wrk_problem,
))
