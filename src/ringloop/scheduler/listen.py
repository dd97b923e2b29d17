"""Listening sockets with SO_REUSEPORT: each worker process listens on the same port with a
socket of its own, and the kernel spreads new connections over them, so every worker accepts on
its own, with no shared accept queue to contend for.
"""
from __future__ import annotations

import socket

from ringloop.supervise.checks import check_count


def reuseport_socket(host: str, port: int, *, backlog: int | None = 1024) -> socket.socket:
    """A non-blocking TCP socket bound to ``(host, port)`` with SO_REUSEPORT, listening with
    ``backlog`` (hand it to ``loop.create_server(factory, sock=...)``).

    ``backlog=None`` binds without listening: the socket then takes no connections but holds the
    port, which is how a parent reserves a port (``port=0`` picks a free one: read it with
    ``getsockname()``) for workers that bind it after it. ``host`` is resolved to its first
    address. Raises TypeError or ValueError on bad arguments, OSError if the bind fails.
    """
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    check_count("port", port)
    if port > 65535:
        raise ValueError(f"port must be in 0..65535, got {port}")
    if backlog is not None:
        check_count("backlog", backlog, 1)
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        if backlog is not None:
            sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
