"""The server half of the lab: C tools, real load-generator and wrk output, server cells, tables, chart, hooks."""
import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest

# `bench/` is a top-level directory of the repository, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.report import chart, docs_page  # noqa: E402
from bench.report import servers as report_servers  # noqa: E402
from bench.runners import ctools, procstat  # noqa: E402
from bench.runners import inprocess as harness  # noqa: E402
from bench.runners import server_process as servers  # noqa: E402
from bench.runners import servers as serverbench  # noqa: E402
from bench.cli import SECONDS_QUICK  # noqa: E402,F401  (registers every workload)
from bench.load.generator import Address, LoadError, parse_loadgen, run_loadgen  # noqa: E402
from bench.loops import DEFAULT_LOOPS, LoopSpec  # noqa: E402
from bench.registry import WORKLOADS, LoadSettings, ServerWorkload  # noqa: E402
from bench.runners.servers import C_SERVER, ServerResults, ServerRun  # noqa: E402
from bench.workloads.echo import echo_client  # noqa: E402
from bench.workloads.file import file_workload, scratch_file  # noqa: E402
from bench.load.wrk import parse_wrk  # noqa: E402

ASYNCIO = DEFAULT_LOOPS[1]

# Captured from a real run: `wrk -t1 -c16 -d1s --latency` against bench/server.py --mode http on uvloop.
WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:36625/
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   224.77us  104.59us   2.14ms   79.01%
    Req/Sec    59.08k     2.71k   63.95k    63.64%
  Latency Distribution
     50%  216.00us
     75%  266.00us
     90%  333.00us
     99%  540.00us
  64509 requests in 1.10s, 4.80MB read
