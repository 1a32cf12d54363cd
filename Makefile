# The two commands: `make run` (the main job, offline) and `make test` (everything CI runs).
# Each creates .venv and installs into it when missing or when pyproject.toml changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOME_DIR ?= .

.PHONY: run test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

# Until the fetch and pipeline issues land, the main job is a queue demonstration:
# 200 jobs in one batch, two of them poison, drained by two worker processes.
run: $(STAMP)
	$(BIN)/fundkit --home $(HOME_DIR) init
	$(BIN)/fundkit --home $(HOME_DIR) enqueue sleep --count 200 --config '{"seconds": 0.005}' --run-id demo
	$(BIN)/fundkit --home $(HOME_DIR) enqueue fail --count 2 --max-retries 2 --run-id demo
	$(BIN)/fundkit --home $(HOME_DIR) work --workers 2 --retry-base 0.2
	$(BIN)/fundkit --home $(HOME_DIR) status

lint: $(STAMP)
	$(BIN)/ruff check fundkit tests benchmarks
	$(BIN)/ruff format --check fundkit tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy fundkit

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_queue.py

clean:
	rm -rf $(VENV) queue/pending queue/processing queue/done queue/failed queue/corrupt queue/tmp queue/locks fundkit.db*
