"""The command line: ``python -m bench [--quick] [--only W] [--rounds N] [--json PATH] [--no-docs]``."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from . import harness, machine, report, workloads_loop  # noqa: F401  (workloads_loop registers)
from .loops import DEFAULT_LOOPS
from .registry import WORKLOADS, select

REPO = Path(__file__).resolve().parent.parent
DEFAULT_JSON = REPO / "bench" / "out" / "results.json"
DOCS_PAGE = REPO / "docs" / "benchmarks.md"
ROUNDS_FULL = 7
ROUNDS_QUICK = 3


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m bench``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Loop-overhead micro-benchmarks: ringloop vs stock asyncio vs uvloop, interleaved.",
    )
    parser.add_argument("--quick", action="store_true",
                        help=f"{ROUNDS_QUICK} rounds instead of {ROUNDS_FULL} (under ~30 s)")
    parser.add_argument("--only", action="append", metavar="WORKLOAD",
                        help=f"run only these workloads (repeatable or comma-separated): {', '.join(WORKLOADS)}")
    parser.add_argument("--rounds", type=_positive_int, metavar="N", help="number of rounds (overrides --quick)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH",
                        help="where to write every measurement and the medians (default: %(default)s)")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks as the flags say; returns the exit status.

    Unknown ``--only`` names exit with status 2 and the list of valid names.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    names = None if args.only is None else [n.strip() for arg in args.only for n in arg.split(",") if n.strip()]
    try:
        workloads = select(names)
    except ValueError as exc:
        parser.error(str(exc))
    rounds = args.rounds or (ROUNDS_QUICK if args.quick else ROUNDS_FULL)

    results = harness.run(workloads, DEFAULT_LOOPS, rounds, progress=lambda line: print(line, flush=True))

    where = machine.describe()
    command = shlex.join(["python", "-m", "bench", *argv])
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print()
    print(f"{where}\n")
    print(report.render_text(results))

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report.to_json(results, where, command, date), indent=2) + "\n")
    print(f"\nwrote {args.json}")
    if not args.no_docs:
        DOCS_PAGE.write_text(report.render_docs(results, where, command, date))
        print(f"wrote {DOCS_PAGE}")
    return 0
