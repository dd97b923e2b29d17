"""The loop-overhead table (µs per operation, ratios of ringloop to the other loops) and its JSON record."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..loops import SUBJECT
from ..runners.inprocess import Results
from .stats import Summary, paired_ratio
from .tables import aligned, markdown

NA = "n/a"
LEGEND = (
    f"µs per operation: median of the rounds (min–max). Lower is better. "
    f"{SUBJECT}/X: median over the rounds of {SUBJECT}'s time over X's in the same round "
    f"(paired, so the machine's slow spells cancel; it can differ from the ratio of the medians); "
    f"below 1 means {SUBJECT} is faster."
)


def _cell(s: Summary | None) -> str:
    return NA if s is None else f"{s.median:.2f} ({s.low:.2f}–{s.high:.2f})"


def _ratio_cell(r: float | None) -> str:
    return NA if r is None else f"{r:.2f}"


def _others(results: Results) -> list[str]:
    """The loops ringloop is compared with; none when ringloop is not in the run."""
    names = [spec.name for spec in results.loops]
    return [name for name in names if name != SUBJECT] if SUBJECT in names else []


def _subject_over(results: Results, workload: str, other: str) -> float | None:
    return paired_ratio(results.per_round(workload, SUBJECT), results.per_round(workload, other))


def table(results: Results) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the results table, every cell already a string."""
    header = ["workload"] + [f"{spec.name} µs/op" for spec in results.loops]
    header += [f"{SUBJECT}/{name}" for name in _others(results)]
    rows = []
    for w in results.workloads:
        cells = {spec.name: results.summary(w.name, spec.name) for spec in results.loops}
        row = [w.name] + [_cell(cells[spec.name]) for spec in results.loops]
        row += [_ratio_cell(_subject_over(results, w.name, name)) for name in _others(results)]
        rows.append(row)
    return header, rows


def notes(results: Results) -> list[str]:
    """Loops left out, and workloads that run on some loops only."""
    lines = [f"{name}: {reason}, so its column is {NA}" for name, reason in results.missing.items()]
    for w in results.workloads:
        if w.only_on is not None:
            lines.append(f"{w.name} runs only on {', '.join(sorted(w.only_on))}; other loops are {NA}")
    return lines


def render_text(results: Results) -> str:
    """The table for a terminal: aligned columns, then the legend and notes."""
    return "\n".join([aligned(*table(results)), "", LEGEND, *notes(results)])


def render_markdown_table(results: Results) -> str:
    """The table as GitHub markdown."""
    return markdown(*table(results))


def to_json(results: Results) -> dict[str, Any]:
    """A JSON-ready record: run settings, every raw measurement, the medians and the ratios."""
    summaries = []
    for w in results.workloads:
        for spec in results.loops:
            s = results.summary(w.name, spec.name)
            if s is not None:
                summaries.append({"workload": w.name, "loop": spec.name, "unit": "us/op", **asdict(s)})
    ratios = [
        {"workload": w.name, "ratio": f"{SUBJECT}/{name}", "paired_median": _subject_over(results, w.name, name)}
        for w in results.workloads
        for name in _others(results)
    ]
    return {
        "rounds": results.rounds,
        "loops": {spec.name: spec.version() for spec in results.loops},
        "missing": results.missing,
        "workloads": [
            {"name": w.name, "description": w.description,
             "only_on": None if w.only_on is None else sorted(w.only_on)}
            for w in results.workloads
        ],
        "measurements": [{**asdict(m), "us_per_op": m.us_per_op} for m in results.measurements],
        "summary": summaries,
        "ratios": ratios,
    }
