"""The micro-benchmarks' table (pytest-benchmark, bench/micro): µs per operation and ringloop's paired ratios."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..loops import SUBJECT
from ..micro.runner import MicroResults
from .stats import Summary, paired_ratio
from .tables import aligned, markdown

NA = "n/a"
LEGEND = (
    "µs per operation (a gather: µs per whole gather of 1,000): per round, the median of "
    "pytest-benchmark's timed calls divided by the operations per call; shown as the median of the "
    "rounds (min–max). Lower is better. "
    f"{SUBJECT}/X: median over the rounds of {SUBJECT}'s time over X's in the same round (paired); "
    f"below 1 means {SUBJECT} is faster. Alone: `pytest bench/micro`."
)


def _num(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def _cell(s: Summary | None, why: str | None) -> str:
    if s is None:
        return f"{NA} ({why})" if why else NA
    return f"{_num(s.median)} ({_num(s.low)}–{_num(s.high)})"


def _others(results: MicroResults) -> list[str]:
    return [name for name in results.loops if name != SUBJECT] if SUBJECT in results.loops else []


def ratio(results: MicroResults, op: str, other: str) -> float | None:
    """Paired ratio of ringloop's µs/op over ``other``'s for ``op``; None without a common round."""
    return paired_ratio(results.per_round(op, SUBJECT), results.per_round(op, other))


def _why(results: MicroResults, op: str, loop: str) -> str | None:
    if loop in results.missing:
        return "not installed"
    return results.errors.get((op, loop)) or results.errors.get((op, "all")) or ("not run" if results.runs else
                                                                                  "no round produced a report")


def table(results: MicroResults) -> tuple[list[str], list[list[str]]]:
    """Header and rows, every cell a string; a pair without a number reads "n/a (<why>)"."""
    header = ["operation", "unit"] + [f"{name} µs" for name in results.loops]
    header += [f"{SUBJECT}/{name}" for name in _others(results)]
    rows = []
    for op in results.ops:
        row = [op.name, op.unit]
        for loop in results.loops:
            s = results.summary(op.name, loop)
            row.append(_cell(s, None if s else _why(results, op.name, loop)))
        row += [NA if (r := ratio(results, op.name, name)) is None else f"{r:.2f}" for name in _others(results)]
        rows.append(row)
    return header, rows


def notes(results: MicroResults) -> list[str]:
    """Loops left out, and rounds that failed."""
    return [f"{name}: {why}" for name, why in results.missing.items()] + results.notes


def render_text(results: MicroResults) -> str:
    """The table for a terminal, then the legend and notes."""
    return "\n".join([aligned(*table(results)), "", LEGEND, *notes(results)])


def render_markdown(results: MicroResults) -> str:
    """The table, legend and notes as GitHub markdown."""
    lines = "".join(f"\n- {line}" for line in notes(results))
    return f"{markdown(*table(results), left=2)}\n\n{LEGEND}\n{lines}"


def to_json(results: MicroResults) -> dict[str, Any]:
    """A JSON-ready record: settings, every round's value, medians and ratios."""
    return {
        "rounds": results.rounds,
        "max_time_s": results.max_time,
        "loops": results.loops,
        "missing": results.missing,
        "ops": [asdict(op) for op in results.ops],
        "runs": [asdict(r) for r in results.runs],
        "errors": [{"op": op, "loop": loop, "why": why} for (op, loop), why in results.errors.items()],
        "notes": results.notes,
        "summary": [{"op": op.name, "loop": loop, "unit": f"us/{op.unit}", **asdict(s)}
                    for op in results.ops for loop in results.loops if (s := results.summary(op.name, loop))],
        "ratios": [{"op": op.name, "ratio": f"{SUBJECT}/{other}", "paired_median": ratio(results, op.name, other)}
                   for op in results.ops for other in _others(results)],
    }
