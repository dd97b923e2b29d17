"""The benchmark lab's own machinery: statistics, loop skipping, flags, a tiny real run, rendering."""
import asyncio
import json
import sys
from pathlib import Path

import pytest

# `bench/` is a top-level directory of the repository, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import cli  # noqa: E402
from bench.report import docs_page, machine  # noqa: E402
from bench.report import inprocess as report  # noqa: E402
from bench.runners import inprocess as harness  # noqa: E402
from bench.loops import DEFAULT_LOOPS, LoopSpec, probe  # noqa: E402
from bench.registry import WORKLOADS, select  # noqa: E402
from bench.report.stats import Summary, paired_ratio, summarize  # noqa: E402

RINGLOOP, ASYNCIO = DEFAULT_LOOPS[0], DEFAULT_LOOPS[1]


def _not_installed() -> asyncio.AbstractEventLoop:
    raise ImportError("No module named 'ghostloop'")


GHOST = LoopSpec("ghost", _not_installed, "ghostloop")


# -- statistics ------------------------------------------------------------------


def test_summarize_odd_and_even_counts():
    assert summarize([5.0, 1.0, 3.0]) == Summary(median=3.0, low=1.0, high=5.0, samples=3)
    assert summarize([4.0, 1.0, 2.0, 10.0]) == Summary(median=3.0, low=1.0, high=10.0, samples=4)


def test_summarize_rejects_no_samples():
    with pytest.raises(ValueError):
        summarize([])


def test_paired_ratio_is_the_median_of_per_round_ratios():
    ring, other = {1: 1.0, 2: 2.0, 3: 6.0}, {1: 2.0, 2: 4.0, 3: 3.0}
    assert paired_ratio(ring, other) == pytest.approx(0.5)  # ratios 0.5, 0.5, 2; medians' ratio is 2/3
    assert paired_ratio(ring, {1: 4.0, 3: 2.0}) == pytest.approx((0.25 + 3.0) / 2)  # shared rounds only
    assert paired_ratio(ring, {}) is None


def test_measurement_us_per_op():
    m = harness.Measurement("call_soon", "asyncio", 1, n=4000, seconds=0.002)
    assert m.us_per_op == pytest.approx(0.5)


# -- loops ---------------------------------------------------------------------------


def test_probe_skips_a_loop_whose_import_fails():
    usable, missing = probe([GHOST, ASYNCIO])
    assert [spec.name for spec in usable] == ["asyncio"]
    assert missing == {"ghost": "not installed (No module named 'ghostloop')"}
    assert GHOST.version() == "not installed"


def test_probe_lets_other_errors_through():
    def broken() -> asyncio.AbstractEventLoop:
        raise RuntimeError("io_uring is off")

    with pytest.raises(RuntimeError, match="io_uring is off"):
        probe([LoopSpec("broken", broken)])


# -- workload selection --------------------------------------------------------------


def test_select_rejects_unknown_names_listing_the_valid_ones():
    with pytest.raises(ValueError) as info:
        select(["call_soon", "nope"])
    assert "nope" in str(info.value)
    for name in WORKLOADS:
        assert name in str(info.value)


def test_select_rejects_an_empty_list():
    with pytest.raises(ValueError, match="no workload named; valid: call_soon"):
        select([])


def test_select_takes_group_names():
    echo = select(["echo"])
    assert len(echo) == 13 and all(w.group == "echo" for w in echo)
    assert [w.name for w in select(["http", "sleep0"])] == ["sleep0", "http_keepalive"]


def test_select_keeps_registry_order():
    assert [w.name for w in select(["ring_nop", "call_soon"])] == ["call_soon", "ring_nop"]


def test_cli_only_unknown_name_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--only", "sleep0,nope", "--no-docs"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown workload(s): nope" in err and "call_soon_threadsafe" in err


# -- a real run ----------------------------------------------------------------------


def test_calibrate_scales_to_the_target():
    # A cost model instead of the clock: 2 µs per operation, so the answer
    # does not depend on how busy the machine is.
    probes = []

    def two_microseconds_each(spec, workload, n):
        probes.append(n)
        return n * 2e-6

    n = harness.calibrate(ASYNCIO, WORKLOADS["call_soon"], target=0.01, measure_fn=two_microseconds_each)
    assert probes == [1, harness.PROBE_N, harness.PROBE_N * 10]  # a warm-up, then probes up to a tenth of the target
    assert n == 5000  # 10 ms / 2 µs


def test_calibrate_runs_the_real_workload():
    n = harness.calibrate(ASYNCIO, WORKLOADS["call_soon"], target=0.01)
    assert n >= 1 and harness.measure(ASYNCIO, WORKLOADS["call_soon"], n) > 0


