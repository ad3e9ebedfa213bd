# Tessera: `make run` (demo IdP on SQLite) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test venv migrate demo lint clean bench

venv: $(VENV)/.installed

$(VENV)/.installed: requirements/base.txt requirements/test.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements/test.txt
	touch $@

migrate: venv
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py demo

run: demo
	@echo "Tessera is serving the demo tenant at http://$(HOST):$(PORT)/t/demo (Ctrl-C stops it)"
	$(PY) manage.py runserver --noreload $(HOST):$(PORT)

test: venv
	$(PY) -m pytest -n 2

bench: venv
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) var .pytest_cache
