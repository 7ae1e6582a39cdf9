# Two entry points for people and CI alike: `make demo` and `make test`.
# Both build .venv from the project's own files (pyproject.toml + constraints.txt).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
DEMO_OUT := out/demo

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -c constraints.txt -e '.[test]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed-test
	$(PIP) -c constraints.txt -e '.[test,bench]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/buurtgroepen demo --out $(DEMO_OUT)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/partition_bench.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
