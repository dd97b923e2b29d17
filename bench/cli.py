"""The command line: ``python -m bench [--quick] [--only W] [--rounds N] [--seconds S] [--json PATH] [--no-docs]``."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from . import workloads  # noqa: F401  (importing it registers every workload)
from . import micro  # noqa: F401  (registers the micro group: bench/micro's pytest-benchmark suite)
from .loops import DEFAULT_LOOPS
from .micro import runner as micro_runner
from .registry import WORKLOADS, AnyWorkload, MicroWorkload, ServerWorkload, Workload, groups, select
from .report import chart, docs_page, machine
from .report import inprocess as report
from .report import micro as report_micro
from .report import servers as report_servers
from .runners import inprocess as harness
from .runners import servers as serverbench

REPO = Path(__file__).resolve().parent.parent
DEFAULT_JSON = REPO / "bench" / "out" / "results.json"
DOCS_PAGE = REPO / "docs" / "benchmarks.md"
DOCS_CHART = REPO / "docs" / "benchmarks.png"
ROUNDS_FULL = 7  # in-process workloads: 100 ms each, so rounds are cheap
ROUNDS_QUICK = 2  # --quick is a smoke run: make bench QUICK=1 must stay under 2 minutes
SERVER_ROUNDS_FULL = 3  # server workloads: a process start and a load run each
SERVER_ROUNDS_QUICK = 2
SECONDS_FULL = 1.0
SECONDS_QUICK = 0.3
MICRO_ROUNDS_QUICK = 2  # micro: a pytest process per round (about 5 s each at the quick budget)
MICRO_MAX_TIME_FULL = 0.2  # pytest-benchmark's --benchmark-max-time per (operation, loop)
MICRO_MAX_TIME_QUICK = 0.03
MICRO_MIN_ROUNDS_FULL = 5
MICRO_MIN_ROUNDS_QUICK = 2


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m bench``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="ringloop vs stock asyncio vs uvloop (and a C liburing echo server as the limit), interleaved.",
    )
    parser.add_argument("--quick", action="store_true",
                        help=f"{ROUNDS_QUICK} rounds of the in-process workloads, {SERVER_ROUNDS_QUICK} of "
                             f"{SECONDS_QUICK:g} s for the servers, {MICRO_ROUNDS_QUICK} of the micro suite, "
                             "no real-application workloads unless --only names them (under 2 minutes)")
    parser.add_argument("--only", action="append", metavar="WORKLOAD",
                        help=f"run only these workloads or groups (repeatable or comma-separated); "
                             f"groups: {', '.join(groups())}; workloads: {', '.join(WORKLOADS)}")
    parser.add_argument("--rounds", type=_positive_int, metavar="N",
                        help="number of rounds of every workload (overrides --quick)")
    parser.add_argument("--seconds", type=_positive_float, metavar="S",
                        help=f"length of one server measurement (default {SECONDS_FULL:g}, --quick {SECONDS_QUICK:g})")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH",
                        help="where to write every measurement and the summaries (default: %(default)s)")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md and its chart")
    return parser


def _loops_line(loop_results: harness.Results | None, server_results: serverbench.ServerResults | None) -> str:
    missing = {**(loop_results.missing if loop_results else {}), **(server_results.missing if server_results else {})}
    return ", ".join(f"{spec.name} ({'skipped: ' + missing[spec.name] if spec.name in missing else spec.version()})"
                     for spec in DEFAULT_LOOPS)


def _write_chart(loop_results: harness.Results | None, server_results: serverbench.ServerResults | None,
                 title: str) -> str:
    """Write docs/benchmarks.png; its file name, or why there is none."""
    problem = chart.matplotlib_problem()
    if problem is not None:
        print(f"no chart: {problem}")
        return problem
    chart.write(DOCS_CHART, loop_results, server_results, title)
    print(f"wrote {DOCS_CHART}")
    return DOCS_CHART.name


def for_quick(workloads: list[AnyWorkload], names: list[str] | None) -> list[AnyWorkload]:
    """``workloads`` less the server workloads kept out of ``--quick``, unless ``names`` names them or their group."""
    named = set(names or ())
    return [w for w in workloads
            if not isinstance(w, ServerWorkload) or w.quick or w.name in named or w.group in named]


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
    if args.quick:
        workloads = for_quick(workloads, names)
    in_process = [w for w in workloads if isinstance(w, Workload)]
    served = [w for w in workloads if isinstance(w, ServerWorkload)]
    micro_ops = [w.op for w in workloads if isinstance(w, MicroWorkload)]
    rounds = args.rounds or (ROUNDS_QUICK if args.quick else ROUNDS_FULL)
    server_rounds = args.rounds or (SERVER_ROUNDS_QUICK if args.quick else SERVER_ROUNDS_FULL)
    micro_rounds = args.rounds or (MICRO_ROUNDS_QUICK if args.quick else ROUNDS_FULL)
    seconds = args.seconds or (SECONDS_QUICK if args.quick else SECONDS_FULL)

    def progress(line: str) -> None:
        print(line, flush=True)

    server_results = serverbench.run(served, DEFAULT_LOOPS, server_rounds, seconds, progress=progress) \
        if served else None
    loop_results = harness.run(in_process, DEFAULT_LOOPS, rounds, progress=progress) if in_process else None
    micro_results = micro_runner.run(
        DEFAULT_LOOPS, micro_rounds, progress=progress,
        max_time=MICRO_MAX_TIME_QUICK if args.quick else MICRO_MAX_TIME_FULL,
        min_rounds=MICRO_MIN_ROUNDS_QUICK if args.quick else MICRO_MIN_ROUNDS_FULL, warmup=not args.quick,
        ops=None if len(micro_ops) == len(micro_runner.OPS) else micro_ops) if micro_ops else None

    where = machine.describe()
    tools = machine.tools()
    command = shlex.join(["python", "-m", "bench", *argv])
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\n{where}\n")
    if server_results is not None:
        print(report_servers.render_text(server_results) + "\n")
    if loop_results is not None:
        print(report.render_text(loop_results))
    if micro_results is not None:
        print("\n" + report_micro.render_text(micro_results))

    record: dict[str, Any] = {
        "machine": where, "command": command, "date": date, "tools": tools,
        "servers": report_servers.to_json(server_results) if server_results else None,
        "loop_overhead": report.to_json(loop_results) if loop_results else None,
        "micro": report_micro.to_json(micro_results) if micro_results else None,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    if not args.no_docs:
        figure = _write_chart(loop_results, server_results, f"{where} — {date}")
        DOCS_PAGE.write_text(docs_page.render(
            loop_results, server_results, machine=where, command=command, date=date,
            loops=_loops_line(loop_results, server_results), tools=tools, chart=figure,
            micro_results=micro_results))
        print(f"wrote {DOCS_PAGE}")
    return 0
