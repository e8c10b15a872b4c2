# Two entry points for a fresh clone:  `make demo`  and  `make test`.
# Each creates .venv (once), installs attnlab into it with the CPU build of torch
# pinned by constraints.txt, then runs.

PYTHON ?= python3
export NO_MKDOCS_2_WARNING := 1
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
DEMO_OUT ?= attnlab-demo

.PHONY: demo test lint docs docs-serve bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Stamp files record what has been installed so that a second run is instant.
$(VENV)/.installed-base: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e ".[test,docs,grade]"
	touch $(VENV)/.installed-base $@

demo: $(VENV)/.installed-base
	$(BIN)/attnlab demo --out $(DEMO_OUT) --force

test: $(VENV)/.installed-dev
	$(BIN)/ruff check attnlab tests benchmarks
	$(BIN)/python -m pytest
	$(BIN)/mkdocs build --strict --site-dir $(VENV)/site

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check attnlab tests benchmarks
	$(BIN)/ruff format --check attnlab tests benchmarks

docs: $(VENV)/.installed-dev
	$(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(VENV)/.installed-dev
	$(BIN)/mkdocs serve

bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) site build $(DEMO_OUT) .pytest_cache .ruff_cache .hypothesis
