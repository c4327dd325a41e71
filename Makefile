# Hagukumi — the two commands a newcomer needs: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15

.PHONY: serve test test-embedded test-services bench lint install migrate clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	$(BIN)/hagukumi migrate

## serve: set up, migrate the SQLite database under var/, load demo data when empty, serve
serve: $(STAMP)
	$(BIN)/hagukumi migrate
	$(BIN)/hagukumi serve --demo --host $(HOST) --port $(PORT)

## test: the suite on SQLite + fakeredis, then on PostgreSQL + Redis when reachable
test: $(STAMP)
	@$(BIN)/python -m tests.shapes run -- $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/eligibility.py
	$(BIN)/python benchmarks/population.py
	$(BIN)/python benchmarks/sweep.py
	$(BIN)/python benchmarks/webhook.py
	$(BIN)/python benchmarks/delivery.py
	$(BIN)/python benchmarks/rule_cost.py
	$(BIN)/python benchmarks/daycare.py
	$(BIN)/python benchmarks/allocation.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
