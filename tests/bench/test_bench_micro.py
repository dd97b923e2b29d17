"""The micro-benchmark suite (bench/micro, pytest-benchmark) runs, and its numbers reach the report.

A tiny budget (one timed call per pair, no warm-up): this checks that the
suite still runs on every installed loop and that the runner and the table
read what it writes, not how fast anything is.
"""
import json
import sys
from pathlib import Path

import pytest

# `bench/` is a top-level directory of the repository, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest_benchmark  # noqa: E402,F401  (in the test extra: missing is a broken install, not a skip)

from bench import cli  # noqa: E402,F401  (registers every workload, the micro group too)
from bench.loops import DEFAULT_LOOPS, LoopSpec, probe  # noqa: E402
from bench.micro import runner  # noqa: E402
from bench.micro.ops import OPS  # noqa: E402
from bench.registry import WORKLOADS, MicroWorkload, select  # noqa: E402
from bench.report import docs_page  # noqa: E402
from bench.report import micro as report_micro  # noqa: E402


def _not_installed():
    raise ImportError("No module named 'ghostloop'")


GHOST = LoopSpec("ghost", _not_installed, "ghostloop")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("micro")
    lines = []
    results = runner.run([*DEFAULT_LOOPS, GHOST], 1, max_time=1e-6, min_rounds=1, warmup=False,
                         out=out, progress=lines.append)
    return results, out, lines


def test_every_operation_is_measured_on_every_installed_loop(tiny_run):
    results, out, lines = tiny_run
    usable, _ = probe(DEFAULT_LOOPS)
    assert results.errors == {} and results.notes == []
    measured = {(r.op, r.loop) for r in results.runs}
    assert measured == {(op, spec.name) for op in OPS for spec in usable}
    assert all(r.us_per_op > 0 and r.calls >= 1 and r.round == 1 for r in results.runs)
    assert "ghost" in results.missing
    data = json.loads((out / "round-1.json").read_text())  # pytest-benchmark's own report stays
    assert len(data["benchmarks"]) == len(OPS) * len(usable)
    assert lines and lines[-1].startswith("round 1/1  micro:")


def test_the_table_has_a_row_per_operation_and_says_why_a_loop_is_missing(tiny_run):
    results, _, _ = tiny_run
    header, rows = report_micro.table(results)
    assert header[:2] == ["operation", "unit"] and "ringloop/asyncio" in header
    assert [row[0] for row in rows] == list(OPS)
    ghost = header.index("ghost µs")
    assert all(row[ghost] == "n/a (not installed)" for row in rows)
    asyncio_ratio = header.index("ringloop/asyncio")
    assert all(row[asyncio_ratio] != "n/a" for row in rows)  # ringloop and asyncio always run
    record = report_micro.to_json(results)
    json.dumps(record)
    assert {r["op"] for r in record["ratios"] if r["ratio"] == "ringloop/asyncio"} == set(OPS)


def test_docs_page_gets_the_micro_section(tiny_run):
    results, _, _ = tiny_run
    page = docs_page.render(None, None, machine="m", command="c", date="d", loops="l", tools=[],
                            chart=None, micro_results=results)
    assert "## Loop machinery per operation (pytest-benchmark)" in page
    assert "| call_soon_threadsafe | op |" in page
    assert "`micro_gather_1000_sleeps` (micro)" in page


def test_one_operation_alone(tmp_path):
    results = runner.run(DEFAULT_LOOPS[:2], 1, max_time=1e-6, min_rounds=1, warmup=False,
                         ops=["sleep0"], out=tmp_path, progress=lambda line: None)
    assert {(r.op, r.loop) for r in results.runs} == {("sleep0", "ringloop"), ("sleep0", "asyncio")}


def test_a_failing_round_is_reported_per_pair():
    output = ("FAILED bench/micro/test_micro.py::test_future[ringloop] - AssertionError: lost a callback\n"
              "ERROR bench/micro/test_micro.py::test_sleep0[uvloop] - RuntimeError\n"
              "1 failed, 1 error, 16 passed in 3.00s\n")
    assert runner._failures(output) == {
        "bench/micro/test_micro.py::test_future[ringloop]": "failed: AssertionError: lost a callback",
        "bench/micro/test_micro.py::test_sleep0[uvloop]": "error: RuntimeError",
    }


def test_micro_group_is_selectable_and_not_in_the_other_steps():
    micro = [w for w in WORKLOADS.values() if isinstance(w, MicroWorkload)]
    assert [w.op for w in micro] == list(OPS)
    assert select(["micro"]) == micro
    assert select(["micro_call_soon"]) == [WORKLOADS["micro_call_soon"]]