def test_tiny_run_measures_both_loops_and_skips_the_missing_one():
    lines: list[str] = []
    workloads = [WORKLOADS[name] for name in ("future", "ring_nop", "call_soon_threadsafe")]
    results = harness.run(workloads, [RINGLOOP, ASYNCIO, GHOST], rounds=2, target=0.002, progress=lines.append)

    assert "skipping ghost: not installed (No module named 'ghostloop')" in lines
    assert any(line.startswith("round 2/2  future") and "ETA" in line for line in lines)
    assert {m.loop for m in results.measurements} == {"ringloop", "asyncio"}
    assert len(results.measurements) == 2 * (2 + 1 + 2)  # ring_nop only on ringloop
    for m in results.measurements:
        assert m.n >= 1 and m.seconds > 0
    for loop in ("ringloop", "asyncio"):
        s = results.summary("future", loop)
        assert s is not None and s.samples == 2 and 0 < s.low <= s.median <= s.high
    assert results.summary("ring_nop", "asyncio") is None
    assert results.summary("future", "ghost") is None

    header, rows = report.table(results)
    assert header == ["workload", "ringloop µs/op", "asyncio µs/op", "ghost µs/op",
                      "ringloop/asyncio", "ringloop/ghost"]
    future_row = rows[0]
    assert future_row[0] == "future"
    assert float(future_row[1].split()[0]) > 0 and float(future_row[4]) > 0
    assert future_row[3] == future_row[5] == "n/a"
    assert rows[1][2] == "n/a"  # ring_nop on asyncio


def test_cli_writes_json_without_touching_docs(tmp_path, monkeypatch):
    docs = tmp_path / "benchmarks.md"
    monkeypatch.setattr(cli, "DOCS_PAGE", docs)
    out = tmp_path / "r.json"
    assert cli.main(["--only", "ring_nop", "--rounds", "1", "--json", str(out), "--no-docs"]) == 0
    data = json.loads(out.read_text())
    assert not docs.exists()
    assert data["command"] == f"python -m bench --only ring_nop --rounds 1 --json {out} --no-docs"
    assert data["servers"] is None  # no server workload was asked for
    loop = data["loop_overhead"]
    assert [(m["workload"], m["loop"]) for m in loop["measurements"]] == [("ring_nop", "ringloop")]
    (summary,) = loop["summary"]
    assert summary["median"] == pytest.approx(loop["measurements"][0]["us_per_op"]) and summary["median"] > 0


# -- rendering -----------------------------------------------------------------------


def _known_results() -> harness.Results:
    ms = [harness.Measurement("call_soon", loop, r, 1000, sec)
          for loop, secs in (("ringloop", (0.001, 0.002, 0.003)), ("asyncio", (0.004, 0.008, 0.005)))
          for r, sec in enumerate(secs, 1)]
    return harness.Results([WORKLOADS["call_soon"], WORKLOADS["ring_nop"]], [RINGLOOP, ASYNCIO, GHOST],
                           {"ghost": "not installed (x)"}, 3, ms)


def test_markdown_table_values():
    table = report.render_markdown_table(_known_results()).splitlines()
    assert table[0] == ("| workload | ringloop µs/op | asyncio µs/op | ghost µs/op "
                        "| ringloop/asyncio | ringloop/ghost |")
    # paired ratio: rounds give 0.25, 0.25, 0.6 -> 0.25 (the medians' ratio would be 0.40)
    assert table[2] == "| call_soon | 2.00 (1.00–3.00) | 5.00 (4.00–8.00) | n/a | 0.25 | n/a |"
    assert table[3] == "| ring_nop | n/a | n/a | n/a | n/a | n/a |"


def test_docs_page_has_table_machine_command_and_scope():
    page = docs_page.render(_known_results(), None, machine="Some CPU, 2 cores", command="python -m bench",
                            date="2024-01-01 00:00 UTC", loops="ringloop (0.1.0)", tools=["wrk: not installed"],
                            chart="matplotlib is not installed")
    assert "## Loop overhead\n\n| workload | ringloop µs/op | asyncio µs/op |" in page
    assert "- Machine: Some CPU, 2 cores" in page
    assert "- Command: `python -m bench`" in page
    assert "- Tools: wrk: not installed" in page
    assert "No chart: matplotlib is not installed." in page
    assert "ghost: not installed (x), so its column is n/a" in page
    assert "Lower is better" in page
    # Sections come from the registry's groups: one per group that has results, none for the rest.
    assert "## File I/O" not in page and "## Echo" not in page


def test_text_table_is_aligned():
    lines = report.render_text(_known_results()).splitlines()
    assert lines[0].startswith("workload ") and set(lines[1]) <= {"-", " "}
    assert lines[2].split()[:3] == ["call_soon", "2.00", "(1.00–3.00)"]


def test_cpu_model_reads_the_first_model_name(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU @ 3GHz\n\nprocessor\t: 1\nmodel name\t: Other\n")
    assert machine.cpu_model(str(info)) == "Test CPU @ 3GHz"
    assert machine.cpu_model(str(tmp_path / "absent")) == "unknown CPU"
