# The README's two commands. Everything else they need, they start themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv

.PHONY: run stop test lint format lock bench clean

run: $(VENV)/.installed ## Run the platform with a demo store on http://localhost:8000
	$(PY) -m devtools.devstack run

stop: ## Stop a `make run` that runs in the background (its web server, stand-in and PostgreSQL)
	$(PY) -m devtools.devstack stop

test: $(VENV)/.installed ## Quality gates + the whole suite on real PostgreSQL/Redis
	$(PY) -m devtools.devstack test $(ARGS)

# uv (from PyPI, into the venv) installs the locks several times faster than pip.
# The venv gets no pip of its own (ensurepip alone takes seconds): the system's pip puts
# uv into it (pip --python), or, without a system pip, the venv's ensurepip'd one does.
# requirements.lock: what the product runs on (the only one the image installs);
# requirements-dev.lock: that plus the test and dev tools, at the same versions.
$(VENV)/.installed: requirements.lock requirements-dev.lock
	test -x $(PY) || $(PYTHON) -m venv --without-pip $(VENV)
	test -x $(UV) || $(PYTHON) -m pip --python $(PY) install -q --disable-pip-version-check uv \
		|| { $(PY) -m ensurepip >/dev/null && $(PY) -m pip install -q --disable-pip-version-check uv; }
	$(UV) pip install -q --python $(PY) -r requirements.lock -r requirements-dev.lock
	touch $@

lint: $(VENV)/.installed
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

format: $(VENV)/.installed
	$(PY) -m ruff check --fix . && $(PY) -m ruff format .

# Re-pin both locks from pyproject.toml. uv keeps every version already pinned in the
# output file (pass UPGRADE=--upgrade to move); the dev lock is constrained to the runtime
# one, so a package in both has the same version in both.
lock: $(VENV)/.installed ## Re-pin requirements.lock and requirements-dev.lock from pyproject.toml
	$(UV) pip compile -q $(UPGRADE) pyproject.toml -p 3.11 -o requirements.lock
	$(UV) pip compile -q $(UPGRADE) pyproject.toml --extra dev -c requirements.lock -p 3.11 -o requirements-dev.lock

bench: $(VENV)/.installed ## Every benchmark (see bench/README.md)
	$(PY) -m bench.run_all

clean:
	rm -rf .run staticfiles
