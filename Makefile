# fleetc developer tasks. On a fresh machine `make demo` and `make check` each set up .venv
# first (`make setup`, again whenever pyproject.toml changes); `make check` is what CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= /tmp/fleetc-demo

.PHONY: setup check lint typecheck test demo schema rules goldens bench bench-quick bench-targets

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

check: setup
	$(MAKE) lint typecheck test

# The main job on the example fleet: validate, render every cluster's directory, check it is
# current, and ask the model about flows inside and beyond the fleet.
demo: setup
	$(BIN)/fleetc validate fleets/contoso/fleet.yaml
	$(BIN)/fleetc render fleets/contoso/fleet.yaml --out $(DEMO)
	$(BIN)/fleetc render fleets/contoso/fleet.yaml --out $(DEMO) --check
	find $(DEMO)/clusters/us-api -name '*.yaml' | sort
	$(BIN)/fleetc explain fleets/contoso/fleet.yaml --from api/gateway@us-api \
		--to payments/payments@eu-payments --port 443/TCP
	$(BIN)/fleetc explain fleets/contoso/fleet.yaml --from api/gateway@us-api \
		--to api/catalog@us-api --port 8080/TCP --http "POST /v1/items"
	$(BIN)/fleetc explain fleets/contoso/fleet.yaml --from payments/payments@eu-payments \
		--to fqdn:api.stripe.com --port 443/TCP
	$(BIN)/fleetc values fleets/contoso/fleet.yaml --cluster dev | head -20

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

# Benchmarks (bench/run.py): every size (~40 min), up to 100 clusters (~2 min), or only the
# sizes issue 17's output and floor targets are judged at (~7 min).
bench:
	$(BIN)/python bench/run.py

bench-quick:
	$(BIN)/python bench/run.py --quick

bench-targets:
	$(BIN)/python bench/run.py --targets
