# Two commands do everything: `make bench` (the main job) and `make test`.
# Each bootstraps what it needs: liburing-dev (apt-get, as root), a .venv, and
# `pip install -e` of this package, which compiles the cffi extension.
# `make test` runs nox (noxfile.py): lint-imports and mypy once, then the suite
# on every CPython from 3.11 to 3.13 this machine has, each in its own venv;
# an absent interpreter is reported as skipped, by name.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
QUICK ?=
ONLY ?=
PYTEST_ARGS ?=

.PHONY: test bench deps testsuites pgserver benchtools clean

test: $(VENV)/.installed-nox | deps testsuites pgserver
	$(VENV)/bin/nox $(if $(PYTEST_ARGS),-- $(PYTEST_ARGS))

bench: $(VENV)/.installed-bench | benchtools
	$(PY) -m bench $(if $(QUICK),--quick) $(if $(ONLY),--only $(ONLY))
	$(if $(ONLY),,$(PY) -m bench.sync_bytes $(if $(QUICK),--ids 20000 --rounds 1))

# Tools the benchmarks compare against or load with (fio, wrk; PostgreSQL for
# the asyncpg and recorder rows of a full run); installed when missing and
# root, otherwise their rows say what is missing.
benchtools:
	@for pkg in $$(command -v fio >/dev/null || echo fio) $$(command -v wrk >/dev/null || echo wrk) \
			$(if $(QUICK),,$$(ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || echo postgresql)); do \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing $$pkg with apt-get"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkg || exit 1; \
		else \
			echo "note: $$pkg is missing; the benchmarks that need it will say so (apt-get install $$pkg)"; \
		fi; \
	done

deps:
	@if [ ! -f /usr/include/liburing.h ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing liburing-dev with apt-get"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq liburing-dev; \
		else \
			echo "error: liburing headers are missing: install liburing-dev (Debian/Ubuntu: sudo apt-get install liburing-dev)" >&2; \
			exit 1; \
		fi; \
	fi

# CPython's own test_asyncio suites run in `make test`; Debian ships an
# interpreter's `test` package apart (libpython3.X-testsuite): install it for
# every interpreter on PATH that lacks it, or stop and say so.
testsuites:
	@for v in 3.11 3.12 3.13; do \
		py=$$(command -v python$$v) || continue; \
		$$py -c 'import sys' 2>/dev/null || continue; \
		$$py -c 'import test.test_asyncio' 2>/dev/null && continue; \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing libpython$$v-testsuite with apt-get (CPython's test package for $$py)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpython$$v-testsuite || exit 1; \
		else \
			echo "error: $$py has no test.test_asyncio: install libpython$$v-testsuite (Debian/Ubuntu)" >&2; exit 1; \
		fi; \
	done

# tests/recorder_pg start a throwaway PostgreSQL server of their own.
pgserver:
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing postgresql with apt-get (tests/recorder_pg start a throwaway server)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql || exit 1; \
		else \
			echo "error: PostgreSQL server binaries are missing: install postgresql (Debian/Ubuntu: sudo apt-get install postgresql)" >&2; exit 1; \
		fi; \
	fi

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

SOURCES := pyproject.toml setup.py build_ffi.py $(wildcard csrc/*)

$(VENV)/.installed-nox: $(VENV)/bin/python
	$(PY) -m pip install -q 'nox>=2024.3'
	touch $@

$(VENV)/.installed-bench: $(VENV)/bin/python $(SOURCES) | deps
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

clean:
	rm -rf $(VENV) .nox build src/*.egg-info src/ringloop/_ring/*.so
