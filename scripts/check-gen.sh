#!/usr/bin/env bash
# Fails when the committed generated code differs from what `make gen` makes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$root/scripts/gen.sh" "$tmp"
status=0
for dir in clients/python/cronstream/v1 clients/go/gen clients/typescript/src/gen server/cronstream_server/web/static; do
  if ! diff -r "$tmp/$dir" "$root/$dir" >/dev/null 2>&1; then
    echo "stale generated code in $dir: run 'make gen' and commit" >&2
    diff -r "$tmp/$dir" "$root/$dir" | head -20 >&2 || true
    status=1
  fi
done
[ "$status" = 0 ] && echo "generated code is up to date"
exit "$status"