Requests/sec:  58662.36
Transfer/sec:      4.36MB
"""


def _not_installed() -> asyncio.AbstractEventLoop:
    raise ImportError("No module named 'ghostloop'")


GHOST = LoopSpec("ghost", _not_installed, "ghostloop")


# -- C tools -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tools(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("bin")
    return {name: ctools.build(name, out) for name in ctools.TOOLS}


def test_c_tools_build_and_rebuild_when_stale(tools):
    loadgen = tools["loadgen"]
    assert os.access(loadgen, os.X_OK) and os.access(tools["echo_uring"], os.X_OK)
    assert ctools.build("loadgen", loadgen.parent) == loadgen  # fresh: not rebuilt
    os.utime(loadgen, (0, 0))  # older than its source: stale
    ctools.build("loadgen", loadgen.parent)
    assert loadgen.stat().st_mtime > 0


def test_c_tools_say_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(ctools.shutil, "which", lambda name: None)
    with pytest.raises(ctools.BuildError, match="no C compiler `cc`"):
        ctools.build("loadgen", tmp_path)
    with pytest.raises(ctools.BuildError, match="liburing headers are missing.*liburing-dev"):
        ctools.build("echo_uring", tmp_path, cc="cc", header=tmp_path / "liburing.h")
    with pytest.raises(ctools.BuildError, match="unknown C tool"):
        ctools.build("nope", tmp_path)


# -- real load-generator output ------------------------------------------------------


def test_loadgen_against_the_c_echo_server(tools):
    server = servers.start([str(tools["echo_uring"]), "--port", "0"], Address(port=0), cpu=None)
    try:
        result = run_loadgen(tools["loadgen"], server.address, size=1024, connections=4,
                             seconds=0.2, warmup=0.05, cpu=None)
    finally:
        assert server.stop() is None  # still serving when stopped
    assert result.ops > 0 and result.ops_total >= result.ops and result.errors == 0
    assert result.seconds == pytest.approx(0.2, abs=0.05)
    assert result.ops_per_s == pytest.approx(result.ops / result.seconds, rel=1e-3)
    assert result.mb_per_s == pytest.approx(result.ops_per_s * 1024 / 1e6, rel=1e-3)
    assert 0 < result.p50_us <= result.p99_us
    assert result.raw["connections"] == 4 and 0 <= result.load_cpu_util <= 1.5


def test_loadgen_error_report_and_garbage():
    with pytest.raises(LoadError, match="loadgen: connect: Connection refused"):
        parse_loadgen('{"error": "connect: Connection refused"}\n')
    with pytest.raises(LoadError, match="no JSON report"):
        parse_loadgen("Segmentation fault\n")


def test_parse_real_wrk_output():
    r = parse_wrk(WRK_OUTPUT)
    assert (r.ops, r.ops_total, r.seconds) == (64509, 64509, pytest.approx(1.10))
    assert r.ops_per_s == pytest.approx(58662.36)
    assert r.mb_per_s == pytest.approx(4.36 * 1024**2 / 1e6)
    assert (r.p50_us, r.p99_us, r.errors) == (pytest.approx(216.0), pytest.approx(540.0), 0)


def test_parse_wrk_errors_and_units():
    text = WRK_OUTPUT.replace("     99%  540.00us", "     99%    1.50ms").replace(
        "Requests/sec:", "  Socket errors: connect 0, read 2, write 1, timeout 0\n"
                         "  Non-2xx or 3xx responses: 4\nRequests/sec:")
    r = parse_wrk(text)
    assert r.p99_us == pytest.approx(1500.0) and r.errors == 7
    with pytest.raises(LoadError, match="wrk output has no line matching"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


# -- server processes ----------------------------------------------------------------


def test_process_cpu_time_and_perf_csv():
    assert procstat.cpu_seconds(os.getpid()) > 0
    csv = "# started on Mon\n\n1234,,raw_syscalls:sys_enter,1000,100.00,,\n"
    assert procstat.parse_perf_csv(csv) == 1234
    assert procstat.parse_perf_csv("<not counted>,,raw_syscalls:sys_enter,0,0.00,,\n") is None


def test_unsupported_server_line_becomes_the_reason():
    argv = [sys.executable, "-c", "print('UNSUPPORTED NotImplementedError in sock_accept'); raise SystemExit(3)"]
    with pytest.raises(servers.Unsupported, match="^NotImplementedError in sock_accept$"):
        servers.start(argv, Address(port=0), cpu=None)
    with pytest.raises(servers.ServerFailed, match="boom"):
        servers.start([sys.executable, "-c", "import sys; sys.exit('boom')"], Address(port=0), cpu=None)


def test_python_http_server_answers_pipelined_requests():
    argv = servers.python_server_argv("asyncio", "http", Address(port=0))
    server = servers.start(argv, Address(port=0), cpu=None)
    try:
        with socket.create_connection(("127.0.0.1", server.address.port), timeout=5) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
            data = b""
            while data.count(b"Hello, world!") < 2:
                data += conn.recv(4096)
    finally:
        server.stop()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_cell_that_is_not_supported_is_reported_not_raised(tools):
    w = ServerWorkload("echo_fake", "echo", "fake", "protocol", echo_client(64))
    cell = serverbench._Cell(w, w.name, "ringloop", lambda a: [
        sys.executable, "-c", "print('UNSUPPORTED AttributeError: no _start_serving', flush=True)"])
    run = serverbench._run_cell(cell, 1, LoadSettings(0.1, 0.0, None), None, count_syscalls=False)
    assert run == ServerRun("echo_fake", "ringloop", 1, None, "not supported: AttributeError: no _start_serving")


def test_tiny_real_server_run_skips_missing_loops_and_tools():
    lines: list[str] = []
    echo = WORKLOADS["echo_unix_protocol_1k"]
    absent = ServerWorkload("needs_tool", "http", "x", "http", echo_client(1), requires=lambda: "tool missing")
    results = serverbench.run([echo, absent], [ASYNCIO, GHOST], rounds=1, seconds=0.2, warmup=0.0,
                              progress=lines.append)
    assert "skipping ghost: not installed (No module named 'ghostloop')" in lines
    assert "skipping needs_tool: tool missing" in lines
    assert any(line.startswith("round 1/1  echo_unix_protocol_1k") and "ETA" in line for line in lines)
    assert {(r.workload, r.server) for r in results.runs} == {("echo_unix_1k", C_SERVER),
                                                              ("echo_unix_protocol_1k", "asyncio")}
    for r in results.runs:
        assert r.error is None, r.error
        assert r.metrics["ops_per_s"] > 0 and r.metrics["cpu_us_per_op"] >= 0
    assert [row[:2] for row in report_servers.table(results)[1]] == [
        ["echo_unix_1k", C_SERVER], ["echo_unix_protocol_1k", "asyncio"]]


# -- statistics and tables -----------------------------------------------------------


def _known_server_results() -> ServerResults:
    w = WORKLOADS["echo_tcp_protocol_1k"]
    runs = []
    for server, key, rates in ((C_SERVER, "echo_tcp_1k", (100.0, 200.0, 300.0)),
                               ("ringloop", w.name, (20.0, 60.0, 90.0)),
                               ("uvloop", w.name, (40.0, 80.0, 100.0))):
        for rnd, rate in enumerate(rates, 1):
            runs.append(ServerRun(key, server, rnd, {"ops_per_s": rate, "mb_per_s": rate / 1000,
                                                     "cpu_us_per_op": 10.0 * rnd, "syscalls_per_op": 2.0,
                                                     "p50_us": 100.0, "p99_us": 900.0,
                                                     "load_cpu_util": 0.95 if server == C_SERVER else 0.3}))
    runs.append(ServerRun(w.name, "asyncio", 1, None, "not supported: NotImplementedError in sock_accept"))
    return ServerResults([w], [C_SERVER, "ringloop", "asyncio", "uvloop"], {}, {}, [], 3, 1.0, runs)


def test_server_table_medians_ranges_and_paired_ratios():
    header, rows = report_servers.table(_known_server_results())
    assert header == ["workload", "server", "ops/s", "MB/s", "CPU µs/op", "syscalls/op", "p50 µs", "p99 µs",
                      "vs uvloop", "vs C"]
    c_row, ring, asy, uv = rows
    assert c_row == ["echo_tcp_1k", C_SERVER, "200* (100–300)", "0.2", "20.0", "2.00", "100", "900", "n/a", "1.00"]
    # ringloop/uvloop per round: 0.5, 0.75, 0.9 -> 0.75; ringloop/C: 0.2, 0.3, 0.3 -> 0.30
    assert ring == ["echo_tcp_protocol_1k", "ringloop", "60 (20–90)", "0.1", "20.0", "2.00", "100", "900",
                    "0.75", "0.30"]
    assert asy[2] == "n/a (not supported: NotImplementedError in sock_accept)" and asy[3:] == [""] * 7
    assert uv[8] == "1.00"
    assert any(note.startswith("* the load generator") for note in report_servers.notes(_known_server_results()))


def test_syscall_column_is_dropped_without_perf():
    results = _known_server_results()
    results.notes.append("syscalls per operation omitted: perf is not installed")
    header, rows = report_servers.table(results)
    assert "syscalls/op" not in header and all(len(row) == len(header) for row in rows)


def test_server_json_keeps_every_run_and_the_ratios():
    data = report_servers.to_json(_known_server_results())
    assert len(data["runs"]) == 10
    ring = next(c for c in data["summary"] if c["server"] == "ringloop")
    assert ring["ops_per_s"]["median"] == 60.0 and ring["ratio_to_uvloop"] == pytest.approx(0.75)
    assert next(c for c in data["summary"] if c["server"] == "asyncio")["error"].startswith("not supported")


def test_chart_and_docs_page(tmp_path):
    if chart.matplotlib_problem():
        pytest.skip("matplotlib is not installed")
    png = tmp_path / "b.png"
    chart.write(png, None, _known_server_results(), "test")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = docs_page.render(None, _known_server_results(), machine="M", command="c", date="d", loops="l",
                            tools=[], chart="benchmarks.png")
    assert "![throughput and loop overhead per loop](benchmarks.png)" in page
    assert "## Echo\n\n| workload | server | ops/s |" in page
    assert "| echo_tcp_protocol_1k | ringloop | 60 (20–90) |" in page


# -- the file I/O hook ---------------------------------------------------------------


def test_file_workload_is_one_function(tmp_path, monkeypatch):
    monkeypatch.setattr("bench.workloads.file.SCRATCH_DIR", tmp_path)

    @file_workload("read 4 KiB at offset 0", size=8192)
    async def read_4k(loop, n, path):
        with open(path, "rb") as f:
            for _ in range(n):
                assert len(os.pread(f.fileno(), 4096, 0)) == 4096

    try:
        w = WORKLOADS["read_4k"]
        assert w.group == "file" and harness.measure(ASYNCIO, w, 10) > 0
        assert (tmp_path / "scratch-8192.bin").stat().st_size == 8192
    finally:
        del WORKLOADS["read_4k"]
    assert scratch_file(8192, tmp_path) == tmp_path / "scratch-8192.bin"
