#!/usr/bin/env bash
# River peer benchmark for Cronstream's benchmark suite: runs River's own
# benchmark (`river bench --num-total-jobs N`, River's worker in-process) on
# the given database and prints ONE JSON line on stdout:
#
#   {"system": "river", "version": "...", "workload": "w1", "jobs": N,
#    "completed": M, "seconds": y, "per_second": z, "notes": "..."}
#
# Usage: bench/peers/go/river_bench.sh DSN JOBS
#
# The River CLI is pinned by go.mod/go.sum beside this script and built into
# the repository's .tools/bin (override with RIVER_BIN=/path/to/river) when
# missing or built from other versions. Then: `river migrate-up`, `river bench`.
# If the database had no River schema before, the script migrates it back down
# to nothing at the end (RIVER_BENCH_KEEP_SCHEMA=1 keeps it). Only the given
# database is touched; note that `river bench` itself truncates river_job.
#
# Time bounds (seconds, environment): RIVER_BENCH_TIMEOUT (bench, default 300),
# RIVER_BUILD_TIMEOUT (CLI build, default 600), RIVER_MIGRATE_TIMEOUT (each
# migrate command, default 120).
set -euo pipefail

PROG=${0##*/}
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ $# -eq 2 ] || { printf 'usage: %s DSN JOBS\n' "$PROG" >&2; exit 2; }
DSN=$1
JOBS=$2
[[ $DSN =~ ^postgres(ql)?:// ]] || die "DSN must be a postgres:// or postgresql:// URL"
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "JOBS must be a positive integer"

BENCH_TIMEOUT=${RIVER_BENCH_TIMEOUT:-300}
BUILD_TIMEOUT=${RIVER_BUILD_TIMEOUT:-600}
MIGRATE_TIMEOUT=${RIVER_MIGRATE_TIMEOUT:-120}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
RIVER=${RIVER_BIN:-$ROOT/.tools/bin/river}

# Versions pinned in go.mod: the CLI module and the River library it links.
gomod_version() {
  awk -v mod="$1" '$1 == mod && $2 ~ /^v/ { print $2; exit }
                   $1 == "require" && $2 == mod && $3 ~ /^v/ { print $3; exit }' "$HERE/go.mod"
}
CLI_VERSION=$(gomod_version github.com/riverqueue/river/cmd/river)
RIVER_VERSION=$(gomod_version github.com/riverqueue/river)
[ -n "$CLI_VERSION" ] && [ -n "$RIVER_VERSION" ] || die "cannot read River versions from $HERE/go.mod"

# Versions a built binary carries (from its Go build info).
binary_versions() {
  go version -m "$1" 2>/dev/null | awk '
    ($1 == "mod" || $1 == "dep") && $2 == "github.com/riverqueue/river/cmd/river" { cli = $3 }
    $1 == "dep" && $2 == "github.com/riverqueue/river" { lib = $3 }
    END { print cli " " lib }'
}

# ------------------------------------------------------------------ the CLI

if [ -n "${RIVER_BIN:-}" ]; then
  # A CLI given by the caller is used as it is; report what it was built from.
  [ -x "$RIVER" ] || die "RIVER_BIN=$RIVER is not an executable"
  if command -v go >/dev/null 2>&1; then
    read -r bin_cli bin_lib <<<"$(binary_versions "$RIVER")" || true
    [ -z "${bin_cli:-}" ] || CLI_VERSION=$bin_cli
    [ -z "${bin_lib:-}" ] || RIVER_VERSION=$bin_lib
  fi
else
  need_build=0
  if [ ! -x "$RIVER" ]; then
    need_build=1
  elif command -v go >/dev/null 2>&1; then
    [ "$(binary_versions "$RIVER")" = "$CLI_VERSION $RIVER_VERSION" ] || need_build=1
  fi
  if [ "$need_build" -eq 1 ]; then
    command -v go >/dev/null 2>&1 || die "go is needed to build the River CLI"
    log "building River CLI $CLI_VERSION (River $RIVER_VERSION) into $RIVER"
    mkdir -p "$(dirname "$RIVER")"
    tmp_bin="$RIVER.tmp.$$"
    if ! (cd "$HERE" && timeout "$BUILD_TIMEOUT" go build -mod=readonly -trimpath -o "$tmp_bin" \
            github.com/riverqueue/river/cmd/river) >&2; then
      rm -f "$tmp_bin"
      die "building the River CLI failed"
    fi
    mv -f "$tmp_bin" "$RIVER"
  fi
fi

# ---------------------------------------------------------------- the bench

workdir=$(mktemp -d)
created_schema=0
cleanup() {
  local rc=$?
  if [ "$created_schema" -eq 1 ] && [ "${RIVER_BENCH_KEEP_SCHEMA:-0}" != 1 ]; then
    timeout "$MIGRATE_TIMEOUT" "$RIVER" migrate-down --database-url "$DSN" --target-version 0 \
      >"$workdir/migrate-down.log" 2>&1 || log "warning: migrate-down failed: $(tail -n 3 "$workdir/migrate-down.log")"
  fi
  rm -rf "$workdir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# `migrate-list` marks the applied version with '*'; none means no River schema yet.
timeout "$MIGRATE_TIMEOUT" "$RIVER" migrate-list --database-url "$DSN" >"$workdir/migrate-list.log" 2>&1 \
  || die "river migrate-list failed: $(tail -n 5 "$workdir/migrate-list.log")"
if ! grep -q '^\*' "$workdir/migrate-list.log"; then
  created_schema=1
fi

timeout "$MIGRATE_TIMEOUT" "$RIVER" migrate-up --database-url "$DSN" >"$workdir/migrate-up.log" 2>&1 \
  || die "river migrate-up failed: $(tail -n 5 "$workdir/migrate-up.log")"

log "river bench --num-total-jobs $JOBS (timeout ${BENCH_TIMEOUT}s)"
bench_rc=0
# SIGINT first: River's bench then stops its client and still prints its
# summary line; SIGKILL 15 s later if it does not exit.
timeout --signal=INT --kill-after=15 "$BENCH_TIMEOUT" \
  "$RIVER" bench --database-url "$DSN" --num-total-jobs "$JOBS" \
  >"$workdir/bench.out" 2>"$workdir/bench.err" || bench_rc=$?
cat "$workdir/bench.out" >&2
if [ "$bench_rc" -ne 0 ] && [ "$bench_rc" -ne 124 ]; then
  tail -n 20 "$workdir/bench.err" >&2
  die "river bench exited with status $bench_rc"
fi

# Final summary line, e.g.
#   bench: total jobs worked [ 2000 ], total jobs inserted [ 2000 ],
#          overall job/sec [ 7194.2 ], running 278.002815ms
summary=$(grep 'total jobs worked' "$workdir/bench.out" | tail -n 1 || true)
[ -n "$summary" ] || die "no summary line in river bench output"

parse_rc=0
json=$(LC_ALL=C awk -v jobs="$JOBS" -v version="${RIVER_VERSION#v}" -v cli="${CLI_VERSION#v}" \
                    -v timed_out="$([ "$bench_rc" -eq 124 ] && echo true || echo false)" '
  # Go duration string (e.g. 1m2.5s, 278.002815ms, 950µs) to seconds.
  function go_duration_seconds(d,    total, num, unit, mult) {
    total = 0
    while (d != "") {
      if (!match(d, /^[0-9]+(\.[0-9]+)?/)) return -1
      num = substr(d, 1, RLENGTH) + 0
      d = substr(d, RLENGTH + 1)
      if (!match(d, /^(h|ms|m|s|us|\302\265s|\316\274s|ns)/)) return -1
      unit = substr(d, 1, RLENGTH)
      d = substr(d, RLENGTH + 1)
      if (unit == "h") mult = 3600
      else if (unit == "m") mult = 60
      else if (unit == "s") mult = 1
      else if (unit == "ms") mult = 1e-3
      else if (unit == "ns") mult = 1e-9
      else mult = 1e-6
      total += num * mult
    }
    return total
  }
  {
    line = $0
    gsub(/[][,]/, " ", line)
    n = split(line, f, /[ \t]+/)
    worked = ""; rate = ""; dur = ""
    for (i = 1; i <= n; i++) {
      if (f[i] == "worked" && worked == "") worked = f[i + 1]
      if (f[i] == "job/sec") rate = f[i + 1]
      if (f[i] == "running") dur = f[i + 1]
    }
    secs = go_duration_seconds(dur)
    if (worked == "" || rate == "" || secs < 0) { print "parse error: " $0 > "/dev/stderr"; exit 1 }
    printf "{\"system\": \"river\", \"version\": \"%s\", \"workload\": \"w1\", \"jobs\": %d, ", version, jobs
    printf "\"completed\": %d, \"seconds\": %.4f, \"per_second\": %.1f, ", worked, secs, rate
    printf "\"cli_version\": \"%s\", ", cli
    if (timed_out == "true") printf "\"timed_out\": true, "
    printf "\"notes\": \"river bench, its own worker in-process: River CLI %s harness built against River %s; ", cli, version
    printf "jobs inserted with InsertMany in 5000-job batches before the client starts, then one client with "
    printf "the bench settings (MaxWorkers 2000, FetchCooldown 2ms, FetchPollInterval 20ms); seconds = client "
    printf "started to last job-completed event (River bench timing)\"}\n"
    if (worked + 0 != jobs + 0) exit 4
  }' <<<"$summary") || parse_rc=$?

[ -n "$json" ] || die "could not parse river bench summary: $summary"
printf '%s\n' "$json"
[ "$bench_rc" -eq 0 ] || exit 3
[ "$parse_rc" -eq 0 ] || { log "completed count differs from JOBS"; exit 1; }
