"""Python socket addresses to and from raw ``struct sockaddr`` bytes.

Ring operations take and return C socket addresses; Python's socket module
neither exposes its own conversion nor needs one for us, so this small module
does it for the families asyncio uses: AF_INET, AF_INET6 and AF_UNIX.
"""
from __future__ import annotations

import socket
import struct
from typing import Any

_IN = struct.Struct("=HH4s8x")  # sockaddr_in: family, port (network order), addr, zero
_IN6 = struct.Struct("=HHI16sI")  # sockaddr_in6: family, port, flowinfo, addr, scope_id
_FAMILY = struct.Struct("=H")
_UNIX_PATH_MAX = 108

#: Room for any sockaddr the kernel may write (sizeof(struct sockaddr_storage)).
SOCKADDR_STORAGE_SIZE = 128


def encode(family: int, address: Any) -> bytes:
    """The raw sockaddr for ``address`` in ``family``; ValueError/TypeError when malformed.

    Host names must already be resolved to numeric addresses.
    """
    if family == socket.AF_INET:
        host, port = address
        return _IN.pack(family, socket.htons(port), socket.inet_pton(family, host))
    if family == socket.AF_INET6:
        host, port, flowinfo, scope_id = (tuple(address) + (0, 0))[:4]
        if "%" in host:  # "fe80::1%eth0": the scope rides in the text
            host, _, scope = host.partition("%")
            scope_id = scope_id or (int(scope) if scope.isdigit() else socket.if_nametoindex(scope))
        return _IN6.pack(family, socket.htons(port), socket.htonl(flowinfo), socket.inet_pton(family, host), scope_id)
    if family == socket.AF_UNIX:
        path = address.encode() if isinstance(address, str) else bytes(address)
        if len(path) >= _UNIX_PATH_MAX and not path.startswith(b"\0"):
            raise ValueError(f"AF_UNIX path too long: {address!r}")
        # Abstract names (leading NUL) are used as is; paths get their terminator.
        return _FAMILY.pack(family) + path + (b"" if path.startswith(b"\0") else b"\0")
    raise ValueError(f"unsupported address family {family}")


def decode(raw: bytes | memoryview) -> Any:
    """The Python form of a raw sockaddr, as socket.recvfrom would return it."""
    raw = bytes(raw)
    if len(raw) < _FAMILY.size:
        return None  # e.g. an unnamed AF_UNIX peer
    (family,) = _FAMILY.unpack_from(raw)
    if family == socket.AF_INET:
        _, port, addr = _IN.unpack_from(raw)
        return socket.inet_ntop(family, addr), socket.ntohs(port)
    if family == socket.AF_INET6:
        _, port, flowinfo, addr, scope_id = _IN6.unpack_from(raw)
        return socket.inet_ntop(family, addr), socket.ntohs(port), socket.ntohl(flowinfo), scope_id
    if family == socket.AF_UNIX:
        path = raw[_FAMILY.size :]
        if path.startswith(b"\0"):
            return path  # abstract namespace
        return path.split(b"\0", 1)[0].decode(errors="surrogateescape")
    raise ValueError(f"unsupported address family {family}")
