# The two commands of the README: `make demo` and `make test`. Each one sets up
# everything it needs first: a virtualenv in .venv with the exact, hash-checked versions
# of requirements/dev.txt (the lock) and segsync itself, editable.
#
# The locks: requirements/dev.txt (runtime + dev tools + build backend; .venv and CI) and
# requirements/runtime.txt (the same versions without the dev tools and the sandbox CRM's
# extra; deploy/Dockerfile).
# `make lock` re-resolves them after pyproject.toml changes, `make upgrade` moves every
# pin to its newest release (`make upgrade PACKAGE=babel`: that one only); both then
# reinstall .venv and rebuild the data tables shipped in the package (`make tables`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_LOCK := requirements/dev.txt
RUNTIME_LOCK := requirements/runtime.txt
# The locks are for the image's Python (deploy/Dockerfile: python:3.11) on Linux.
LOCK_OPTS := --quiet --generate-hashes --python-version 3.11 --python-platform linux \
	--custom-compile-command 'make lock'
UPGRADE ?=

.PHONY: install demo test lint tables lock upgrade bench clean chromium

# --no-build-isolation: building segsync uses the locked setuptools instead of fetching
# an unpinned, unhashed one. PYTHONWARNINGS hides setuptools' notice that an editable
# install is editable.
$(STAMP): pyproject.toml $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	PYTHONWARNINGS="ignore:Editable installation" \
		$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/segsync demo

test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2

# The console's browser tests drive Debian's Chromium (browser downloads from the
# internet fail where segsync is built); installed once, with sudo when not root.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		$$sudo apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q chromium; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Data tables built from libraries' data; each records the versions that built it.
tables: $(STAMP)
	$(BIN)/python -m segmentation.enrich

# The runtime lock is resolved within the dev lock, so the image runs the versions CI tested.
lock: $(STAMP)
	$(BIN)/uv pip compile $(LOCK_OPTS) $(UPGRADE) \
		pyproject.toml --extra dev --extra sandbox requirements/build.in -o $(DEV_LOCK)
	$(BIN)/uv pip compile $(LOCK_OPTS) \
		pyproject.toml requirements/build.in -c $(DEV_LOCK) -o $(RUNTIME_LOCK)
	$(MAKE) install
	$(MAKE) tables

upgrade:
	$(MAKE) lock UPGRADE="$(if $(PACKAGE),--upgrade-package $(PACKAGE),--upgrade)"

clean:
	rm -rf $(VENV) .segsync .pytest_cache .mypy_cache .ruff_cache
