"""An ASGI hello app for uvicorn: ``uvicorn bench.apps.asgi_hello:app --loop ringloop:new_event_loop``.

The bench runs uvicorn's own command line with ``--http httptools``, and the
loop picked the way uvicorn users pick one: ``--loop asyncio``, ``--loop
uvloop``, or ``--loop ringloop:new_event_loop`` (uvicorn's form for a custom
loop factory, ``module:callable``).  Importing this module settles the
allocator (as every lab server does, for every loop), before uvicorn serves.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable

from .common import HELLO, settle_allocator

settle_allocator()

BODY = json.dumps(HELLO).encode()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
              send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    """Every HTTP request gets ``{"message": "Hello, world!"}``; ``/loop`` names the running loop's class."""
    if scope["type"] != "http":
        return  # lifespan: nothing to set up
    if scope["path"] == "/loop":
        loop = type(asyncio.get_running_loop())
        body = f"{loop.__module__}.{loop.__qualname__}".encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
