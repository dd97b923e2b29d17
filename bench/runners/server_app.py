"""A benchmark server on one event loop: ``python -m bench.runners.server_app --loop L --mode M (--port N | --unix PATH)``.

Modes: ``protocol`` (echo, asyncio.Protocol), ``buffered`` (echo,
asyncio.BufferedProtocol), ``streams`` (echo, asyncio.start_server),
``sock`` (echo, loop.sock_accept / sock_recv / sock_sendall) and ``http``
(HTTP/1.1 keep-alive, a raw Protocol answering every request with a fixed
13-byte body).  Only standard asyncio APIs are used, so a loop serves here as
soon as it implements them.

Before the loop is built, :func:`settle_allocator` puts glibc's malloc in the
state of a process that has run a while (``--fresh-allocator`` skips it), the
same for every loop.  A pristine process has glibc's initial 128 KiB mmap
threshold, and stock asyncio allocates a 256 KiB ``bytes`` for every read (its
transports' ``max_size``; ``sock_recv(sock, READ_SIZE)`` does the same on
uvloop): below that threshold each read costs mmap + mremap + munmap, three
syscalls and a fresh zeroed page per round trip.  The first free of a large
mmapped block raises the threshold for good (glibc's dynamic threshold), which
nearly every real process has done long before it serves; a bare benchmark
server had not.  See "Fairness" in docs/benchmarks.md.

Protocol with the runner (bench/runners/server_process.py), one line on stdout:
``READY <port>`` once listening (port 0 for a Unix socket), or
``UNSUPPORTED <reason>`` followed by exit status 3 when the loop lacks an API
(NotImplementedError or AttributeError, at start-up or while serving).  Any
other error is printed to stderr with exit status 1.  The server runs until
killed.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import traceback
from typing import Any, Awaitable, Callable

from ..loops import DEFAULT_LOOPS

READ_SIZE = 256 * 1024
#: A block above glibc's initial mmap threshold, and above every read buffer here.
SETTLE_SIZE = 1024 * 1024
UNSUPPORTED_STATUS = 3
HTTP_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!"
)


def unsupported_reason(exc: BaseException) -> str:
    """A short reason: ``"<ExcType>: <message>"``, or ``"<ExcType> in <function>"`` when the message is empty.

    An empty message (a bare NotImplementedError) says nothing, so the
    innermost frame names the API instead.
    """
    if str(exc):
        return f"{type(exc).__name__}: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{type(exc).__name__} in {frames[-1].name}" if frames else type(exc).__name__


def settle_allocator(size: int = SETTLE_SIZE) -> None:
    """Allocate and free one ``size``-byte block, as a process that has run a while has done.

    glibc serves a malloc above its mmap threshold (128 KiB at start) with a
    fresh mmap, and on the first free of such a block raises the threshold to
    the block's size.  After this call, blocks up to ``size`` come from the
    heap, as they do in any process that ever freed a large buffer; without
    it, every 256 KiB read buffer of a stock-asyncio server is an
    mmap/mremap/munmap trio.  Called the same way for every loop.
    """
    block = bytes(size)  # PyBytes above 512 bytes: malloc, so mmap at this size
    del block


def _report_unsupported(exc: BaseException) -> None:
    print(f"UNSUPPORTED {unsupported_reason(exc)}", flush=True)
    os._exit(UNSUPPORTED_STATUS)  # a missing API mid-run: nothing left worth cleaning up


def _exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # A missing API can surface inside the loop's own machinery (accepting a
    # connection, say), far from any code of ours: catch it here too.
    exc = context.get("exception")
    if isinstance(exc, (NotImplementedError, AttributeError)):
        _report_unsupported(exc)
    loop.default_exception_handler(context)


class EchoProtocol(asyncio.Protocol):
    """Echo: write back every chunk as it arrives."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


