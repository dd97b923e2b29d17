"""The micro-benchmarks' rounds for ``python -m bench``: one fresh ``pytest bench/micro`` process per round.

Each round runs every operation on every loop, the loops of one operation
back to back (their order rotated from round to round), and writes
pytest-benchmark's JSON; a round's value for an (operation, loop) pair is
the median of its timed calls divided by the operations per call.  Ratios
are then paired within rounds, as everywhere in the lab.  A fresh process
per round gives every round the same interpreter state.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..loops import LoopSpec, probe
from ..report.stats import Summary, summarize
from .ops import OPS, Op

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = REPO / "bench" / "out" / "micro"
#: Extra seconds one round may take past its estimate before it counts as hung.
ROUND_TIMEOUT = 600.0


@dataclass(frozen=True)
class MicroRun:
    """One (operation, loop) pair in one round: µs per operation (median over its timed calls)."""

    op: str
    loop: str
    round: int
    us_per_op: float
    calls: int  # timed calls (pytest-benchmark rounds) behind the median


@dataclass
class MicroResults:
    """Every round's per-operation times, the loops left out, and what went wrong."""

    ops: list[Op]
    loops: list[str]  # every loop asked for: the table's columns
    missing: dict[str, str]  # loop -> why it did not run
    rounds: int
    max_time: float
    runs: list[MicroRun] = field(default_factory=list)
    errors: dict[tuple[str, str], str] = field(default_factory=dict)  # (op, loop) -> why it has no number
    notes: list[str] = field(default_factory=list)

    def per_round(self, op: str, loop: str) -> dict[int, float]:
        """{round: µs/op} of one pair."""
        return {r.round: r.us_per_op for r in self.runs if r.op == op and r.loop == loop}

    def summary(self, op: str, loop: str) -> Summary | None:
        """Median and min–max over the rounds; None when never measured."""
        samples = list(self.per_round(op, loop).values())
        return summarize(samples) if samples else None


def pytest_argv(json_path: Path, *, max_time: float, min_rounds: int, ops: Sequence[str] | None = None,
                warmup: bool = True) -> list[str]:
    """The command line of one round: the suite (or the tests of ``ops``) writing its JSON to ``json_path``."""
    targets = [str(HERE / "test_micro.py")] if ops is None else \
        [f"{HERE / 'test_micro.py'}::test_{name}" for name in ops]
    argv = [sys.executable, "-m", "pytest", *targets, "-q", "-p", "no:cacheprovider",
            f"--benchmark-json={json_path}", f"--benchmark-max-time={max_time}",
            f"--benchmark-min-rounds={min_rounds}", "--benchmark-columns=median,rounds"]
    if warmup:
        argv += ["--benchmark-warmup=on", "--benchmark-warmup-iterations=2"]
    return argv


def parse_round(data: dict[str, Any], rnd: int) -> list[MicroRun]:
    """The runs recorded in one pytest-benchmark JSON report (only this suite's benchmarks)."""
    runs = []
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info", {})
        loop = (bench.get("params") or {}).get("micro_loop")
        if info.get("op") not in OPS or loop is None:
            continue
        stats = bench["stats"]
        runs.append(MicroRun(info["op"], loop, rnd, stats["median"] / info["per_call"] * 1e6, stats["rounds"]))
    return runs


def _failures(output: str) -> dict[str, str]:
    """{node id: short reason} of the FAILED / ERROR lines of pytest's -ra summary."""
    found = {}
    for line in output.splitlines():
        for tag in ("FAILED ", "ERROR "):
            if line.startswith(tag):
                node, _, why = line.removeprefix(tag).partition(" - ")
                found[node.strip()] = f"{tag.strip().lower()}: {why.strip()[:160] or 'see pytest output'}"
    return found


def run(loops: Sequence[LoopSpec], rounds: int, *, max_time: float, min_rounds: int,
        ops: Sequence[str] | None = None, warmup: bool = True, out: Path = OUT,
        progress: Callable[[str], None] = print) -> MicroResults:
    """``rounds`` rounds of the suite (all of :data:`OPS`, or ``ops``) on ``loops``, each a fresh pytest process.

    Only loops of :data:`bench.loops.DEFAULT_LOOPS` can run in the suite;
    others are probed, and reported missing when not installed.

    A round that fails leaves its failing pairs without a number and says
    why in ``errors``; it never stops the run.  ``warmup`` turns on
    pytest-benchmark's warm-up calls (two per pair).  Each round's JSON stays
    in ``out`` (``round-N.json``).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    names = list(OPS) if ops is None else list(ops)
    usable, missing = probe(loops)
    results = MicroResults([OPS[n] for n in names], [spec.name for spec in loops], missing, rounds, max_time)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for rnd in range(1, rounds + 1):
        path = out / f"round-{rnd}.json"
        path.unlink(missing_ok=True)
        env = {**os.environ, "BENCH_MICRO_ROTATE": str(rnd - 1),
               "BENCH_MICRO_LOOPS": ",".join(spec.name for spec in usable)}
        done = subprocess.run(pytest_argv(path, max_time=max_time, min_rounds=min_rounds, ops=ops, warmup=warmup),
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=ROUND_TIMEOUT)
        found = parse_round(json.loads(path.read_text()), rnd) if path.exists() else []
        results.runs += found
        for node, why in _failures(done.stdout + done.stderr).items():
            name = node.split("::test_")[-1].split("[")[0]
            loop = node.rsplit("[", 1)[-1].rstrip("]") if "[" in node else "all"
            results.errors[(name, loop)] = why
        if done.returncode not in (0,) and not found:
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            results.notes.append(f"round {rnd}: pytest exited with status {done.returncode}: {' / '.join(tail)}")
        eta = (time.perf_counter() - started) / rnd * (rounds - rnd)
        progress(f"round {rnd}/{rounds}  micro: {len(found)} of {len(names) * len(usable)} (operation, loop) "
                 f"pairs measured  ETA {eta:4.0f} s")
    return results
