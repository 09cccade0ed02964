# finance_sync: set-up, serve, test and lint an Odoo 19 addon from its repository root.
#   make run                      set everything up, then serve on http://127.0.0.1:8069
#   make test [ARGS='-k name']    set everything up, install into a fresh test database, run pytest
#   make lint                     ruff check + format check + pylint-odoo
#   make screens                  take the screenshots of docs/screens (a scratch database, a few minutes)

ODOO_SRC       ?= /opt/odoo
PYTHON         ?= python3
DB_NAME        ?= finance_sync_demo
TEST_DB        ?= finance_sync_test
HTTP_PORT      ?= 8069
TEST_HTTP_PORT ?= 8169
ARGS           ?=

VENV  := $(CURDIR)/.venv
BUILD := $(CURDIR)/.build
PY    := $(VENV)/bin/python
ODOO  := $(PY) $(ODOO_SRC)/odoo-bin
export ODOO_SRC PYTHON DB_NAME TEST_DB HTTP_PORT TEST_HTTP_PORT

.PHONY: setup run test lint format bench screens clean
.DEFAULT_GOAL := help

help:
	@sed -n 's/^#   //p' Makefile

setup:
	@bash scripts/setup.sh

run: setup
	@bash scripts/run.sh

test: setup
	@eval "set -- $(ARGS)"; bash scripts/test.sh "$$@"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	cd $(BUILD)/addons && $(VENV)/bin/pylint --rcfile=$(CURDIR)/.pylintrc finance_sync

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup
	@bash scripts/bench.sh

screens: setup
	$(PY) scripts/screenshots.py
	$(PY) scripts/screenshots_ops.py

clean:
	rm -rf $(BUILD)
