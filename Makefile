# Vigil: two commands. `make run` sets everything up and serves the portal;
# `make test` runs the whole test suite. See README.md.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_WORKERS ?= 2
PYTEST_ARGS ?=

.PHONY: run setup demo test lint bench bench-quick clean worker beat consumer

$(VENV)/.runtime-installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(VENV)/.runtime-installed $@

setup: $(VENV)/.runtime-installed
	@mkdir -p var
	$(PY) manage.py migrate --no-input -v 0
	$(PY) manage.py load_demo

## make run: install, migrate, load demo data, serve http://127.0.0.1:8000 (SQLite, tasks in process)
run: setup
	@echo "Vigil is starting at http://$(HOST):$(PORT)/  (Ctrl-C to stop)"
	@echo "(registry and bureau stub providers on 127.0.0.1:8900, log in var/stub-providers.log)"
	@$(PY) manage.py run_stub_providers --port 8900 > var/stub-providers.log 2>&1 & \
	  stub=$$!; trap 'kill $$stub 2>/dev/null' EXIT INT TERM; \
	  $(PY) manage.py runserver $(HOST):$(PORT)

## make test: the whole suite, in parallel, against PostgreSQL and Redis when they answer
test: $(VENV)/.dev-installed
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(PY) manage.py check
	# models against migrations only: no database needed (CI has not created one yet)
	DATABASE_URL=sqlite:///:memory: $(PY) manage.py makemigrations --check --dry-run

## make bench: every benchmark under bench/ (prints figures and ratios to a baseline)
bench: $(VENV)/.dev-installed
	@for b in bench/audit.py bench/lists.py bench/screening.py bench/screening_quality.py \
	          bench/monitoring.py bench/cases.py bench/enrichment.py; do \
	  if [ -f $$b ]; then echo "== $$b"; $(PY) $$b || exit 1; fi; done

## production-shaped processes (need REDIS_URL / CELERY_BROKER_URL)
worker: $(VENV)/.runtime-installed
	$(VENV)/bin/celery -A config worker --loglevel=INFO
beat: $(VENV)/.runtime-installed
	$(VENV)/bin/celery -A config beat --loglevel=INFO
consumer: $(VENV)/.runtime-installed
	$(PY) manage.py consume_transactions

clean:
	rm -rf var/vigil.sqlite3 var/static .pytest_cache
