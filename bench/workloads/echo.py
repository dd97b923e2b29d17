"""Echo workloads: 16 connections of ping-pong through a server on each loop, and the C liburing limit.

Names are ``echo_<transport>_<mode>_<size>``.  Registry order is size-major so
that each C reference row comes right before the modes compared with it.
"""
from __future__ import annotations

from ..load.generator import Address, LoadResult, run_loadgen
from ..registry import Client, LoadSettings, ServerWorkload, register, title
from ..runners import ctools

title("echo", "Echo")

CONNECTIONS = 16
SIZES = {"1k": 1024, "10k": 10 * 1024, "100k": 100 * 1024}
MODES = {
    "protocol": "asyncio.Protocol (data_received writes back)",
    "buffered": "asyncio.BufferedProtocol (one preallocated buffer per connection)",
    "streams": "streams (asyncio.start_server, read / write / drain)",
    "sock": "loop.sock_accept / sock_recv / sock_sendall",
}


def loadgen_problem() -> str | None:
    """Why the C load generator cannot be built here, or None when it is (built on first call)."""
    try:
        ctools.build("loadgen")
    except ctools.BuildError as exc:
        return str(exc)
    return None


def echo_client(size: int) -> Client:
    """A client that plays echo ping-pong of ``size``-byte messages with bench/c/loadgen."""

    def client(address: Address, settings: LoadSettings) -> LoadResult:
        return run_loadgen(ctools.build("loadgen"), address, size=size, connections=CONNECTIONS,
                           seconds=settings.seconds, warmup=settings.warmup, cpu=settings.cpu)

    return client


def _register_echo(transport: str, mode: str, size_name: str) -> None:
    size = SIZES[size_name]
    register(ServerWorkload(
        name=f"echo_{transport}_{mode}_{size_name}",
        group="echo",
        description=f"echo of {size:,}-byte messages over {'a Unix socket' if transport == 'unix' else 'TCP'}, "
                    f"{CONNECTIONS} connections, server in {MODES[mode]}",
        mode=mode,
        client=echo_client(size),
        unix=transport == "unix",
        reference=f"echo_{transport}_{size_name}",
        requires=loadgen_problem,
    ))


for _size in SIZES:
    for _mode in MODES:
        _register_echo("tcp", _mode, _size)
_register_echo("unix", "protocol", "1k")
