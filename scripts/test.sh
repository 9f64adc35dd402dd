#!/usr/bin/env bash
# `make test`: installs what the suite needs, checks the code, starts throwaway
# Postgres and Redis on loopback, runs every test, and stops what it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "installing (venv, npm tools, Go plugins, the dashboard's packages, Postgres, Redis, chromium and firefox-esr)"
make --no-print-directory venv-dev node tools dashboard
scripts/services.sh install

step "lint: ruff, mypy, buf"
make --no-print-directory lint
if git rev-parse --verify --quiet main >/dev/null; then
  node_modules/.bin/buf breaking --against '.git#branch=main'
else
  echo "no main branch here: buf breaking skipped"
fi

step "generated code is up to date"
scripts/check-gen.sh

step "dashboard: TypeScript type check"
(cd dashboard && node_modules/.bin/tsc --noEmit -p tsconfig.json)

step "Go client: gofmt, vet, unit tests"
(cd clients/go && test -z "$(gofmt -l .)" && go vet ./... && go test ./...)

step "TypeScript client: build and unit tests"
(cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error && npm test)

step "Java client: build and unit tests"
(cd clients/java && mvn -B -ntp test)

step "tests (pytest on SQLite and Postgres, with Redis)"
scripts/services.sh run -- env CRONSTREAM_REQUIRE_SERVICES=1 \
  "$root/.venv/bin/pytest" -q -p no:cacheprovider "$@"
