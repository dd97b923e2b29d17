"""A program built on ringloop.scheduler.serve(), for the tests to start, signal and watch.

    python scheduler_app.py [--workers N] [--sqpoll on|off|auto] [--stop-timeout S]
                            [--stubborn I] [--crash] [--max-restarts N] [--start-method M]
                            [--executor]

Each worker serves echo on one port shared with SO_REUSEPORT (the parent reserves it and
prints ``PORT p``). A worker prints ``READY i pid`` once it listens, ``STOPPED i`` from its
clean-up when stopped, and ``EXECUTOR i tid`` after running a function in its default
executor (``--executor``). ``--stubborn I`` makes worker I ignore its stop; ``--crash`` makes
every worker raise at once. A message starting with ``?`` is answered with the number of
receives the worker has handled. At the end the parent prints ``STOPPED_BY``, ``RESTARTS``,
``EXIT`` and ``PLAN`` lines, or ``GAVE_UP`` and exits with status 3. serve()'s log goes to
stderr.
"""
import argparse
import asyncio
import functools
import logging
import os
import sys
import threading
import time

from ringloop.scheduler import reuseport_socket, serve
from ringloop.supervise import SupervisorGaveUp

def say(line):
    # One write(2) per line: lines of several workers sharing the pipe never interleave.
    os.write(1, f"{line}\n".encode())


class Echo(asyncio.Protocol):
    receives = 0

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        Echo.receives += 1
        self.transport.write(f"{Echo.receives}\n".encode() if data.startswith(b"?") else data)


async def worker(args, index):
    # The options come as an argument, not a global: a "spawn" worker does not run main().
    if args.crash:
        say(f"CRASHING {index} {os.getpid()}")
        raise RuntimeError(f"worker {index} crashes on purpose")
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, sock=reuseport_socket("127.0.0.1", args.port))
    if args.executor:
        tid = await loop.run_in_executor(None, threading.get_native_id)
        say(f"EXECUTOR {index} {tid}")
    say(f"READY {index} {os.getpid()}")
    try:
        async with server:
            await server.serve_forever()
    except asyncio.CancelledError:
        if index == args.stubborn:
            say(f"IGNORING {index}")
            time.sleep(600)  # blocks the loop: only SIGKILL ends this worker
        say(f"STOPPED {index}")
        raise


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--sqpoll", choices=["on", "off", "auto"], default="off")
    parser.add_argument("--stop-timeout", type=float, default=10.0)
    parser.add_argument("--stubborn", type=int, default=-1)
    parser.add_argument("--crash", action="store_true")
    parser.add_argument("--max-restarts", type=int, default=5)
    parser.add_argument("--start-method", default="fork")
    parser.add_argument("--executor", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # serve()'s log, on stderr
    holder = reuseport_socket("127.0.0.1", 0, backlog=None)  # holds the port for every incarnation
    args.port = holder.getsockname()[1]
    say(f"PORT {args.port}")
    sqpoll = {"on": True, "off": False, "auto": "auto"}[args.sqpoll]
    try:
        result = serve(functools.partial(worker, args), args.workers, sqpoll=sqpoll,
                       stop_timeout=args.stop_timeout, max_restarts=args.max_restarts, period=30.0,
                       backoff=(0.01, 0.05), start_method=args.start_method)
    except SupervisorGaveUp as exc:
        say(f"GAVE_UP {len(exc.errors)} {exc}")
        for error in exc.errors:
            say(f"ERROR {error}")
        return 3
    finally:
        holder.close()
    say(f"STOPPED_BY {result.stopped_by}")
    say(f"RESTARTS {result.restarts}")
    plan = result.plan
    say(f"PLAN {int(plan.sqpoll)} {','.join(map(str, plan.loop_cpus))} {','.join(map(str, plan.sq_cpus)) or '-'}")
    for exit in result.exits:
        say(f"EXIT {exit.index} {exit.pid} {exit.exitcode} {int(exit.killed)} {int(exit.stopping)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
