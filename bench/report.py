"""What a run shows: the terminal table, the JSON record, and docs/benchmarks.md."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .harness import Results
from .loops import SUBJECT
from .stats import Summary, paired_ratio

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


def _notes(results: Results) -> list[str]:
    notes = [f"{name}: {reason}, so its column is {NA}" for name, reason in results.missing.items()]
    for w in results.workloads:
        if w.only_on is not None:
            notes.append(f"{w.name} runs only on {', '.join(sorted(w.only_on))}; other loops are {NA}")
    return notes


def render_text(results: Results) -> str:
    """The table for a terminal: aligned columns, then the legend and notes."""
    header, rows = table(results)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([*lines, "", LEGEND, *_notes(results)])


def render_markdown_table(results: Results) -> str:
    """The table as GitHub markdown."""
    header, rows = table(results)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render_docs(results: Results, machine: str, command: str, date: str) -> str:
    """The whole docs/benchmarks.md page for this run."""
    loops = ", ".join(
        f"{spec.name} ({'skipped: ' + results.missing[spec.name] if spec.name in results.missing else spec.version()})"
        for spec in results.loops
    )
    workloads = "\n".join(
        f"- `{w.name}`: {w.description}." for w in results.workloads
    )
    notes = "\n".join(f"- {note}" for note in _notes(results))
    order = ", ".join(spec.name for spec in results.loops)
    return f"""# Benchmarks

<!-- Written by `python -m bench` (bench/report.py); rerun `make bench` instead of editing. -->

- Machine: {machine}
- Command: `{command}`
- Date: {date}
- Loops: {loops}

## Loop overhead

{render_markdown_table(results)}

{LEGEND}

{notes}

## Workloads

{workloads}

## Method

- {results.rounds} rounds. Each round runs every workload on every loop in turn
  ({order}, then the next workload), so a slow spell of this noisy
  machine is spread over all loops rather than landing on one loop's series.
- Each measurement uses a fresh loop that the harness creates before and closes after
  the timed span; `gc.collect()` runs before it. The time is `time.perf_counter()`
  around `loop.run_until_complete(workload(loop, n))`, divided by `n`.
- `n` is calibrated once per (workload, loop) before the first round, by unrecorded
  probe runs that also warm up, so that each measurement lasts about 100 ms on that
  loop (the loops differ by up to 20x on one workload). Each measurement's `n` is in
  the JSON.
- Stock asyncio is `asyncio.DefaultEventLoopPolicy().new_event_loop()` (the selector
  loop on Linux); ringloop runs with its default options.
- The raw measurements are in `bench/out/results.json` after a run.

## Not measured yet

These are loop-overhead micro-benchmarks only. The echo-server, HTTP and file I/O
workloads, and the C liburing reference, arrive with issue #5.
"""


def to_json(results: Results, machine: str, command: str, date: str) -> dict[str, Any]:
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
        "machine": machine,
        "command": command,
        "date": date,
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
