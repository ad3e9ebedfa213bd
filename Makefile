# Tessera: `make run` (demo IdP on SQLite) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The issuer `make run` serves and prints: derived from where it listens, unless set.
TESSERA_PUBLIC_URL ?= http://$(if $(filter 0.0.0.0 ::,$(HOST)),127.0.0.1,$(HOST)):$(PORT)

.PHONY: run test test-postgres test-topology test-sqlite venv migrate demo lint mutate clean bench soak prod-like

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
# where the application layer stands without row-level security beneath it. Between them, the
# tests that start servers of their own (the production-like topology of devtools/prodlike.py,
# the fault stack): one at a time, so that their timings see one load.
test: test-postgres test-topology test-sqlite

test-postgres: venv
	$(PY) -m pytest -n 2 -m "not prodlike"

test-topology: venv
	$(PY) -m pytest -p no:logging -m prodlike tests/prodlike tests/faults

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

# issue 15: the 10-minute soak on the production-like topology (tests/prodlike/test_soak.py;
# `make test` runs it for 60 s); figures in var/soak.json.
soak: venv
	TESSERA_SOAK_SECONDS=600 $(PY) -m pytest -p no:cacheprovider -s tests/prodlike/test_soak.py

# issue 15: Tessera's production topology on loopback from Debian packages (devtools/prodlike.py):
# nginx with TLS -> two gunicorn nodes -> pgbouncer -> PostgreSQL; Redis; worker, beat, audit
# shipper. Runs `check --deploy` and the OpenID flows, prints the issuer; Ctrl-C stops everything.
# `make test-topology` (part of `make test`) runs the tests on it.
prod-like: venv
	$(PY) devtools/prodlike.py
