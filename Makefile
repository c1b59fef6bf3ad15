# One-command set-up and entry points. Every target sets up what it needs first, idempotently.
SHELL := /bin/bash
VENV := .venv
# Debian's interpreter: python3-rpm is built for it, so `specfile` can import rpm from the venv.
SYSTEM_PYTHON := /usr/bin/python3
STAMP := $(VENV)/.qganb-installed
TEST_STAMP := $(VENV)/.qganb-test-installed
QGANB := $(VENV)/bin/qganb

.PHONY: setup test-setup host-packages test-host-packages test demo bench lab clean-cache

# What `make demo` and `make lab` need; the test suite's extras (Chromium, pytest, Playwright) come
# with `make test`, so that a first demo does not download them.
setup: host-packages $(STAMP)

test-setup: test-host-packages $(TEST_STAMP)

host-packages:
	@scripts/bootstrap-host.sh

test-host-packages:
	@scripts/bootstrap-host.sh --test

$(STAMP): pyproject.toml | host-packages
	@test -x $(VENV)/bin/python || $(SYSTEM_PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e .
	@touch $@

$(TEST_STAMP): pyproject.toml $(STAMP) | test-host-packages
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	@touch $@

# The suite's scratch goes to RAM (tmpfs) when there is room: see scripts/with-test-scratch.sh.
test: test-setup
	@scripts/with-test-scratch.sh $(VENV)/bin/python -m pytest

demo: setup
	@scripts/demo.sh

# JupyterLab on the stage notebooks (headless machines: open the printed URL through an SSH tunnel).
lab: setup
	@scripts/lab.sh

bench: test-setup
	$(VENV)/bin/python benchmarks/first_demo.py
	$(VENV)/bin/python benchmarks/fixture_cache.py
	$(VENV)/bin/python benchmarks/testbed_start.py
	$(VENV)/bin/python benchmarks/edit_loop.py
	$(VENV)/bin/python benchmarks/notebook_edit_loop.py
	$(VENV)/bin/python benchmarks/pipeline_overhead.py
	$(VENV)/bin/python benchmarks/runner_overheads.py
	$(VENV)/bin/python benchmarks/install_overhead.py
	$(VENV)/bin/python benchmarks/rollout_scaling.py
	$(VENV)/bin/python benchmarks/suite_time.py
	$(VENV)/bin/python benchmarks/summary.py

clean-cache:
	rm -rf .cache