class EchoBufferedProtocol(asyncio.BufferedProtocol):
    """Echo into one preallocated buffer per connection: no allocation per read."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = bytearray(READ_SIZE)

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        # A copy: a transport may keep what it could not send yet, and the
        # next read overwrites the buffer.
        self.transport.write(self.buffer[:nbytes])  # type: ignore[attr-defined]


class HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive: one fixed response per request head; pipelining allowed, bodies not."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.pending = b""

    def data_received(self, data: bytes) -> None:
        self.pending += data
        requests = self.pending.count(b"\r\n\r\n")
        if requests:
            self.pending = self.pending[self.pending.rfind(b"\r\n\r\n") + 4:]
            self.transport.write(HTTP_RESPONSE * requests)  # type: ignore[attr-defined]


async def _stream_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(READ_SIZE):
        writer.write(data)
        await writer.drain()
    writer.close()


async def _sock_echo(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
    try:
        while data := await loop.sock_recv(conn, READ_SIZE):
            await loop.sock_sendall(conn, data)
    except (NotImplementedError, AttributeError) as exc:
        _report_unsupported(exc)
    except ConnectionError:
        pass  # the load generator hung up mid-message at the end of its run
    finally:
        conn.close()


def _listening_socket(port: int | None, unix: str | None) -> socket.socket:
    if unix is not None:
        if os.path.exists(unix):
            os.unlink(unix)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(unix)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port or 0))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def _serve_sock(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    tasks = set()  # strong references: the loop only keeps weak ones
    while True:
        conn, _ = await loop.sock_accept(sock)
        conn.setblocking(False)
        if conn.family == socket.AF_INET:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as transports do
        task = loop.create_task(_sock_echo(loop, conn))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


async def _start(loop: asyncio.AbstractEventLoop, mode: str, sock: socket.socket) -> Awaitable[None] | None:
    """Start serving on ``sock``; returns an awaitable to run forever for the sock mode."""
    factories: dict[str, Callable[[], asyncio.BaseProtocol]] = {
        "protocol": EchoProtocol, "buffered": EchoBufferedProtocol, "http": HttpProtocol,
    }
    if mode in factories:
        await loop.create_server(factories[mode], sock=sock)
    elif mode == "streams":
        if sock.family == socket.AF_UNIX:
            await asyncio.start_unix_server(_stream_echo, sock=sock)
        else:
            await asyncio.start_server(_stream_echo, sock=sock)
    else:
        return _serve_sock(loop, sock)
    return None


MODES = ("protocol", "buffered", "streams", "sock", "http")


def main(argv: list[str] | None = None) -> int:
    """Serve as the flags say until killed; see the module docstring for the stdout protocol."""
    parser = argparse.ArgumentParser(prog="python -m bench.runners.server_app")
    parser.add_argument("--loop", required=True, choices=[spec.name for spec in DEFAULT_LOOPS])
    parser.add_argument("--mode", required=True, choices=MODES)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int, help="TCP port on 127.0.0.1 (0: any free port)")
    where.add_argument("--unix", help="Unix socket path")
    parser.add_argument("--fresh-allocator", action="store_true",
                        help="skip settle_allocator(): malloc as a process that never freed a large block")
    args = parser.parse_args(argv)
    if not args.fresh_allocator:
        settle_allocator()

    spec = next(spec for spec in DEFAULT_LOOPS if spec.name == args.loop)
    sock = _listening_socket(args.port, args.unix)
    loop = spec.factory()
    asyncio.set_event_loop(loop)
    loop.set_exception_handler(_exception_handler)
    try:
        forever = loop.run_until_complete(_start(loop, args.mode, sock))
    except (NotImplementedError, AttributeError) as exc:
        _report_unsupported(exc)
    port = 0 if args.unix is not None else sock.getsockname()[1]
    print(f"READY {port}", flush=True)
    try:
        if forever is not None:
            loop.run_until_complete(forever)
        else:
            loop.run_forever()
    except (NotImplementedError, AttributeError) as exc:
        _report_unsupported(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
