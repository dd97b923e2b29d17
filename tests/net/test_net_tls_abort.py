"""TLS handshakes the peer aborts (issue #11, #18): both sides fail promptly, with the stock loop's errors.

The peer runs in a thread with blocking sockets: a client that rejects the
server's certificate, one that closes mid-handshake, one that sends garbage,
one that never answers (then ssl_handshake_timeout decides).  The loop's side
is a server that upgrades with start_tls, a create_server(ssl=...) server,
or a create_connection(ssl=...) client.  Every scenario runs on asyncio's own
loop and on ringloop, and the outcomes (exception types, and whether each side
ended promptly or at the handshake timeout) must be the same.
"""
import asyncio
import gc
import socket
import ssl
import sys
import threading
import time

import pytest
from helpers import on_stock_and_ringloop, run_checked
from test.test_asyncio.utils import simple_client_sslcontext, simple_server_sslcontext

import ringloop

PROMPT = 5.0  # seconds: well under a hang until the handshake timeout below
HANDSHAKE_TIMEOUT = 20.0  # when the scenario is not about the timeout itself
SHORT_TIMEOUT = 0.2  # when it is (the peer never answers: it cannot end sooner)


def timing(elapsed, timeout):
    """"prompt", "at the timeout" or "late": when a side ended."""
    if elapsed < min(PROMPT, timeout):
        return "prompt"
    if timeout <= elapsed < timeout + PROMPT:
        return "at the timeout"
    return f"late ({elapsed:.1f} s)"


def name(exc):
    return None if exc is None else type(exc).__name__


# -- the peer, in a thread ---------------------------------------------------------------------------


def strict_client_context():
    """A client context that trusts the system's CAs only: it rejects the tests' self-signed certificate."""
    return ssl.create_default_context()


def read_until_closed(sock):
    """Read until the other side closes: "closed" (EOF or reset), or "open" after 30 s."""
    sock.settimeout(30)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return "open"
    return "closed"


# Each client sets ``sent`` once its first bytes are on their way: the server
# starts accepting only then, so that they are waiting in the socket when its
# transport starts (the order a loop could get wrong: a handler that starts TLS
# at once must still see them).


def rejecting_client(address, sent):
    with socket.create_connection(address, timeout=30) as raw:
        raw.setblocking(False)
        tls = strict_client_context().wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
        try:
            tls.do_handshake()  # sends the hello
        except ssl.SSLWantReadError:
            pass
        sent.set()
        tls.settimeout(30)
        try:
            tls.do_handshake()
        except ssl.SSLError as exc:
            return type(exc).__name__
    return "accepted"


def client_closing_mid_handshake(address, sent):
    with socket.create_connection(address, timeout=30) as raw:
        raw.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello record
        sent.set()
    return "closed"


def client_sending_garbage(address, sent):
    with socket.create_connection(address, timeout=30) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        sent.set()
        return read_until_closed(raw)


def silent_client(address, sent):
    with socket.create_connection(address, timeout=30) as raw:
        sent.set()
        return read_until_closed(raw)


CLIENTS = {
    "rejects the certificate": rejecting_client,
    "closes mid-handshake": client_closing_mid_handshake,
    "sends garbage": client_sending_garbage,
    "never answers": silent_client,
}


async def client_then_serve(peer, serve):
    """Run ``peer`` in a thread against a new listener, ``await serve(listener)`` once it has sent.

    Returns (the peer's result, how long it took).
    """
    listener = socket.create_server(("127.0.0.1", 0))
    sent = threading.Event()
    started = time.monotonic()
    running = asyncio.ensure_future(asyncio.to_thread(peer, listener.getsockname(), sent))
    assert await asyncio.to_thread(sent.wait, 30)
    await serve(listener)
    result = await asyncio.wait_for(running, 60)
    return result, time.monotonic() - started


# -- server side -------------------------------------------------------------------------------------


def timeout_for(peer_name):
    return SHORT_TIMEOUT if peer_name == "never answers" else HANDSHAKE_TIMEOUT


@pytest.mark.parametrize("peer_name", CLIENTS, ids=lambda peer: peer.replace(" ", "-"))
def test_server_start_tls_with_a_client_that_aborts(peer_name):
    timeout = timeout_for(peer_name)

    async def scenario(loop):
        upgraded = loop.create_future()

        async def handle(reader, writer):
            started = time.monotonic()
            try:
                await writer.start_tls(simple_server_sslcontext(), ssl_handshake_timeout=timeout)
                error = None
            except Exception as exc:  # what start_tls raised is the outcome
                error = exc
            upgraded.set_result((name(error), timing(time.monotonic() - started, timeout)))
            writer.close()

        servers = []

        async def serve(listener):
            servers.append(await asyncio.start_server(handle, sock=listener))

        peer_result, peer_time = await client_then_serve(CLIENTS[peer_name], serve)
        server_side = await asyncio.wait_for(upgraded, 30)
        servers[0].close()
        await servers[0].wait_closed()
        return server_side, (peer_result, timing(peer_time, timeout))

    stock, ours = on_stock_and_ringloop(scenario, debug=False, timeout=60)
    assert ours == stock
    assert ours[0][0] is not None  # the handshake failed on the server's side


@pytest.mark.parametrize("peer_name", CLIENTS, ids=lambda peer: peer.replace(" ", "-"))
def test_tls_server_with_a_client_that_aborts(peer_name):
    """create_server(ssl=...): the failed handshake reaches the exception handler in debug mode, as with the stock loop."""
    timeout = timeout_for(peer_name)

    async def scenario(loop):
        failed = loop.create_future()
        made = []
        started = 0.0

        def handler(_loop, context):
            if not failed.done():
                failed.set_result((context["message"], name(context.get("exception")),
                                   timing(time.monotonic() - started, timeout)))

        class Server(asyncio.Protocol):
            def connection_made(self, transport):
                made.append(transport)

        servers = []

        async def serve(listener):
            nonlocal started
            loop.set_exception_handler(handler)
            started = time.monotonic()
            servers.append(await loop.create_server(
                Server, sock=listener, ssl=simple_server_sslcontext(), ssl_handshake_timeout=timeout
            ))

        peer_result, peer_time = await client_then_serve(CLIENTS[peer_name], serve)
        server_side = await asyncio.wait_for(failed, 30)
        servers[0].close()
        await servers[0].wait_closed()
        return server_side, (peer_result, timing(peer_time, timeout)), len(made)

    stock, ours = on_stock_and_ringloop(scenario, debug=True, timeout=60)
    assert ours == stock
    assert ours[0][0] == "Error on transport creation for incoming connection" and ours[2] == 0


# -- client side -------------------------------------------------------------------------------------


def server_rejected_by_its_client(conn):
    try:
        simple_server_sslcontext().wrap_socket(conn, server_side=True)
    except ssl.SSLError as exc:
        return type(exc).__name__
    return "accepted"


def server_closing_mid_handshake(conn):
    conn.recv(5)  # the client's hello has begun
    return "closed"


def server_sending_garbage(conn):
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    return read_until_closed(conn)


def silent_server(conn):
    return read_until_closed(conn)


SERVERS = {
    "rejected by the client": server_rejected_by_its_client,
    "closes mid-handshake": server_closing_mid_handshake,
    "sends garbage": server_sending_garbage,
    "never answers": silent_server,
}


def serve_once(listener, behaviour):
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(30)
        return behaviour(conn)


@pytest.mark.parametrize("peer_name", SERVERS, ids=lambda peer: peer.replace(" ", "-"))
def test_tls_client_with_a_server_that_aborts(peer_name):
    timeout = timeout_for(peer_name)
    strict = peer_name == "rejected by the client"

    async def scenario(loop):
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(30)
            peer = asyncio.ensure_future(asyncio.to_thread(serve_once, listener, SERVERS[peer_name]))
            started = time.monotonic()
            try:
                transport, _ = await loop.create_connection(
                    asyncio.Protocol, *listener.getsockname(),
                    ssl=strict_client_context() if strict else simple_client_sslcontext(),
                    server_hostname="localhost", ssl_handshake_timeout=timeout,
                )
                transport.close()
                error = None
            except Exception as exc:  # what create_connection raised is the outcome
                error = exc
            client_side = (name(error), timing(time.monotonic() - started, timeout))
            peer_result = await asyncio.wait_for(peer, 30)
        return client_side, peer_result

    stock, ours = on_stock_and_ringloop(scenario, debug=False, timeout=60)
    assert ours == stock
    assert ours[0][0] is not None  # the handshake failed on the client's side


def test_a_failed_handshake_leaves_no_pinned_view_to_the_collector():
    """The handshake error keeps the frames it was raised through, the ring's dispatch among them.

    The buffer SSLProtocol lends for reading must not be pinned through its
    memoryview: collecting that cycle while the pin exports the view failed
    with BufferError ("Exception ignored in tp_clear") and could crash.
    """
    unraisable = []

    async def scenario(loop):
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(30)
            peer = asyncio.ensure_future(asyncio.to_thread(serve_once, listener, server_sending_garbage))
            with pytest.raises(ssl.SSLError):
                await loop.create_connection(
                    asyncio.Protocol, *listener.getsockname(), ssl=simple_client_sslcontext(),
                    server_hostname="localhost", ssl_handshake_timeout=HANDSHAKE_TIMEOUT,
                )
            await asyncio.wait_for(peer, 30)

    loop = ringloop.new_event_loop()
    try:
        run_checked(loop, scenario(loop))
    finally:
        loop.close()
    saved, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        gc.collect()
    finally:
        sys.unraisablehook = saved
    assert [(hook.exc_type, hook.err_msg) for hook in unraisable] == []
