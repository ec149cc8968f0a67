# famtune: `make run` starts the app, `make test` runs the whole suite. Both set everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CPU machines take the torch 2.13.0 CPU wheel; on a Jetson, install torch from the JetPack
# wheels first and run with CONSTRAINTS= (see README, "On the Jetson").
CONSTRAINTS ?= -c constraints-cpu.txt
# The CPU install comes from this lock: every runtime and dev package pinned with its hashes,
# for CPython 3.11 on Linux x86_64 (`make lock` makes it from pyproject.toml and the
# constraints). Without the CPU constraints there is no lock: `make run CONSTRAINTS=` (or
# LOCK=) installs from pyproject.toml's ranges as before.
LOCK_FILE := requirements-cpu.lock
LOCK ?= $(if $(strip $(CONSTRAINTS)),$(LOCK_FILE))
PIP_TOOLS := pip-tools==7.6.2
# extra pip-compile options for `make lock`, e.g. LOCK_ARGS=--upgrade
LOCK_ARGS ?=

.PHONY: setup run test lint typecheck bench data screenshots clean lock

$(STAMP): pyproject.toml constraints-cpu.txt $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
ifneq ($(strip $(LOCK)),)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
else
	$(BIN)/python -m pip install --quiet $(CONSTRAINTS) -e '.[dev]'
endif
	touch $(STAMP)

setup: $(STAMP)

# no demo family: the app's first run sets up the user's own family (or the demo, if chosen)
data: setup
	$(BIN)/famtune-engine init --no-demo

run: data
	$(BIN)/famtune

test: setup
	$(BIN)/ruff check engine famtune_gui tests bench scripts
	$(BIN)/lint-imports
	$(BIN)/mypy
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check engine famtune_gui tests bench scripts
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/run_all.py

# Remake the CPU lock after a change to pyproject.toml's dependencies or constraints-cpu.txt
# (pins still allowed are kept), or with LOCK_ARGS=--upgrade to move every pin to the newest
# release. pip-tools runs from a throwaway venv; pip must see torch's CPU wheel (here pip's
# find-links has it), else it would lock the CUDA build, and the recipe stops.
lock:
	$(PYTHON) -c 'import platform, sys; sys.exit(sys.version_info[:2] != (3, 11) or platform.machine() != "x86_64")' \
		|| { echo 'make lock: the CPU lock is for CPython 3.11 on x86_64 (set PYTHON=)' >&2; exit 1; }
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp/venv" && \
	"$$tmp/venv/bin/python" -m pip install --quiet --upgrade pip '$(PIP_TOOLS)' && \
	CUSTOM_COMPILE_COMMAND='make lock' "$$tmp/venv/bin/pip-compile" --quiet --generate-hashes \
		--allow-unsafe --strip-extras --extra dev --no-emit-find-links --no-emit-index-url \
		-c constraints-cpu.txt $(LOCK_ARGS) --output-file $(LOCK_FILE) pyproject.toml
	grep -q '^torch==[^ ]*+cpu ' $(LOCK_FILE) \
		|| { echo 'make lock: pip found no CPU build of torch, the lock pins a CUDA one (git checkout it)' >&2; exit 1; }

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
