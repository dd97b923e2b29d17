"""``python -m ringloop info [--json]``: what io_uring offers on this machine."""
from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
from typing import Any

from ._entry import EventLoopPolicy
from ._ring.info import collect_info
from .scheduler import describe_sqpoll_auto, sqpoll_auto_info
from .recorder.inspection import add_journal_command


def _python_info() -> dict[str, Any]:
    """The interpreter, and which version-dependent asyncio features ringloop has here."""
    return {
        "implementation": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": sys.executable,
        "asyncio_features": {
            "event loop policies (ringloop.install, EventLoopPolicy)": EventLoopPolicy is not None,
            "child watchers (asyncio.get_child_watcher, 3.13 and older)": hasattr(asyncio, "get_child_watcher"),
            "eager task factory (3.12+)": hasattr(asyncio, "eager_task_factory"),
            "Server.close_clients / abort_clients (3.13+)": hasattr(asyncio.Server, "close_clients"),
            "Queue.shutdown (3.13+)": hasattr(asyncio.Queue, "shutdown"),
        },
    }


def _print_text(info: dict[str, Any]) -> None:
    print(f"python:              {info['python']['implementation']} ({info['python']['executable']})")
    for feature, present in info["python"]["asyncio_features"].items():
        print(f"  {feature}: {'yes' if present else 'no'}")
    print(f"kernel:              {info['kernel']}")
    if not info["available"]:
        print(f"io_uring:            unavailable: {info['reason']}")
        return
    print("io_uring:            available")
    print(f"default ring flags:  {' '.join(info['default_ring_flags']) or '(none)'}")
    print(f"SQPOLL allowed:      {'yes' if info['sqpoll_allowed'] else 'no'}")
    print(f"sqpoll='auto':       {describe_sqpoll_auto(info['sqpoll_auto'])}")
    print("setup flags:")
    for name, verdict in info["setup_flags"].items():
        print(f"  {name:<18} {verdict}")
    print(f"opcodes ({len(info['opcodes'])} of {info['opcodes_known_to_kernel']} known to the kernel):")
    line = "  "
    for name in info["opcodes"]:
        if len(line) + len(name) > 78:
            print(line.rstrip())
            line = "  "
        line += name + " "
    print(line.rstrip())


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m ringloop``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m ringloop", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    info_cmd = sub.add_parser("info", help="kernel, io_uring availability, opcodes and setup flags")
    info_cmd.add_argument("--json", action="store_true", help="print the facts as JSON")
    add_journal_command(sub)
    args = parser.parse_args(argv)
    if args.command == "journal":
        return int(args.run(args))
    info = {"python": _python_info(), **collect_info()}
    if info["available"]:
        info["sqpoll_auto"] = sqpoll_auto_info()
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        print()
    else:
        _print_text(info)
    return 0 if info["available"] else 1


if __name__ == "__main__":
    sys.exit(main())
