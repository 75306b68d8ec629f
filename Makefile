# The two set-up commands of the README:
#   make demo   start the demo (embedded mode: one process, SQLite, no other service); PORT=8001 picks the port
#   make test   run the whole test suite (lint, types, then every test on SQLite and on PostgreSQL)
# and, for the inner loop:
#   make test-fast   every test that needs no real server or browser, on SQLite only (no lint, no PostgreSQL)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
PORT ?= 8000

.PHONY: demo test test-fast lint services install bench fuzz clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/livecommerce serve --demo --port $(PORT)

services:
	bash scripts/services.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Both backends' passes at once (scripts/test-both.sh says why and how).
test: install services lint
	BIN=$(BIN) bash scripts/test-both.sh $(PYTEST_ARGS)

test-fast: install
	LIVECOMMERCE_TEST_BACKEND=sqlite $(BIN)/pytest -m "not e2e and not browser" $(PYTEST_ARGS)

bench: install services
	$(BIN)/python -m bench

# schemathesis over the whole API as every role, every check, 100 examples per operation
# (the test suite runs the same test with a few; LIVECOMMERCE_TEST_BACKEND picks the database).
FUZZ_EXAMPLES ?= 100
fuzz: install services
	LIVECOMMERCE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q tests/security/test_fuzz_openapi.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache livecommerce.db*

# Translations (README, "Translations"): extract the messages from the code, merge them into the
# catalogs (a translator then edits livecommerce/locale/*/LC_MESSAGES/messages.po), compile the .mo files.
BABEL_KEYWORDS := -k _l -k t -k N_
messages: install
	$(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) --sort-by-file --width 0 -o livecommerce/locale/messages.pot --project livecommerce .
	$(BIN)/pybabel update -i livecommerce/locale/messages.pot -d livecommerce/locale --width 0 --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d livecommerce/locale --statistics
