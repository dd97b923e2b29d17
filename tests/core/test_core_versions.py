"""Version-dependent asyncio features on ringloop: each runs where the interpreter has it.

`make test` runs this file on 3.11, 3.12 and 3.13, so each feature is exercised
by the interpreters that have it and reported as skipped, with the version,
by those that do not.
"""
import asyncio
import contextvars
import socket
import subprocess
import sys
import warnings

import pytest

import ringloop
from helpers import run_checked

needs_312 = pytest.mark.skipif(sys.version_info < (3, 12), reason="Python 3.12+ feature")
needs_313 = pytest.mark.skipif(sys.version_info < (3, 13), reason="Python 3.13+ feature")


@needs_312
def test_eager_task_factory_runs_the_first_step_at_once(loop):
    loop.set_task_factory(asyncio.eager_task_factory)
    steps = []

    async def child():
        steps.append("child ran")
        await asyncio.sleep(0)
        return 7

    async def main():
        task = asyncio.get_running_loop().create_task(child())
        steps.append("after create_task")
        return await task

    assert run_checked(loop, main()) == 7
    assert steps == ["child ran", "after create_task"]


def test_create_task_with_a_context(loop):
    var = contextvars.ContextVar("var", default="unset")
    context = contextvars.copy_context()
    context.run(var.set, "inside")

    async def read():
        return var.get()

    async def main():
        return await asyncio.get_running_loop().create_task(read(), context=context)

    assert run_checked(loop, main()) == "inside"


@needs_313
def test_server_close_clients_and_abort_clients_reach_ringloop_transports(loop):
    async def main():
        lost = []
        made = []
        all_made = asyncio.Event()

        class Echo(asyncio.Protocol):
            def connection_made(self, transport):
                made.append(transport)
                if len(made) == 3:
                    all_made.set()

            def connection_lost(self, exc):
                lost.append(exc)

        server = await loop.create_server(Echo, "127.0.0.1", 0, keep_alive=True)
        port = server.sockets[0].getsockname()[1]
        clients = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        await all_made.wait()
        assert all(t.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) for t in made)
        server.close()
        server.close_clients()
        await server.wait_closed()
        for reader, writer in clients:
            assert await reader.read() == b""  # the server side really closed
            writer.close()
        assert len(lost) == 3

    run_checked(loop, main())


@needs_313
def test_queue_shutdown_wakes_getters(loop):
    async def main():
        queue = asyncio.Queue()
        getter = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0)
        queue.shutdown()
        with pytest.raises(asyncio.QueueShutDown):
            await getter

    run_checked(loop, main())


@needs_312
def test_shutdown_default_executor_with_a_timeout(loop):
    # (In 3.12.1 and 3.13.0 the timeout bounds only the final thread join,
    # on every loop; what must hold on ringloop is that the call completes.)
    async def main():
        running = asyncio.get_running_loop()
        assert await running.run_in_executor(None, sum, [1, 2]) == 3
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            await running.shutdown_default_executor(timeout=30)
        with pytest.raises(RuntimeError, match="shutdown"):
            await running.run_in_executor(None, sum, [1])

    loop.run_until_complete(main())


@pytest.mark.skipif(ringloop.EventLoopPolicy is None, reason="no event loop policies in this Python")
def test_install_warns_nothing_from_ringloop_on_this_python():
    code = (
        "import warnings, asyncio, ringloop\n"
        "warnings.simplefilter('error')\n"
        "ringloop.install()\n"
        "assert isinstance(asyncio.new_event_loop(), ringloop.Loop)\n"
        "print(asyncio.run(asyncio.sleep(0, 'ok')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_info_names_the_interpreter():
    done = subprocess.run([sys.executable, "-m", "ringloop", "info"], capture_output=True, text=True, timeout=60)
    assert f"CPython {'.'.join(map(str, sys.version_info[:3]))}" in done.stdout
    assert "eager task factory (3.12+): " + ("yes" if sys.version_info >= (3, 12) else "no") in done.stdout
