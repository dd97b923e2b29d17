"""Real-application workloads (bench/workloads/apps.py): each app really serves on every installed loop.

A short real cell per (application, loop): aiohttp and uvicorn under wrk,
websockets under its client process, asyncpg against a PostgreSQL started
for the test.  What this machine lacks (a library, wrk, PostgreSQL without
root) is a skip that says why; a library that fails on a loop is a failure.
"""
import glob
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

# `bench/` is a top-level directory of the repository, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import cli  # noqa: E402
from bench.load.generator import Address  # noqa: E402
from bench.loops import DEFAULT_LOOPS, probe  # noqa: E402
from bench.registry import WORKLOADS, ServerWorkload, Unavailable, select  # noqa: E402
from bench.report import servers as report_servers  # noqa: E402
from bench.runners import servers as serverbench  # noqa: E402
from bench.workloads import apps  # noqa: E402

APPS = ["app_aiohttp", "app_uvicorn", "app_asyncpg", "app_websockets"]
USABLE, _ = probe(DEFAULT_LOOPS)


def _pg_dirs() -> set[str]:
    return set(glob.glob(f"{tempfile.gettempdir()}/bench-pg-*"))


@pytest.mark.parametrize("name", APPS)
def test_the_application_serves_on_every_installed_loop(name):
    before = _pg_dirs()
    w = WORKLOADS[name]
    results = serverbench.run([w], USABLE, rounds=1, seconds=0.3, warmup=0.05, progress=lambda line: None)
    not_run = {r.error for r in results.runs if r.error and r.error.startswith("not run:")}
    if not_run:
        pytest.skip(not_run.pop())
    assert {r.server for r in results.runs} == {spec.name for spec in USABLE}
    for r in results.runs:
        assert r.error is None, f"{name} on {r.server}: {r.error}"
        assert r.metrics["ops_per_s"] > 0 and r.metrics["cpu_us_per_op"] >= 0
    assert _pg_dirs() == before  # the PostgreSQL directory is removed afterwards


def _serving(w: ServerWorkload, loop: str):
    address = Address(port=serverbench.free_port() if w.ready == "port" else 0)
    argv = w.server(loop, address, None)
    if w.ready == "port":
        return serverbench.start_listening(argv, address, None)
    return serverbench.servers.start(argv, address, None)


@pytest.mark.parametrize("name,module", [("app_uvicorn", "uvicorn"), ("app_aiohttp", "aiohttp")])
def test_each_server_runs_the_loop_it_was_asked_for(name, module):
    __import__(module)  # the test extra has them: a missing one is a broken install, not a skip
    if name == "app_uvicorn":
        __import__("httptools")
    for spec in USABLE:
        server = _serving(WORKLOADS[name], spec.name)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.address.port}/loop", timeout=10) as reply:
                running = reply.read().decode()
            with urllib.request.urlopen(f"http://127.0.0.1:{server.address.port}/", timeout=10) as reply:
                assert reply.read() == b'{"message": "Hello, world!"}'
        finally:
            assert server.stop() is None  # it was still serving
        assert running.split(".")[0] == {"ringloop": "ringloop", "uvloop": "uvloop", "asyncio": "asyncio"}[spec.name]


def test_uvicorn_gets_ringloop_through_its_documented_loop_option():
    argv = apps.uvicorn_argv("ringloop", Address(port=8000), None)
    assert argv[argv.index("--loop") + 1] == "ringloop:new_event_loop"
    assert argv[argv.index("--http") + 1] == "httptools"


def test_real_applications_stay_out_of_quick_unless_named():
    everything = select(None)
    assert not any(w.name in APPS for w in cli.for_quick(everything, None))
    assert [w.name for w in cli.for_quick(select(["apps"]), ["apps"])] == APPS
    assert [w.name for w in cli.for_quick(select(["app_uvicorn"]), ["app_uvicorn"])] == ["app_uvicorn"]
    assert all(not WORKLOADS[name].quick for name in APPS)


def test_an_unavailable_environment_gives_rows_that_say_why():
    def environment():
        raise Unavailable("PostgreSQL is not installed")

    w = ServerWorkload("needs_db", "apps", "x", "x", apps.pg_client, environment=environment)
    lines = []
    results = serverbench.run([w], USABLE, rounds=1, seconds=0.1, progress=lines.append)
    assert "not running needs_db: PostgreSQL is not installed" in lines
    rows = report_servers.table(results)[1]
    assert [row[1] for row in rows] == [spec.name for spec in USABLE]
    assert all(row[2] == "n/a (not run: PostgreSQL is not installed)" for row in rows)


def test_missing_modules_names_the_first_missing_one():
    assert apps.missing_modules("json", "no_such_module_here") == \
        "no_such_module_here is not installed (pip install -e '.[bench]')"
    assert apps.missing_modules("json") is None
