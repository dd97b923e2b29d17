"""Real applications: unchanged third-party servers and clients on each loop, left out of ``--quick``.

- ``app_aiohttp``: aiohttp web, a JSON hello handler, keep-alive, 64 connections, load from wrk;
- ``app_uvicorn``: uvicorn with httptools serving an ASGI hello, started with uvicorn's own
  command line and ``--loop`` (``ringloop:new_event_loop`` for ringloop), 64 connections, wrk;
- ``app_asyncpg``: asyncpg, a pool of 8 running a small SELECT against a real PostgreSQL the
  bench starts (bench/apps/postgres.py), pinned to the load CPU; the process measured is the client;
- ``app_websockets``: websockets echo of 1 KiB messages, 64 clients from a client process
  (the websockets library on uvloop, or stock asyncio without it) on the load CPU.

The applications live in ``bench/apps``.  What a workload needs and lacks
(a library, wrk, PostgreSQL) makes its rows read "n/a (not run: <why>)";
wrk and PostgreSQL are installed with apt-get when missing and running as
root.  Requests/s and server CPU per request are measured like every server
workload (bench/runners/servers.py).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from ..load.generator import GRACE_SECONDS, Address, LoadError, LoadResult, parse_loadgen, run_pinned
from ..load.wrk import find_wrk, run_wrk
from ..registry import LoadSettings, ServerWorkload, Unavailable, register, title

title("apps", "Real applications")

HTTP_CONNECTIONS = 64
WS_CLIENTS = 64
WS_SIZE = 1024
#: How uvicorn's --loop names each loop of bench.loops: its built-in names, or a factory as module:callable.
UVICORN_LOOP = {"ringloop": "ringloop:new_event_loop", "asyncio": "asyncio", "uvloop": "uvloop"}


def missing_modules(*names: str) -> str | None:
    """"<name> is not installed" for the first module of ``names`` that cannot be imported, else None."""
    for name in names:
        if importlib.util.find_spec(name) is None:
            return f"{name} is not installed (pip install -e '.[bench]')"
    return None


def ensure_wrk() -> str:
    """The path of wrk, installing Debian's package when it is missing and this runs as root; else Unavailable."""
    wrk = find_wrk()
    if wrk:
        return wrk
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise Unavailable("wrk is not installed (Debian: apt-get install wrk)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
        if done.returncode != 0:
            raise Unavailable(f"wrk is not installed and {' '.join(argv[:2])} failed: {done.stderr.strip()[-200:]}")
    wrk = find_wrk()
    if wrk is None:
        raise Unavailable("apt-get installed wrk but it is not on PATH")
    return wrk


def needs(*modules: str, wrk: bool = False):
    """An ``environment`` that checks ``modules`` (and wrk) and yields nothing."""

    @contextmanager
    def environment() -> Iterator[None]:
        problem = missing_modules(*modules)
        if problem:
            raise Unavailable(problem)
        if wrk:
            ensure_wrk()
        yield None

    return environment


def wrk_client(address: Address, settings: LoadSettings) -> LoadResult:
    """``wrk -t1 -c64 --latency`` on ``GET /`` for the settings' duration (whole seconds)."""
    wrk = find_wrk()
    if wrk is None:
        raise LoadError("wrk is not installed")
    return run_wrk(wrk, address, connections=HTTP_CONNECTIONS, seconds=settings.seconds, cpu=settings.cpu)


def _python(module: str, loop: str, address: Address, *extra: str) -> list[str]:
    return [sys.executable, "-m", module, "--loop", loop, "--port", str(address.port), *extra]


def aiohttp_argv(loop: str, address: Address, env: Any) -> list[str]:
    """The aiohttp hello server on ``loop``."""
    return _python("bench.apps.aiohttp_hello", loop, address)


def uvicorn_argv(loop: str, address: Address, env: Any) -> list[str]:
    """uvicorn's command line, as its users pick a loop: ``--loop ringloop:new_event_loop`` for ringloop."""
    return [sys.executable, "-m", "uvicorn", "bench.apps.asgi_hello:app", "--loop", UVICORN_LOOP[loop],
            "--http", "httptools", "--host", "127.0.0.1", "--port", str(address.port),
            "--no-access-log", "--log-level", "warning", "--lifespan", "off"]


def ws_argv(loop: str, address: Address, env: Any) -> list[str]:
    """The websockets echo server on ``loop``."""
    return _python("bench.apps.ws_echo", loop, address)


def ws_client(address: Address, settings: LoadSettings) -> LoadResult:
    """64 websockets clients in one process on the load CPU, 1 KiB ping-pong (bench/apps/ws_client.py)."""
    argv = [sys.executable, "-m", "bench.apps.ws_client", "--port", str(address.port),
            "--clients", str(WS_CLIENTS), "--size", str(WS_SIZE),
            "--seconds", str(settings.seconds), "--warmup", str(settings.warmup)]
    return parse_loadgen(run_pinned(argv, settings.cpu, settings.seconds + settings.warmup + GRACE_SECONDS))


@contextmanager
def postgres_environment() -> Iterator[Any]:
    """asyncpg installed, and a throwaway PostgreSQL on the load CPU for the whole run."""
    problem = missing_modules("asyncpg")
    if problem:
        raise Unavailable(problem)
    from ..apps import postgres
    from ..runners.servers import pick_cpus

    _, load_cpu, _ = pick_cpus()
    with postgres.cluster(cpu=load_cpu) as cluster:
        yield cluster


def pg_argv(loop: str, address: Address, cluster: Any) -> list[str]:
    """asyncpg's pool on ``loop``, connected to ``cluster``'s socket."""
    return _python("bench.apps.pg_query", loop, address, "--pg-socket", cluster.socket_dir,
                   "--pg-port", str(cluster.port), "--pg-user", cluster.user)


def pg_client(address: Address, settings: LoadSettings) -> LoadResult:
    """Ask the asyncpg process to query for the settings' warm-up and duration; its report."""
    timeout = settings.seconds + settings.warmup + GRACE_SECONDS
    with socket.create_connection(("127.0.0.1", address.port), timeout=timeout) as conn:
        conn.sendall(json.dumps({"seconds": settings.seconds, "warmup": settings.warmup}).encode() + b"\n")
        reply = conn.makefile("rb").readline()
    if not reply:
        raise LoadError("the asyncpg process closed the control connection without a report")
    return parse_loadgen(reply.decode())


register(ServerWorkload(
    name="app_aiohttp", group="apps", mode="aiohttp",
    description=f"aiohttp web, GET / answered by a web.json_response hello handler, keep-alive, "
                f"{HTTP_CONNECTIONS} connections, load from wrk -t1 --latency",
    client=wrk_client, server=aiohttp_argv, environment=needs("aiohttp", wrk=True), quick=False,
))
register(ServerWorkload(
    name="app_uvicorn", group="apps", mode="uvicorn",
    description=f"uvicorn --http httptools serving an ASGI JSON hello (bench/apps/asgi_hello.py), the loop "
                f"chosen with uvicorn's --loop (ringloop:new_event_loop, asyncio, uvloop), keep-alive, "
                f"{HTTP_CONNECTIONS} connections, load from wrk -t1 --latency",
    client=wrk_client, server=uvicorn_argv, ready="port", environment=needs("uvicorn", "httptools", wrk=True),
    quick=False,
))
register(ServerWorkload(
    name="app_asyncpg", group="apps", mode="asyncpg",
    description="asyncpg pool of 8 running SELECT id, name FROM items WHERE id = $1 back to back (8 workers) "
                "against a PostgreSQL the bench starts (Unix socket, on the load CPU); the measured process "
                "is the asyncpg client, an operation is one query",
    client=pg_client, server=pg_argv, environment=postgres_environment, quick=False,
))
register(ServerWorkload(
    name="app_websockets", group="apps", mode="websockets",
    description=f"websockets echo server (compression off) answering {WS_CLIENTS} clients' {WS_SIZE:,}-byte "
                f"binary messages, ping-pong; the clients are one websockets process on the load CPU "
                f"(uvloop when installed)",
    client=ws_client, server=ws_argv, environment=needs("websockets"), quick=False,
))
