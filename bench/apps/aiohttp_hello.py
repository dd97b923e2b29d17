"""aiohttp web serving a JSON hello: ``python -m bench.apps.aiohttp_hello --loop L --port N``.

The application is plain aiohttp (one ``GET /`` handler returning
``web.json_response``), started with ``web.run_app(app, sock=sock, loop=loop)``,
aiohttp's own way to run on a given loop.  Prints ``READY <port>`` once it
serves; runs until killed.
"""
from __future__ import annotations

import argparse
import asyncio
import sys

from aiohttp import web

from .common import HELLO, LOOP_NAMES, listening_socket, new_loop, settle_allocator


async def hello(request: web.Request) -> web.Response:
    return web.json_response(HELLO)


async def which_loop(request: web.Request) -> web.Response:
    loop = type(asyncio.get_running_loop())
    return web.Response(text=f"{loop.__module__}.{loop.__qualname__}")


def make_app() -> web.Application:
    """The application: ``GET /`` answers ``{"message": "Hello, world!"}``; ``GET /loop`` names the loop's class."""
    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/loop", which_loop)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.apps.aiohttp_hello")
    parser.add_argument("--loop", required=True, choices=LOOP_NAMES)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    settle_allocator()
    sock = listening_socket(args.port)
    port = sock.getsockname()[1]
    loop = new_loop(args.loop)
    web.run_app(make_app(), sock=sock, loop=loop, access_log=None, handle_signals=False,
                print=lambda *_: print(f"READY {port}", flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
