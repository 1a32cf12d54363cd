# The two commands: `make run` (the main job, offline) and `make test` (everything CI runs).
# Each creates .venv and installs into it when missing or when pyproject.toml changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_HOME ?= runs/make-run

.PHONY: run test lint typecheck unit nbval lab bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m ipykernel install --sys-prefix --name fundkit --display-name "fundkit (this environment)"
	touch $(STAMP)

# The main job, offline, in a fresh workspace: `fundkit run sample` executes the three notebooks
# through papermill (fetch the bundled sample, work its chunk jobs with the rules backend, chart
# the run) and prints where the executed notebooks and the charts are.
run: $(STAMP)
	rm -rf $(RUN_HOME)
	$(BIN)/fundkit --home $(RUN_HOME) run sample --llm rules --workers 2

lint: $(STAMP)
	$(BIN)/ruff check fundkit tests benchmarks
	$(BIN)/ruff format --check fundkit tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy fundkit

unit: $(STAMP)
	$(BIN)/pytest

# The notebooks against their stored outputs (a run on the bundled sample), in a fresh workspace.
nbval: $(STAMP)
	FUNDKIT_HOME=$$(mktemp -d) $(BIN)/pytest -p no:cacheprovider -W ignore::DeprecationWarning \
		--nbval-lax --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg notebooks/

test: lint typecheck unit nbval

# JupyterLab on notebooks/, with this environment's kernel ("fundkit").
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_queue.py
	$(BIN)/python benchmarks/bench_fetch.py
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_llm.py
	$(BIN)/python benchmarks/bench_notebooks.py

clean:
	rm -rf $(VENV) queue/pending queue/processing queue/done queue/failed queue/corrupt queue/tmp queue/locks fundkit.db* runs/r*
