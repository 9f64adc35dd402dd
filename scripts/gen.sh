#!/usr/bin/env bash
# Regenerates every client's code from proto/ into OUT (default: this checkout).
# scripts/check-gen.sh runs it into a temporary folder and compares.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root}" && cd "${1:-$root}" && pwd)
cd "$root"
export PATH="$root/.venv/bin:$root/.tools/bin:$root/node_modules/.bin:$PATH"

py="$out/clients/python"
mkdir -p "$py/cronstream/v1"
rm -f "$py"/cronstream/v1/*_pb2*.py "$py"/cronstream/v1/*_pb2*.pyi
python -m grpc_tools.protoc -I proto \
  --python_out="$py" --grpc_python_out="$py" \
  --mypy_out="$py" --mypy_grpc_out="$py" \
  proto/cronstream/v1/*.proto 2> >(grep -v '^Writing mypy to' >&2)
: > "$py/cronstream/v1/__init__.py"

rm -rf "$out/clients/go/gen" "$out/clients/typescript/src/gen"
buf generate --template buf.gen.yaml -o "$out"

# The dashboard's bundle (dashboard/build.mjs), committed so that `make run`
# serves it without Node. It reads the TypeScript messages of this checkout,
# which check-gen.sh compares with proto/ before it compares the bundle.
node dashboard/build.mjs --out "$out/server/cronstream_server/web/static"
