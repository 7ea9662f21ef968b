# The README's two commands. Everything else they need, they start themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint format lock bench clean

run: $(VENV)/.installed ## Run the platform with a demo store on http://localhost:8000
	$(PY) -m devtools.devstack run

test: $(VENV)/.installed ## Quality gates + the whole suite on real PostgreSQL/Redis
	$(PY) -m devtools.devstack test $(ARGS)

$(VENV)/.installed: requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	touch $@

lint: $(VENV)/.installed
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

format: $(VENV)/.installed
	$(PY) -m ruff check --fix . && $(PY) -m ruff format .

lock: ## Re-pin requirements.lock from pyproject.toml
	$(PY) -m pip install -q uv && $(VENV)/bin/uv pip compile -q pyproject.toml --extra dev -p 3.11 -o requirements.lock

bench: $(VENV)/.installed ## Every benchmark (see bench/README.md)
	$(PY) -m bench.run_all

clean:
	rm -rf .run staticfiles
