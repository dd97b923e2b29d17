"""``python -m ringloop.sync serve ...``: the upstream service (the same as ``python -m ringloop.recorder serve``)."""
from __future__ import annotations

import argparse
import sys

from .service import add_serve_command


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m ringloop.sync")
    add_serve_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
