# Cronstream: `make run` serves on the embedded SQLite; `make test` runs everything.
# Both install what they need on a fresh machine (see README.md).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench bench-quick lint gen check-gen fmt tools node dashboard venv venv-dev venv-bench clean

run: venv ## serve on the embedded SQLite, printing the address and the keys
	$(BIN)/cronstream dev

test: ## install everything, start throwaway Postgres and Redis, run every check and test
	scripts/test.sh

bench: venv-bench ## Cronstream beside its peers on a throwaway Postgres (~8 min)
	scripts/services.sh install
	$(BIN)/python bench/run.py

bench-quick: venv-bench ## the same at small sizes (under 3 min)
	scripts/services.sh install
	$(BIN)/python bench/run.py --quick

lint: venv-dev node ## ruff, mypy, buf lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	node_modules/.bin/buf lint

gen: venv-dev node tools dashboard ## regenerate every client's code from proto/, and the dashboard's bundle
	scripts/gen.sh
	cd clients/java && mvn -q -B -ntp generate-sources  # Java: generated at build, into target/

check-gen: venv-dev node tools dashboard ## fail when committed generated code is stale
	scripts/check-gen.sh

fmt: venv-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# --- installation -----------------------------------------------------------

venv: $(VENV)/.runtime
venv-dev: $(VENV)/.dev
venv-bench: $(VENV)/.bench
node: node_modules/.installed
dashboard: dashboard/node_modules/.installed
tools: .tools/bin/.installed

$(VENV)/.runtime: pyproject.toml clients/python/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e clients/python -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/pip install --quiet --disable-pip-version-check -e clients/python -e '.[dev]'
	touch $@

$(VENV)/.bench: $(VENV)/.dev
	$(BIN)/pip install --quiet --disable-pip-version-check -e clients/python -e '.[dev,bench]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The dashboard's own packages (esbuild, Preact, uPlot...): only to build its
# bundle; the bundle itself is committed, so `make run` needs no Node.
dashboard/node_modules/.installed: dashboard/package.json dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund --loglevel=error
	touch $@

.tools/bin/.installed: scripts/tools.sh
	scripts/tools.sh
	touch $@

clean:
	rm -rf $(VENV) node_modules dashboard/node_modules .tools .cronstream
