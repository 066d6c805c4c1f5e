# The README's two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers; 2 cores here.
WORKERS ?= auto

.PHONY: run test install install-dev e2e-deps screenshots worker lint format migrate seed clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Re-install only when the dependency list changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Serve the store on the embedded defaults: SQLite, local files, console e-mail,
# eager Celery, demo payments. DEBUG is on here only. Links in e-mails point to
# where it is served (HOST:PORT) unless SITE_URL is set.
run: export DEBUG ?= true
run: export SITE_URL ?= http://$(HOST):$(PORT)
# seed_demo prints the address and the demo accounts in a box, last, right
# before the server starts (settings create var/ for SQLite).
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py runserver $(HOST):$(PORT)

# Lint, then the whole suite. CI=true (set by .ci/run) means PostgreSQL and
# Redis, and browser/service tests fail instead of skipping.
test: install-dev e2e-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -n $(WORKERS) $(PYTEST_ARGS)

# axe-core for the browser tests' accessibility checks (tests/e2e/package-lock.json),
# installed again only when the lock file changes. Without npm those checks skip
# (under CI=true they fail: .ci/run installs it first).
E2E_NODE := tests/e2e/node_modules/.package-lock.json
e2e-deps:
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "npm not found: the accessibility checks will skip"; \
	elif [ ! $(E2E_NODE) -nt tests/e2e/package-lock.json ]; then \
	  npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error; \
	fi

# The README's pictures (docs/screenshots/*.png), taken by the browser tests.
screenshots: install-dev e2e-deps
	SCREENSHOTS=docs/screenshots $(VENV)/bin/pytest -n 0 -p no:cacheprovider tests/e2e/test_accessibility.py

# A Celery worker against REDIS_URL (without it, tasks run eagerly in-process).
worker: install
	$(VENV)/bin/celery -A storefront worker --loglevel=INFO

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf var/static .pytest_cache
