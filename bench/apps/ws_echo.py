"""A websockets echo server: ``python -m bench.apps.ws_echo --loop L --port N``.

Plain ``websockets.asyncio.server.serve`` on a socket bound by this script,
the handler sending back every message it receives.  Compression is off
(``compression=None``, on the client too): the bench measures the loop and
the protocol, not zlib.  Prints ``READY <port>`` once it serves.
"""
from __future__ import annotations

import argparse
import asyncio
import sys

from websockets.asyncio.server import ServerConnection, serve

from .common import LOOP_NAMES, listening_socket, new_loop, settle_allocator


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def _serve(port: int) -> None:
    sock = listening_socket(port)
    async with serve(echo, sock=sock, compression=None, max_size=None):
        print(f"READY {sock.getsockname()[1]}", flush=True)
        await asyncio.Future()  # until killed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.apps.ws_echo")
    parser.add_argument("--loop", required=True, choices=LOOP_NAMES)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    settle_allocator()
    loop = new_loop(args.loop)
    loop.run_until_complete(_serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
