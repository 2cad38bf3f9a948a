# volumebot: `make run` starts the whole platform, `make test` runs the whole suite.
# Both need only Python 3.11: everything else (PostgreSQL, Redis, the Solana localnet) is
# installed into .venv and started by the project itself.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CHROMIUM := /usr/bin/chromium
NODE := /usr/bin/node

.PHONY: run test bench lint format chromium node install lock manage clean

# uv installs the lock exactly as written: `uv pip sync` takes the listed files (each checked
# against its hash) and resolves nothing, so an install cannot change with what the package
# index serves on the day. The venv's own pip (whatever version Python brought) installs only
# uv itself, one pinned and hashed wheel with no dependencies, kept in .venv/bootstrap (so a
# test can make a fresh venv the same way with no network: tests/deploy/test_install.py).
export UV_PYTHON_DOWNLOADS := never
UV := $(BIN)/uv

$(BIN)/.installed: requirements/bootstrap.lock requirements/dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "volumebot needs Python 3.11 (set PYTHON=/path/to/python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --no-deps --only-binary :all: --require-hashes -d $(VENV)/bootstrap -r requirements/bootstrap.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --only-binary :all: --require-hashes --no-index --find-links $(VENV)/bootstrap -r requirements/bootstrap.lock
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes --only-binary :all: requirements/dev.lock
	@touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/python -m volumebot.devstack run

test: install chromium node lint
	$(BIN)/python -m volumebot.devstack test

bench: install
	$(BIN)/python -m volumebot.devstack bench

lint: install
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Regenerate the locks from pyproject.toml (and uv's own from requirements/bootstrap.in), keeping every current pin that still fits (README,
# "Updating dependencies"): make lock, or make lock UPGRADE="--upgrade-package django".
LOCK_FLAGS := --quiet --generate-hashes --python-version 3.11 --annotation-style line --custom-compile-command "make lock"
lock: install
	$(UV) pip compile $(LOCK_FLAGS) $(UPGRADE) --extra dev -c requirements/dev.lock -o requirements/dev.lock pyproject.toml
	$(UV) pip compile $(LOCK_FLAGS) -c requirements/dev.lock -o requirements/runtime.lock pyproject.toml
	$(UV) pip compile $(LOCK_FLAGS) $(UPGRADE) -o requirements/bootstrap.lock requirements/bootstrap.in

# Run any management command against the embedded stack: make manage ARGS="createsuperuser"
manage: install
	$(BIN)/python -m volumebot.devstack manage $(ARGS)

# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = "0" ]; then \
			echo "Installing Debian's chromium for the browser tests..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
		else \
			echo "The browser tests need Chromium at $(CHROMIUM): run 'sudo apt-get install -y --no-install-recommends chromium'." >&2; \
			exit 1; \
		fi; \
	fi

# The independent client test (tests/clients/) runs @solana/web3.js, pinned by its
# package-lock.json, on Debian's Node.js; the test itself runs `npm ci` from the lock.
node:
	@if [ ! -x $(NODE) ] || ! command -v npm >/dev/null; then \
		if [ "$$(id -u)" = "0" ]; then \
			echo "Installing Debian's nodejs and npm for the client tests..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; \
		else \
			echo "The client tests need Node.js at $(NODE) and npm: run 'sudo apt-get install -y --no-install-recommends nodejs npm'." >&2; \
			exit 1; \
		fi; \
	fi

clean:
	rm -rf $(VENV) .devstack staticfiles artifacts tests/clients/web3js/node_modules
