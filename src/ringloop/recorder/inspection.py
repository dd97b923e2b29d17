"""``python -m ringloop journal PATH``: what a journal holds, read without locking or changing it.

Reports its frames and records, a torn tail or damage that opening it would
meet, the state counts of a TaskRecorder journal, and its last records.  It
reads the file with plain blocking reads (a command-line tool, no loop
runs), so it can look at a journal that a running process has open.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from collections.abc import Iterator
from typing import Any

from .journal import Scanner, decode_payload
from .storage import StorageError
from .tasks import replay

__all__ = ["inspect_journal", "add_journal_command"]

_CHUNK = 1 << 20


def inspect_journal(path: str, last: int = 10) -> dict[str, Any]:
    """What the journal at ``path`` holds, as a JSON-ready dict; raises OSError, NotAJournal, JournalCorrupt.

    Keys: path, size, frames, records, torn_bytes (after the last good
    frame), damaged (``[start, end]`` byte ranges followed by good frames),
    records_lost (in damaged ranges), tasks (for a TaskRecorder journal:
    ids by state, FAILED ones "interrupted" apart; else None) and last (the
    last ``last`` records; bytes as ``{"bytes": hex}``).
    """
    if isinstance(last, bool) or not isinstance(last, int) or last < 0:
        raise ValueError(f"last must be an int >= 0, got {last!r}")
    scanner = Scanner(keep_payloads=True)
    tail: collections.deque[Any] = collections.deque(maxlen=last)

    def records() -> Iterator[Any]:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                yield from _decoded(scanner.feed(chunk), tail)
        yield from _decoded(scanner.finish(), tail)

    stream = records()
    states: dict[Any, list[Any]] | None
    try:
        states = replay(stream)
    except ValueError:  # not TaskRecorder records: read on for the counts and the last records
        states = None
        for _ in stream:
            pass
    scan = scanner.result
    assert scan is not None
    tasks = None
    if states is not None and scan.records:
        counts = collections.Counter("interrupted" if record[0] == "W" else record[0] for record in states.values())
        tasks = {"SUCCESS": counts["S"], "FAILED": counts["F"] + counts["interrupted"],
                 "interrupted": counts["interrupted"]}
    return {
        "path": path, "size": scan.size, "frames": scan.frames, "records": scan.records,
        "torn_bytes": scan.torn, "damaged": [list(span) for span in scan.corrupt],
        "records_lost": scan.records_lost, "tasks": tasks,
        "last": [{"bytes": r.hex()} if isinstance(r, bytes) else r for r in tail],
    }


def _decoded(frames: list[Any], tail: collections.deque[Any]) -> Iterator[Any]:
    for frame in frames:
        for record in decode_payload(frame.payload, frame.records):
            tail.append(record)
            yield record


def _print_text(report: dict[str, Any]) -> None:
    print(f"journal:  {report['path']} ({report['size']} bytes)")
    print(f"records:  {report['records']} in {report['frames']} frames")
    if report["torn_bytes"]:
        print(f"tail:     {report['torn_bytes']} torn bytes after the last good frame (dropped when opened)")
    for start, end in report["damaged"]:
        print(f"damage:   bytes {start}..{end} before good frames (opening it needs repair=True)")
    if report["records_lost"]:
        print(f"lost:     {report['records_lost']} records in damaged ranges")
    tasks = report["tasks"]
    if tasks is not None:
        print(f"tasks:    SUCCESS {tasks['SUCCESS']}, FAILED {tasks['FAILED']} "
              f"({tasks['interrupted']} interrupted)")
    if report["last"]:
        print(f"last {len(report['last'])} records:")
        for record in report["last"]:
            text = json.dumps(record)
            print(f"  {text if len(text) <= 100 else text[:97] + '...'}")


def _run(args: argparse.Namespace) -> int:
    try:
        report = inspect_journal(args.path, args.last)
    except (OSError, StorageError) as exc:  # no such file, not a journal, a malformed frame
        print(f"python -m ringloop journal: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        _print_text(report)
    return 1 if report["damaged"] else 0


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def add_journal_command(subparsers: Any) -> None:
    """Add the ``journal`` command to ``python -m ringloop``'s subparsers; it sets ``args.run``."""
    command = subparsers.add_parser("journal", help="what a recorder journal holds (read only)",
                                    description=__doc__.split("\n\n")[0])
    command.add_argument("path", help="the journal file")
    command.add_argument("--last", type=_count, default=10, metavar="N", help="show the last N records (10)")
    command.add_argument("--json", action="store_true", help="print the report as JSON")
    command.set_defaults(run=_run)
