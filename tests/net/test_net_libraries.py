"""Popular asyncio libraries run unchanged on ringloop: aiohttp (server and
client) and uvicorn (through its custom loop option)."""
import asyncio
import socket
import threading


import ringloop
from helpers import run_checked


# -- aiohttp ---------------------------------------------------------------------------------


def test_aiohttp_server_and_client(loop):
    import aiohttp  # in the test extra: a missing one is a broken install, not a skip
    from aiohttp import web

    loops_seen = []

    async def hello(request):
        loops_seen.append(type(asyncio.get_running_loop()))
        return web.Response(text=f"hello {request.query.get('name', 'world')}")

    async def upload(request):
        loops_seen.append(type(asyncio.get_running_loop()))
        body = await request.read()
        return web.json_response({"size": len(body), "sum": sum(body) % 65521})

    async def main():
        app = web.Application()
        app.add_routes([web.get("/", hello), web.post("/upload", upload)])
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/", params={"name": "ring"}) as resp:
                    assert resp.status == 200
                    assert await resp.text() == "hello ring"
                body = bytes(range(256)) * 4096  # 1 MiB
                async with session.post(f"http://127.0.0.1:{port}/upload", data=body) as resp:
                    assert resp.status == 200
                    assert await resp.json() == {"size": len(body), "sum": sum(body) % 65521}
                # Keep-alive: several requests over the pooled connection.
                for i in range(20):
                    async with session.get(f"http://127.0.0.1:{port}/?name={i}") as resp:
                        assert await resp.text() == f"hello {i}"
        finally:
            await runner.cleanup()

    run_checked(loop, main())
    assert loops_seen and all(cls is ringloop.Loop for cls in loops_seen)


# -- uvicorn ---------------------------------------------------------------------------------


def _asgi_app(loops_seen):
    async def app(scope, receive, send):
        assert scope["type"] == "http"
        loops_seen.append(type(asyncio.get_running_loop()))
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        reply = b"%s %s %d" % (scope["method"].encode(), scope["path"].encode(), len(body))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(reply))]})
        await send({"type": "http.response.body", "body": reply})

    return app


def _http(port, method, path, body=b""):
    """One HTTP/1.1 request over a plain blocking socket; returns (status line, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        head = (f"{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        sock.sendall(head + body)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    header, _, payload = response.partition(b"\r\n\r\n")
    return header.split(b"\r\n")[0], payload


def _listening_socket():
    """Bound and listening before uvicorn starts: clients may connect at once
    (the kernel queues them) and uvicorn serves this socket."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def _uvicorn_config(app, loop):
    import uvicorn
    return uvicorn, uvicorn.Config(app, loop=loop, lifespan="off", log_level="warning", access_log=False)


def test_uvicorn_custom_loop_option():
    """Config(loop="ringloop:new_event_loop"): uvicorn's own Server.run builds the loop."""
    loops_seen = []
    uvicorn, config = _uvicorn_config(_asgi_app(loops_seen), "ringloop:new_event_loop")
    server = uvicorn.Server(config)
    sock = _listening_socket()
    port = sock.getsockname()[1]
    failure = []

    def serve():
        try:
            server.run(sockets=[sock])
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert _http(port, "GET", "/hello") == (b"HTTP/1.1 200 OK", b"GET /hello 0")
        assert _http(port, "POST", "/data", b"x" * 100_000) == (b"HTTP/1.1 200 OK", b"POST /data 100000")
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()
    assert not thread.is_alive(), "uvicorn did not shut down"
    assert not failure, failure
    assert loops_seen and all(cls is ringloop.Loop for cls in loops_seen)


def test_uvicorn_serve_under_ringloop_run():
    """ringloop.run(server.serve()): the loop is ours, uvicorn just uses the running one."""
    loops_seen = []
    uvicorn, config = _uvicorn_config(_asgi_app(loops_seen), "none")
    server = uvicorn.Server(config)
    sock = _listening_socket()
    port = sock.getsockname()[1]
    results = []

    def client():
        try:
            results.append(_http(port, "GET", "/a"))
            results.append(_http(port, "PUT", "/b", b"123"))
        except BaseException as exc:
            results.append(exc)
        finally:
            server.should_exit = True

    async def main():
        thread = threading.Thread(target=client)
        thread.start()
        try:
            await asyncio.wait_for(server.serve(sockets=[sock]), 30)
        finally:
            await asyncio.to_thread(thread.join, 20)

    try:
        ringloop.run(main())
    finally:
        sock.close()
    assert results == [(b"HTTP/1.1 200 OK", b"GET /a 0"), (b"HTTP/1.1 200 OK", b"PUT /b 3")]
    assert loops_seen and all(cls is ringloop.Loop for cls in loops_seen)
