# volumebot: `make run` starts the whole platform, `make test` runs the whole suite.
# Both need only Python 3.11: everything else (PostgreSQL, Redis, the Solana localnet) is
# installed into .venv and started by the project itself.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CHROMIUM := /usr/bin/chromium

.PHONY: run test bench lint format chromium install manage clean

$(BIN)/.installed: requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "volumebot needs Python 3.11 (set PYTHON=/path/to/python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	@touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/python -m volumebot.devstack run

test: install chromium lint
	$(BIN)/python -m volumebot.devstack test

bench: install
	$(BIN)/python -m volumebot.devstack bench

lint: install
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

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

clean:
	rm -rf $(VENV) .devstack staticfiles artifacts
