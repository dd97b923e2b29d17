"""The ``serve`` command: the upstream service as a process (``python -m ringloop.recorder serve``).

``python -m ringloop.recorder serve --journal PATH --port N --token-file F``
(also ``python -m ringloop.sync serve``) serves a :class:`Replica` over a
JournalStorage until SIGINT or SIGTERM, printing ``serving on HOST:PORT``
once it accepts connections.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import sys
from typing import Any

import ringloop
from ringloop.recorder import JournalStorage

from .server import MAX_BODY, start_server
from .store import Replica

__all__ = ["add_serve_command"]


def add_serve_command(subparsers: Any) -> None:
    """Add the ``serve`` command to an argparse ``subparsers``; it sets ``args.run`` (args -> exit status)."""
    serve = subparsers.add_parser("serve", help="run the sync upstream service",
                                  description="Serve the sync upstream over HTTP (HTTPS with --cert and --key).")
    serve.add_argument("--journal", required=True, help="the upstream's journal file")
    serve.add_argument("--port", type=int, required=True, help="TCP port (0: any free port)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--token-file", required=True, help="a file holding the shared token")
    serve.add_argument("--node", default="upstream", help="the upstream's node id")
    serve.add_argument("--max-body", type=int, default=MAX_BODY, help="request body limit in bytes")
    serve.add_argument("--cert", help="TLS certificate chain (PEM); with --key, serve HTTPS")
    serve.add_argument("--key", help="TLS private key (PEM)")
    serve.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    with open(args.token_file, encoding="utf-8") as file:
        token = file.read().strip()
    if not token:
        print(f"serve: the token file {args.token_file} is empty", file=sys.stderr)
        return 2
    if (args.cert is None) != (args.key is None):
        print("serve: --cert and --key go together", file=sys.stderr)
        return 2
    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    ringloop.run(_serve(args, token, context))
    return 0


async def _serve(args: argparse.Namespace, token: str, context: ssl.SSLContext | None) -> None:
    replica = Replica(JournalStorage(args.journal), node=args.node)
    await replica.open()
    runner = await start_server(replica, token, host=args.host, port=args.port, ssl=context,
                                max_body=args.max_body)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    host, port = runner.addresses[0][:2]
    print(f"serving on {host}:{port}", flush=True)  # the line a supervisor waits for
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await replica.close()
