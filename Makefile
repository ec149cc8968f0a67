# famtune: `make run` starts the app, `make test` runs the whole suite. Both set everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CPU machines take the torch 2.13.0 CPU wheel; on a Jetson, install torch from the JetPack
# wheels first and run with CONSTRAINTS= (see README, "On the Jetson").
CONSTRAINTS ?= -c constraints-cpu.txt

.PHONY: setup run test lint typecheck bench data screenshots clean

$(STAMP): pyproject.toml constraints-cpu.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(CONSTRAINTS) -e '.[dev]'
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

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
