"""``python -m ringloop.recorder``: the recorder's commands.

- ``serve --journal PATH --port N --token-file F [...]``: the sync upstream
  service that nodes' SyncedStorage reconcile with (docs/sync.md);
- ``journal PATH [--last N] [--json]``: what a journal holds (the same as
  ``python -m ringloop journal``).

This entry module is the one recorder module that imports ``ringloop.sync``,
the layer above: the service implements sync, but the recorder's users look
for it here.  An entry point is not part of the layer's API, so pyproject's
import-linter contract ignores exactly this import; no library module of the
recorder imports sync.
"""
from __future__ import annotations

import argparse
import sys

from ringloop.sync.service import add_serve_command

from .inspection import add_journal_command


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m ringloop.recorder", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add_serve_command(commands)
    add_journal_command(commands)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
