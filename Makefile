# Tessera: `make run` (demo IdP on SQLite) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The issuer `make run` serves and prints: derived from where it listens, unless set.
TESSERA_PUBLIC_URL ?= http://$(if $(filter 0.0.0.0 ::,$(HOST)),127.0.0.1,$(HOST)):$(PORT)

.PHONY: run test test-postgres test-sqlite venv migrate demo lint mutate clean bench

venv: $(VENV)/.installed

$(VENV)/.installed: requirements/base.txt requirements/test.txt requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements/dev.txt
	touch $@

migrate: venv
	$(PY) manage.py migrate --noinput

demo: migrate
	TESSERA_PUBLIC_URL=$(TESSERA_PUBLIC_URL) $(PY) manage.py demo

run: demo
	@echo "Tessera is serving the demo tenant at $(TESSERA_PUBLIC_URL)/t/demo (Ctrl-C stops it)"
	TESSERA_PUBLIC_URL=$(TESSERA_PUBLIC_URL) $(PY) manage.py runserver --noreload $(HOST):$(PORT)

# The whole suite on PostgreSQL (as production runs), then the relying-party flows, the
# attacker-side tests and the audit trail again on SQLite, the database `make run` serves,
# where the application layer stands without row-level security beneath it.
test: test-postgres test-sqlite

test-postgres: venv
	$(PY) -m pytest -n 2

test-sqlite: venv
	TESSERA_TEST_DATABASE=sqlite $(PY) -m pytest -n 2 -m "not postgres" tests/e2e tests/security tests/audit tests/jobs tests/api tests/admin tests/webhooks tests/browser/test_strong_authentication.py tests/browser/test_account_lifecycle.py

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Single-line changes to security-critical code that the suite must notice (devtools/mutate.py);
# run before a security change lands.
mutate: venv
	$(PY) devtools/mutate.py

bench: venv
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
