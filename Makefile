# Two entry points: `make test` and `make book`. Both create .venv on first use and
# re-install only when requirements.txt or pyproject.toml changed (.venv.stamp).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= quick
# Seconds of measuring for `make book` (empty: the profile's default, quick's first-run budget; 0: no budget,
# measure everything). A budgeted run measures the pages' headlines first; running it again measures what it cut.
BUDGET ?=

.PHONY: test test-browser book book-report env clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

.venv.stamp: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch .venv.stamp

env: .venv.stamp
	$(BIN)/ftax env

test: .venv.stamp
	$(BIN)/python -m pytest -q

# The hosted pages in headless Chromium (tests/test_browser.py; skipped by `make test` without a browser):
# installs the distribution's chromium if missing (root, Debian/Ubuntu) and Playwright into .venv.
test-browser: .venv.stamp
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	$(BIN)/python -m pip install -q -r requirements-browser.txt
	$(BIN)/python -m pytest -q tests/test_browser.py

book: .venv.stamp
	$(BIN)/ftax book --profile $(PROFILE) $(if $(BUDGET),--budget-s $(BUDGET))

book-report: .venv.stamp
	$(BIN)/ftax book --profile $(PROFILE) --no-measure --strict

clean:
	rm -rf _build .pytest_cache
