# Cyclone: `make` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)
export PYTHONWARNINGS := ignore::DeprecationWarning

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(PY):
	python3 -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

setup: $(VENV)/.installed ## create the venv and install pinned dependencies

docker: ## start the Docker engine, the test registry and the test image (tools/docker-up.sh)
	bash tools/docker-up.sh

run: setup ## run the whole stack in the foreground (Ctrl-C stops it)
	$(PY) -m tools.stack

lint: setup ## ruff lint and format check, then mypy (strict on shared/ and every domain module)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The order of the tests is random on every run; `make test SEED=N` replays one.
# (`:=` once: a `?=` variable would draw a new number at each use.)
ifndef SEED
SEED := $(shell python3 -c 'import random; print(random.randrange(1 << 31))')
endif

test: setup lint docker ## lint, then every test in random order (SEED=N replays one; PYTEST_ARGS to pass more)
	@echo "[test] random order seed: $(SEED) (replay: make test SEED=$(SEED))"
	$(PY) -m pytest -q -p randomly --randomly-seed=$(SEED) $(PYTEST_ARGS)

# Markers are set by tests/conftest.py from the fixtures a test uses: `unit` is every test, in
# any folder, that needs no broker, no database, no Docker and no browser. Here the broker and
# the database are unreachable, so a test that needs one anyway fails rather than passes.
UNREACHABLE := CYCLONE_AMQP_URI=amqp://guest:guest@127.0.0.1:1/ CYCLONE_MONGO_URL=mongodb://127.0.0.1:1/cyclone

test-unit: setup ## the tests that need no broker, database, Docker or browser (marker unit)
	@echo "[test-unit] random order seed: $(SEED) (replay: make test-unit SEED=$(SEED))"
	$(UNREACHABLE) $(PY) -m pytest -q -p randomly --randomly-seed=$(SEED) -m unit $(PYTEST_ARGS)

test-real: setup docker ## the others (not unit): real stacks, RabbitMQ, the database, Docker, chromium
	@echo "[test-real] random order seed: $(SEED) (replay: make test-real SEED=$(SEED))"
	$(PY) -m pytest -q -p randomly --randomly-seed=$(SEED) -m "not unit" $(PYTEST_ARGS)

bench: setup docker ## every bench with a target, then one table of them all (bench/README.md)
	bash tools/bench-tools.sh
	$(PY) -m bench.all $(BENCH_ARGS)

fmt: setup ## format the code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean: ## remove the local data dir and caches
	rm -rf .cyclone .pytest_cache .ruff_cache

.PHONY: help setup docker run lint test test-unit test-real bench fmt clean
