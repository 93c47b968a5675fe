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

lint: setup ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup ## mypy (strict on shared/ and domain modules)
	$(VENV)/bin/mypy

test-unit: setup ## domain tests (no broker, no database)
	$(PY) -m pytest tests/unit -q

# The order of the tests is random on every run; `make test SEED=N` replays one.
# (`:=` once: a `?=` variable would draw a new number at each use.)
ifndef SEED
SEED := $(shell python3 -c 'import random; print(random.randrange(1 << 31))')
endif

test: setup lint docker ## lint, then every test in random order (SEED=N replays one; PYTEST_ARGS to pass more)
	@echo "[test] random order seed: $(SEED) (replay: make test SEED=$(SEED))"
	$(PY) -m pytest -q -p randomly --randomly-seed=$(SEED) $(PYTEST_ARGS)

bench: setup ## API latency benchmark against a baseline (prints figures)
	$(PY) -m bench.api

fmt: setup ## format the code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean: ## remove the local data dir and caches
	rm -rf .cyclone .pytest_cache .ruff_cache

.PHONY: help setup docker run lint typecheck test-unit test bench fmt clean
