# Tradewire: `make run` starts the app, `make test` runs the whole suite. Both set up .venv first.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
PYTEST_ARGS ?=
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: run test lint format migrations-check bench ci clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.base: requirements/base.txt | $(PY)
	$(PIP) -r requirements/base.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(PY) -c "import django, channels, celery"
	touch $@

$(VENV)/.dev: requirements/base.txt requirements/dev.txt | $(PY)
	$(PIP) -r requirements/dev.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(PY) -c "import django, pytest, playwright"
	touch $@ $(VENV)/.base

run: $(VENV)/.base
	$(PY) -m config.runner

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: $(VENV)/.dev
	$(PY) -m config.embedded $(PY) manage.py makemigrations --check --dry-run

# The browser suite (tests/e2e/browser) drives Debian's Chromium: install it when it is missing.
$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

test: lint migrations-check $(CHROMIUM)
	$(PY) -m config.embedded $(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.dev
	$(PY) -m config.embedded $(PY) -m bench

ci: test

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
