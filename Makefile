# The two commands: `make run` (the demo) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit system-deps bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,offline-model,offline-model-en]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/obs-support demo

system-deps:
	@scripts/system-deps

lint: $(STAMP)
	$(BIN)/ruff check obs_support tests bench
	$(BIN)/ruff format --check obs_support tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy obs_support

unit: $(STAMP)
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

test: $(STAMP) system-deps lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/api_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
