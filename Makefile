# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DATA_DIR ?= var
# The suite spreads over every core (pytest-xdist); each worker has its own servers and
# databases. The slowest tests are listed so that a slow one is seen.
PYTEST_ARGS ?= -n auto --durations=25

.PHONY: demo test install install-test frontend clean

# The portal's front end: npm installs the locked packages, esbuild bundles them into
# leitstand/portal/static/build/ (not committed). Rebuilt whenever a source changes.
FRONTEND_BUILD := leitstand/portal/static/build/.built
FRONTEND_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/build.mjs frontend/package.json frontend/package-lock.json

demo: $(VENV)/.installed $(FRONTEND_BUILD)
	$(BIN)/leitstand demo --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

# The import contracts first (pyproject.toml, [tool.importlinter]): a second, not worth a test run when broken.
test: $(VENV)/.installed-test $(FRONTEND_BUILD)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

frontend: $(FRONTEND_BUILD)

frontend/node_modules/.package-lock.json: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund

$(FRONTEND_BUILD): $(FRONTEND_SOURCES) frontend/node_modules/.package-lock.json
	cd frontend && npm run build

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

clean:
	rm -rf $(VENV) var test-output .pytest_cache frontend/node_modules leitstand/portal/static/build
