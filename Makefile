# The two commands of the README: `make run` (the product on embedded defaults) and `make test` (every test).
# Both install what they need on a fresh machine; nothing here assumes anything installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install web browser archives

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(STAMP)

# The console is built only when its sources are present (web/package.json).
web:
	@if [ -f web/package.json ]; then cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build; fi

# Debian's Chromium for the console's browser tests; nothing is downloaded by a test tool itself.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

archives: $(STAMP)
	$(BIN)/python -m scripts.build_archives

run: $(STAMP) web
	$(BIN)/python -m scripts.run

test: $(STAMP) web browser
	$(BIN)/python -m pytest
