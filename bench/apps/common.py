"""What the application launchers share: the loop by name, the allocator settled, a listening socket."""
from __future__ import annotations

import asyncio
import socket

from ..loops import DEFAULT_LOOPS
from ..runners.server_app import settle_allocator  # noqa: F401  (re-exported: every launcher calls it)

LOOP_NAMES = [spec.name for spec in DEFAULT_LOOPS]
#: The body every HTTP hello app answers with.
HELLO = {"message": "Hello, world!"}


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    """A new loop of the kind ``name`` (bench.loops), set as the current loop."""
    spec = next(spec for spec in DEFAULT_LOOPS if spec.name == name)
    loop = spec.factory()
    asyncio.set_event_loop(loop)
    return loop


def listening_socket(port: int) -> socket.socket:
    """A TCP socket listening on 127.0.0.1:``port`` (0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock
