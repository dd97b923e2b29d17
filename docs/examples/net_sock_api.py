"""The low-level sock_* API: every call is one ring operation (or a few)."""
import asyncio
import os
import socket
import tempfile

import ringloop


async def main():
    loop = asyncio.get_running_loop()

    # accept / connect / sendall / recv
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    client = socket.socket()
    client.setblocking(False)
    await loop.sock_connect(client, listener.getsockname())
    conn, peer = await loop.sock_accept(listener)
    await loop.sock_sendall(client, b"ping")
    print("sock_recv:", await loop.sock_recv(conn, 100), "from", peer[0])

    buf = bytearray(16)
    await loop.sock_sendall(conn, b"pong")
    n = await loop.sock_recv_into(client, buf)
    print("sock_recv_into:", bytes(buf[:n]))

    # Cancelling a recv that waits in the kernel: the socket keeps working.
    waiting = asyncio.ensure_future(loop.sock_recv(conn, 100))
    await loop.ring_nop()
    await loop.ring_nop()  # the recv is now in the kernel
    waiting.cancel()
    try:
        await waiting
    except asyncio.CancelledError:
        print("cancelled a sock_recv in flight")
    await loop.sock_sendall(client, b"after")
    print("next sock_recv:", await loop.sock_recv(conn, 100))

    # A timeout is a cancellation too.
    try:
        await asyncio.wait_for(loop.sock_recv(conn, 100), 0.01)
    except TimeoutError:
        print("sock_recv timed out; socket still fine")

    # sock_sendfile: file -> pipe -> socket with ring splices.
    with tempfile.TemporaryFile() as f:
        f.write(os.urandom(300_000))
        f.flush()
        f.seek(0)
        sent = await loop.sock_sendfile(client, f)
    got = 0
    while got < sent:
        got += len(await loop.sock_recv(conn, 1 << 16))
    print(f"sock_sendfile: {sent} bytes sent, {got} received")

    # UDP: sendto / recvfrom as sendmsg / recvmsg ops.
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for s in (a, b):
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
    await loop.sock_sendto(a, b"datagram", b.getsockname())
    data, addr = await loop.sock_recvfrom(b, 100)
    print("sock_recvfrom:", data, "from", "a" if addr == a.getsockname() else addr)

    for s in (listener, client, conn, a, b):
        s.close()


ringloop.run(main())
