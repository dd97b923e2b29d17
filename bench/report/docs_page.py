"""docs/benchmarks.md: the tables of one run, the machine, the chart, and how it was measured."""
from __future__ import annotations

from dataclasses import replace

from ..micro.runner import MicroResults
from ..registry import GROUP_TITLES, WORKLOADS, MicroWorkload, groups
from ..runners.inprocess import Results
from ..runners.servers import C_SERVER, ServerResults
from . import inprocess as report
from . import micro as report_micro
from . import servers as report_servers
from .tables import markdown


def _server_section(results: ServerResults, group: str) -> str:
    sub = replace(results, workloads=[w for w in results.workloads if w.group == group])
    if not sub.workloads:
        return ""
    header, rows = report_servers.table(sub)
    return f"## {GROUP_TITLES.get(group, group)}\n\n{markdown(header, rows, left=2)}\n"


def _loop_section(results: Results, group: str) -> str:
    sub = replace(results, workloads=[w for w in results.workloads if w.group == group])
    if not sub.workloads:
        return ""
    notes = "".join(f"\n- {note}" for note in report.notes(sub))
    return f"## {GROUP_TITLES.get(group, group)}\n\n{report.render_markdown_table(sub)}\n\n{report.LEGEND}\n{notes}\n"


FAIRNESS = """## Fairness: the stock loop's 256 KiB reads and glibc's mmap threshold

Stock asyncio's transports read with `sock.recv(256 KiB)` (their `max_size`): each read allocates
a 256 KiB `bytes` and shrinks it to what arrived. glibc serves a `malloc` above its mmap threshold,
128 KiB in a new process, with a fresh `mmap`; the shrink is an `mremap` and the free a `munmap`:
three syscalls and a zeroed page per read. The first `free` of a whole large mmapped block raises
the threshold for good (glibc's dynamic threshold), and a stock-asyncio server does that as soon as
one connection ends (the read that meets EOF frees its 256 KiB buffer unshrunk) or one read finds
nothing. Earlier runs started each server fresh and kept all 16 connections open, so the stock
loop paid the trio on every round trip: 5.07 syscalls and 45.7 µs per 1 KiB Protocol echo, against
~2.1 syscalls and ~11.7 µs in an independent harness: what the same server shows once one
connection has come and gone. `strace -c -f -p <server>` on the stock Protocol echo (1 KiB, 16 connections) shows
sendto, recvfrom, mmap, mremap and munmap once per round trip from a fresh server; after one
connection opened and closed first, only sendto and recvfrom. Any server that has run a while is in
the second state, so every Python server of the lab now starts there: it allocates and frees one
1 MiB block before serving (`settle_allocator` in `bench/runners/server_app.py`, the same for every
loop; `--fresh-allocator` skips it). ringloop and uvloop read into buffers of their own and never
had the trio.
"""


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


def _micro_section(results: MicroResults) -> str:
    return f"## {GROUP_TITLES.get('micro', 'micro')}\n\n{report_micro.render_markdown(results)}\n"


