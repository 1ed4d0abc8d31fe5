# fleetc developer tasks. `make setup` once on a fresh machine, `make check` is what CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup check lint typecheck test schema rules goldens bench bench-quick

setup:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'

check: lint typecheck test

lint:
	$(BIN)/ruff check compiler tests bench
	$(BIN)/ruff format --check compiler tests bench

typecheck:
	$(BIN)/mypy

test:
	$(BIN)/pytest -q

# Regenerate committed artefacts; review the diff before committing.
schema:
	$(BIN)/fleetc schema > schemas/fleet.schema.json

rules:
	$(BIN)/python -m compiler.report.rules docs/diagnostics.md > rules_table.tmp
	mv rules_table.tmp compiler/report/rules_table.py
	$(BIN)/ruff format -q compiler/report/rules_table.py

goldens:
	FLEETC_UPDATE_GOLDENS=1 $(BIN)/pytest -q tests/test_goldens.py

bench:
	$(BIN)/python bench/run.py

bench-quick:
	$(BIN)/python bench/run.py --quick
