"""serve(): worker processes, each on its own ringloop loop, accepting on one port (SO_REUSEPORT).

Worker 1 crashes the first time it starts (os._exit, as a segfault would end it: no clean-up);
serve() restarts it after a backoff. Worker 0 connects until both workers have answered, then
sends SIGTERM to the parent, which stops both gracefully and returns what happened.
"""
import asyncio
import functools
import os
import signal
import tempfile

from ringloop.scheduler import reuseport_socket, serve


class Hello(asyncio.Protocol):
    """Answers each connection with the index of the worker that accepted it."""

    def __init__(self, index):
        self.index = index

    def connection_made(self, transport):
        transport.write(f"{self.index}\n".encode())
        transport.close()


async def answered_by(port, deadline):
    """The set of worker indices that answered, connecting until both did (or the deadline)."""
    loop = asyncio.get_running_loop()
    seen = set()
    while seen != {0, 1} and loop.time() < deadline:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        seen.add(int(await reader.readline()))
        writer.close()
        await writer.wait_closed()
    return seen


async def worker(marker, port, index):
    if index == 1 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(3)  # the first worker 1 dies at once
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Hello(index), sock=reuseport_socket("127.0.0.1", port))
    async with server:
        if index == 0:
            seen = await answered_by(port, loop.time() + 30)
            print(f"connections were accepted by workers {sorted(seen)}", flush=True)
            assert seen == {0, 1}
            os.kill(os.getppid(), signal.SIGTERM)  # as an operator (or systemd) would
        await server.serve_forever()


if __name__ == "__main__":
    holder = reuseport_socket("127.0.0.1", 0, backlog=None)  # reserves a port for the workers
    port = holder.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        result = serve(functools.partial(worker, os.path.join(tmp, "crashed"), port), workers=2,
                       backoff=(0.05, 1.0), stop_timeout=5.0)
    holder.close()
    print("plan:", result.plan.reason)
    print("stopped by", result.stopped_by, "after", result.restarts, "restart(s)")
    for exit in sorted(result.exits, key=lambda exit: (exit.stopping, exit.index)):
        print(exit.describe(), "(asked to stop)" if exit.stopping else "(on its own)")
    assert result.restarts == 1 and not result.killed
    assert [(e.index, e.exitcode) for e in result.exits if not e.stopping] == [(1, 3)]
    assert sorted((e.index, e.exitcode) for e in result.exits if e.stopping) == [(0, 0), (1, 0)]
