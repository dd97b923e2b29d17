# Two commands do everything: `make bench` (the main job) and `make test`.
# Each bootstraps what it needs: liburing-dev (apt-get, as root), a .venv, and
# `pip install -e` of this package, which compiles the cffi extension.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
QUICK ?=
ONLY ?=
PYTEST_ARGS ?=

.PHONY: test bench deps clean

test: $(VENV)/.installed-test
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-bench
	$(PY) -m bench $(if $(QUICK),--quick) $(if $(ONLY),--only $(ONLY))

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

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

SOURCES := pyproject.toml setup.py build_ffi.py $(wildcard csrc/*)

$(VENV)/.installed-test: $(VENV)/bin/python $(SOURCES) | deps
	$(PY) -m pip install -q -e '.[test]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/bin/python $(SOURCES) | deps
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

clean:
	rm -rf $(VENV) build src/*.egg-info src/ringloop/_ring/*.so
