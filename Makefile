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

# The main job, offline: fetch the bundled sample (Grants.gov formats, served in-process through
# the grants.gov connector) into a run, work its chunk jobs through the pipeline with the rules
# backend, and show the run and the best opportunities.
run: $(STAMP)
	$(BIN)/fundkit --home $(HOME_DIR) init
	$(BIN)/fundkit --home $(HOME_DIR) fetch sample
	$(BIN)/fundkit --home $(HOME_DIR) work --workers 2 --llm rules
	$(BIN)/fundkit --home $(HOME_DIR) runs
	$(BIN)/fundkit --home $(HOME_DIR) opportunities --limit 10

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
	$(BIN)/python benchmarks/bench_fetch.py
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_llm.py

clean:
	rm -rf $(VENV) queue/pending queue/processing queue/done queue/failed queue/corrupt queue/tmp queue/locks fundkit.db* runs/r*
