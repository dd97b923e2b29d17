"""The server workloads' table (echo, HTTP) and their JSON record.

One row per (workload, server): throughput median (min–max over the rounds),
then medians of MB/s, server CPU µs and syscalls per operation, p50/p99
latency, and throughput ratios to uvloop and to the C liburing limit.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..runners.servers import C_SERVER, METRICS, ServerResults
from .stats import paired_ratio
from .tables import aligned

BASELINE = "uvloop"
NA = "n/a"
LOAD_BOUND = 0.9  # load generator CPU share from which its own limit may be what was measured
HEADER = ["workload", "server", "ops/s", "MB/s", "CPU µs/op", "syscalls/op", "p50 µs", "p99 µs",
          f"vs {BASELINE}", "vs C"]
LEGEND = (
    "ops/s: round trips (echo) or requests (HTTP) per second, median of the rounds (min–max); "
    "higher is better. MB/s: payload echoed back (echo) or response bytes (HTTP) per second. "
    "CPU µs/op: user+system CPU time of the server process (all threads) per operation. "
    "syscalls/op: syscalls the server entered per operation (perf, raw_syscalls:sys_enter). "
    "p50/p99: latency of one round trip or request as the load generator saw it. "
    f"vs {BASELINE} / vs C: median over the rounds of this row's ops/s over {BASELINE}'s / the C liburing "
    "server's in the same round (paired); above 1 is faster. Columns other than ops/s are medians."
)


def _rate(value: float) -> str:
    return f"{value / 1e3:.1f}k" if value >= 1e3 else f"{value:.0f}"


def _fmt(value: float | None, digits: int) -> str:
    return NA if value is None else f"{value:.{digits}f}"


def rows(results: ServerResults) -> list[tuple[str, str]]:
    """The (recorded workload name, server) pairs of the table, in order.

    Each workload's C reference comes once, before the first workload that is
    compared with it; servers that did not run at all have no rows.
    """
    ran = [s for s in results.servers if s not in results.missing]
    pairs: list[tuple[str, str]] = []
    for w in results.workloads:
        if w.reference is not None and C_SERVER in ran and (w.reference, C_SERVER) not in pairs:
            pairs.append((w.reference, C_SERVER))
        pairs += [(w.name, s) for s in ran if s != C_SERVER]
    return pairs


def _reference_of(results: ServerResults, name: str) -> str | None:
    for w in results.workloads:
        if name in (w.name, w.reference):
            return w.reference
    return None


def ratio(results: ServerResults, workload: str, server: str, to: str) -> float | None:
    """Paired ops/s ratio of (workload, server) over ``to`` (a loop, or C_SERVER for the workload's reference)."""
    other = _reference_of(results, workload) if to == C_SERVER else workload
    if other is None:
        return None
    return paired_ratio(results.per_round(workload, server, "ops_per_s"),
                        results.per_round(other, to, "ops_per_s"))


def table(results: ServerResults) -> tuple[list[str], list[list[str]]]:
    """Header and rows, every cell a string; a cell that never worked reads "n/a (<why>)"."""
    show_syscalls = not any(note.startswith("syscalls per operation omitted") for note in results.notes)
    header = [h for h in HEADER if show_syscalls or h != "syscalls/op"]
    out = []
    for workload, server in rows(results):
        row = [workload, server]
        throughput = results.summary(workload, server, "ops_per_s")
        if throughput is None:
            why = results.error(workload, server) or "not run"
            out.append(row + [f"{NA} ({why})"] + [""] * (len(header) - 3))
            continue
        util = results.summary(workload, server, "load_cpu_util")
        mark = "*" if util is not None and util.median >= LOAD_BOUND else ""
        row.append(f"{_rate(throughput.median)}{mark} ({_rate(throughput.low)}–{_rate(throughput.high)})")
        med = {m: (s.median if (s := results.summary(workload, server, m)) else None) for m in METRICS}
        row += [_fmt(med["mb_per_s"], 1), _fmt(med["cpu_us_per_op"], 1)]
        if show_syscalls:
            row.append(_fmt(med["syscalls_per_op"], 2))
        row += [_fmt(med["p50_us"], 0), _fmt(med["p99_us"], 0)]
        row += [_fmt(ratio(results, workload, server, BASELINE), 2), _fmt(ratio(results, workload, server, C_SERVER), 2)]
        out.append(row)
    return header, out


def notes(results: ServerResults) -> list[str]:
    """What was left out and why, run-wide caveats, and the load-bound mark when it appears."""
    lines = [f"{name}: {why}" for name, why in results.missing.items()]
    lines += [f"{name} not run: {why}" for name, why in results.skipped.items()]
    lines += results.notes
    if any("*" in row[2] for row in table(results)[1]):
        lines.append(f"* the load generator used at least {LOAD_BOUND:.0%} of its CPU in the median round: "
                     "that throughput may be the load generator's limit rather than the server's")
    return lines


def to_json(results: ServerResults) -> dict[str, Any]:
    """A JSON-ready record: settings, every raw run, and per-cell summaries and ratios."""
    summary = []
    for workload, server in rows(results):
        cell: dict[str, Any] = {"workload": workload, "server": server, "error": results.error(workload, server)}
        for metric in METRICS:
            s = results.summary(workload, server, metric)
            cell[metric] = None if s is None else asdict(s)
        cell[f"ratio_to_{BASELINE}"] = ratio(results, workload, server, BASELINE)
        cell["ratio_to_c"] = ratio(results, workload, server, C_SERVER)
        summary.append(cell)
    return {
        "rounds": results.rounds,
        "seconds_per_run": results.seconds,
        "servers": results.servers,
        "missing": results.missing,
        "skipped": results.skipped,
        "notes": results.notes,
        "workloads": [{"name": w.name, "group": w.group, "description": w.description, "mode": w.mode,
                       "unix": w.unix, "reference": w.reference} for w in results.workloads],
        "runs": [asdict(r) for r in results.runs],
        "summary": summary,
    }


def render_text(results: ServerResults) -> str:
    """The table for a terminal: aligned columns, then the legend and notes."""
    return "\n".join([aligned(*table(results)), "", LEGEND, *notes(results)])