def render(loop_results: Results | None, server_results: ServerResults | None, *, machine: str,
           command: str, date: str, loops: str, tools: list[str], chart: str | None,
           micro_results: MicroResults | None = None) -> str:
    """The whole page; ``chart`` is the PNG's file name next to the page, or a note why there is none."""
    sections = []
    if server_results is not None:
        sections += [_server_section(server_results, g) for g in groups()]
        sections.append(f"{report_servers.LEGEND}\n\n{_bullets(report_servers.notes(server_results))}\n")
    if loop_results is not None:
        sections += [_loop_section(loop_results, g) for g in groups()]
    if micro_results is not None:
        sections.append(_micro_section(micro_results))
    described = [*(loop_results.workloads if loop_results else []),
                 *(server_results.workloads if server_results else [])]
    if micro_results is not None:
        described += [w for w in WORKLOADS.values()
                      if isinstance(w, MicroWorkload) and w.op in {op.name for op in micro_results.ops}]
    figure = f"![throughput and loop overhead per loop]({chart})" if chart and chart.endswith(".png") else \
        f"No chart: {chart}." if chart else ""
    server_rounds = server_results.rounds if server_results else "-"
    server_seconds = f"{server_results.seconds:g}" if server_results else "-"
    loop_rounds = loop_results.rounds if loop_results else "-"
    micro_rounds = micro_results.rounds if micro_results else "-"
    return f"""# Benchmarks

<!-- Written by `python -m bench` (bench/report/docs_page.py); rerun `make bench` instead of editing. -->

- Machine: {machine}
- Command: `{command}`
- Date: {date}
- Loops: {loops}
- Tools: {'; '.join(tools)}
- Rerun: `make bench` (`QUICK=1`: a short run without the real applications; `ONLY=echo,http`:
  some workloads or groups; groups: {', '.join(groups())}); the micro-benchmarks alone:
  `pytest bench/micro`
- Real applications pick their loop as their users do: `web.run_app(app, loop=loop)` for aiohttp,
  and uvicorn's own option for uvicorn: `uvicorn app:app --loop ringloop:new_event_loop`
  (`--loop uvloop`, `--loop asyncio` for the others)

{figure}

{chr(10).join(s for s in sections if s)}
{FAIRNESS}
## Workloads

{_bullets([f"`{w.name}` ({w.group}): {w.description}." for w in described])}

## Method

- Servers (echo, HTTP): {server_rounds} rounds of {server_seconds} s per measurement (HTTP: wrk's
  whole seconds). In each round every workload runs on the {C_SERVER} reference (echo only,
  once per transport and message size), then on each loop, so a slow spell of this noisy
  machine is spread over all servers.
- Each measurement is a fresh server process (`python -m bench.runners.server_app --loop L --mode M`,
  or `bench/out/bin/echo_uring`) pinned with `os.sched_setaffinity` to one CPU, and a
  load generator pinned to another: `bench/out/bin/loadgen` (C, epoll, 16 connections,
  ping-pong: send a message, wait for all of it to come back, send the next; 0.1 s of
  unrecorded warm-up first) or `wrk -t1 -c16 --latency`. Both C tools are built from
  `bench/c/` by the bench.
- Server CPU time is utime+stime of `/proc/<pid>/stat` (all threads) read just before
  and after the load; syscalls are `perf stat -e raw_syscalls:sys_enter -p <pid>` over
  the same span. Both are divided by every operation of the run, warm-up included.
  perf's counting adds a small cost to each syscall of every server measured.
- A server whose loop lacks an API the mode uses (NotImplementedError or
  AttributeError) is shown as "n/a (not supported: …)" and not retried; other failures
  are shown as "n/a (failed: …)" and retried in the next round.
- Loop overhead: {loop_rounds} rounds. Each measurement uses a fresh loop created before and
  closed after the timed span, with `gc.collect()` first; `time.perf_counter()` around
  `loop.run_until_complete(workload(loop, n))`, divided by `n`, with `n` calibrated once
  per (workload, loop) by unrecorded probe runs so that a measurement lasts about 100 ms.
- Micro-benchmarks (pytest-benchmark): {micro_rounds} rounds, each a fresh `pytest bench/micro`
  process running every operation on each loop back to back (the loops' order rotated from
  round to round); a timed call is one batch (5,000 operations, or 5 gathers) in one
  `loop.run_until_complete`, so the per-batch task and loop start-up is a small share of it.
- Real applications (group `apps`, left out of `QUICK=1`): the same rounds as the other servers,
  each cell a fresh process of the unchanged library on one loop (`bench/apps`): aiohttp and
  uvicorn (`--http httptools`) under `wrk -t1 -c64`; a websockets echo server under a client
  process (64 websockets clients on uvloop) on the other CPU; asyncpg's pool of 8 querying a
  PostgreSQL that the bench starts for the run (initdb and pg_ctl in a temporary directory,
  Unix socket only, fsync off, pinned to the other CPU; stopped and removed afterwards), where
  the process measured is the asyncpg client and an operation is one query. The Python load
  generators and PostgreSQL share that CPU's limits: a `*` marks a load generator that was busy.
- Every Python server (both the server app and the applications, on every loop) allocates and
  frees one 1 MiB block before it serves (`settle_allocator`): see Fairness above.
- Stock asyncio is `asyncio.DefaultEventLoopPolicy().new_event_loop()` (the selector
  loop on Linux); ringloop runs with its default options.
- Every raw run is in `bench/out/results.json` after a run.
"""
