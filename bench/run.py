"""`make bench`: Cronstream and its peers, same workloads, same Postgres, one table.

    .venv/bin/python bench/run.py            # full sizes (about 20 minutes)
    .venv/bin/python bench/run.py --quick    # small sizes (under 5 minutes)

Installs the peers in their own environments (bench/.venv-peers, the npm
folder bench/peers/node, River's CLI under .tools/bin), starts one throwaway
Postgres with stock settings (synchronous_commit on), gives every run a fresh
database on it, prints one table with Cronstream's ratio to each peer, and
writes every figure to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Postgres, database_name, log, postgres

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS_VENV = BENCH / ".venv-peers"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
NODE_PEER = BENCH / "peers" / "node"
RESULTS = BENCH / "results" / "latest.json"
RUN_TIMEOUT = 900  # seconds for any single run, whatever it is


@dataclass(frozen=True)
class Sizes:
    jobs: int  # W1 executions
    schedules: int  # W2 schedules firing every second
    seconds: int  # W2 window
    latency_jobs: int  # graphile-worker's add-to-start latency run
    calls: int  # control plane CreateJob calls
    scale_jobs: int  # active cron jobs held
    mix_jobs: int = 100_000  # W3 cron jobs
    mix_seconds: int = 60  # W3 window


FULL = Sizes(
    jobs=20_000, schedules=1_000, seconds=30, latency_jobs=2_000, calls=10_000, scale_jobs=1_000_000
)
QUICK = Sizes(
    jobs=5_000,
    schedules=200,
    seconds=10,
    latency_jobs=300,
    calls=2_000,
    scale_jobs=50_000,
    mix_jobs=10_000,
    mix_seconds=20,
)


def install_peers() -> None:
    """Each peer in its own environment, never the project's venv."""
    if not PEERS_PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    requirements = BENCH / "peers" / "python" / "requirements.txt"
    subprocess.run(
        [
            str(PEERS_PYTHON),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(requirements),
        ],
        check=True,
    )
    if not (NODE_PEER / "node_modules" / "graphile-worker").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_PEER, check=True
        )


def run_json(command: list[str], timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
    """Runs one benchmark process; its last stdout line is its JSON."""
    log("running " + " ".join(part if "://" not in part else "<dsn>" for part in command))
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"exit {done.returncode}, no result"}
    result: dict[str, Any] = json.loads(lines[-1])
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    return result


def _dashboard_row(beside: dict[str, Any]) -> tuple[str, str, str, str]:
    """The last round (alternated windows): W2 with the page loads, its p99's
    ratio to the window without, and the page loads' own latency."""
    last = (beside.get("rounds") or [{}])[-1]
    during, before = last.get("with_page_loads", {}), last.get("without", {})
    pages = last.get("page_loads", {})
    ratio = _ratio(during.get("p99_ms"), before.get("p99_ms"))
    page = f"page p50 {pages.get('p50_ms', '-')} ms, p99 {pages.get('p99_ms', '-')} ms"
    return (
        "W2 start lateness",
        "cronstream go, beside 1,000 dashboard page loads",
        _precision(during or beside),
        f"p99 {ratio} of without; {page}",
    )


def _servers_row(two: dict[str, Any], one: dict[str, Any]) -> tuple[str, str, str, str]:
    """W1 on two server processes: its rate and their CPU in all, each as a
    ratio to the run on one."""
    cpu = "server_cpu_ms_per_1000"
    rate = _ratio(two.get("per_second"), one.get("per_second"))
    return (
        "W1 executions/s",
        "cronstream go, 2 server processes",
        f"{_figure(two, 'per_second')} ({two.get(cpu, '-')} ms server CPU per 1,000)",
        f"{rate} of one, CPU {_ratio(two.get(cpu), one.get(cpu))}",
    )


def fresh(cluster: Postgres, prefix: str) -> Postgres:
    return cluster.database(database_name(prefix))


def run_all(cluster: Postgres, sizes: Sizes) -> dict[str, dict[str, Any]]:
    py, peers = sys.executable, str(PEERS_PYTHON)
    python_peers = BENCH / "peers" / "python"
    results: dict[str, dict[str, Any]] = {}
    dsn = cluster.dsn
    redis = ["--redis-url", cluster.redis_url] if cluster.redis_url else []
    w1, w2 = (
        ["--executions", str(sizes.jobs)],
        ["--schedules", str(sizes.schedules), "--seconds", str(sizes.seconds)],
    )
    results["cronstream w1 go"] = run_json(
        [py, "bench/throughput.py", "--dsn", dsn, "--worker", "go", *w1]
    )
    # The same on two server processes on the one database (a port each, a
    # worker process each, Redis between them): scale-out on one host.
    results["cronstream w1 go 2 servers"] = run_json(
        [py, "bench/throughput.py", "--dsn", dsn, "--worker", "go", "--servers", "2", *redis, *w1]
    )
    # W1 keyed: the same jobs over 100 concurrency keys of 50 places each
    # (5,000 places for the workers' 2,000 slots): what admission costs.
    results["cronstream w1 go keyed"] = run_json(
        [py, "bench/throughput.py", "--dsn", dsn, "--worker", "go", "--keys", "100", *w1]
    )
    results["cronstream w1 python"] = run_json(
        [py, "bench/throughput.py", "--dsn", dsn, "--worker", "python", *w1]
    )
    results["cronstream w2 go"] = run_json(
        [py, "bench/precision.py", "--dsn", dsn, "--worker", "go", *w2]
    )
    # The same two with metrics kept, served and scraped every second: their cost.
    results["cronstream w1 go metrics"] = run_json(
        [py, "bench/throughput.py", "--dsn", dsn, "--worker", "go", "--metrics", *w1]
    )
    results["cronstream w2 go metrics"] = run_json(
        [py, "bench/precision.py", "--dsn", dsn, "--worker", "go", "--metrics", *w2]
    )
    # W2 beside a 100,000-instant backfill of a job of the same handler.
    results["cronstream w2 backfill"] = run_json(
        [py, "bench/backfill.py", "--dsn", dsn, "--worker", "go", *w2]
    )
    # W2 beside 1,000 dashboard page loads on the HTTP port, 50 at a time.
    results["cronstream w2 dashboard"] = run_json(
        [py, "bench/dashboard_load.py", "--dsn", dsn, "--schedules", str(sizes.schedules)]
    )
    results["graphile-worker w1"] = run_json(
        [
            "node",
            str(NODE_PEER / "graphile_bench.mjs"),
            "--dsn",
            fresh(cluster, "graphile").dsn,
            "--workload",
            "w1",
            "--jobs",
            str(sizes.jobs),
        ]
    )
    results["graphile-worker w2"] = run_json(
        [
            "node",
            str(NODE_PEER / "graphile_bench.mjs"),
            "--dsn",
            fresh(cluster, "graphile").dsn,
            "--workload",
            "w2",
            "--jobs",
            str(sizes.latency_jobs),
        ]
    )
    results["river w1"] = run_json(
        [
            str(BENCH / "peers" / "go" / "river_bench.sh"),
            fresh(cluster, "river").dsn,
            str(sizes.jobs),
        ]
    )
    for name, script in (
        ("procrastinate", "procrastinate_bench.py"),
        ("apscheduler", "apscheduler_bench.py"),
    ):
        results[f"{name} w1"] = run_json(
            [
                peers,
                str(python_peers / script),
                "--dsn",
                fresh(cluster, name).dsn,
                "--workload",
                "w1",
                "--jobs",
                str(sizes.jobs),
            ]
        )
        results[f"{name} w2"] = run_json(
            [
                peers,
                str(python_peers / script),
                "--dsn",
                fresh(cluster, name).dsn,
                "--workload",
                "w2",
                *w2[:2],
                "--seconds",
                str(sizes.seconds),
            ]
        )
    results["cronstream control plane"] = run_json(
        [
            py,
            "bench/control_plane.py",
            "--dsn",
            fresh(cluster, "cp").url,
            "--clients",
            "32",
            "--calls",
            str(sizes.calls),
        ]
    )
    # Two platforms: B's every-second schedules while A bursts (docs/scheduling.md).
    for burst in ("once", "cron"):
        results[f"cronstream fairness {burst}"] = run_json(
            [py, "bench/fairness.py", "--dsn", dsn, "--burst", burst]
        )
    # What Postgres and the server spend per execution's rows (docs/storage.md).
    for script in ("bulk_encoding", "live_table"):
        results[f"cronstream {script.replace('_', ' ')}"] = run_json(
            [py, f"bench/{script}.py", "--dsn", cluster.dsn]
        )
    results.update(run_mix(cluster, sizes))
    results["cronstream scale"] = run_json(
        [
            py,
            "bench/scale.py",
            "--dsn",
            fresh(cluster, "scale").url,
            "--jobs",
            str(sizes.scale_jobs),
        ],
        timeout=RUN_TIMEOUT * 2,
    )
    return results


def run_mix(cluster: Postgres, sizes: Sizes) -> dict[str, dict[str, Any]]:
    """W3 twice, the server without and with Redis (the throwaway cluster's,
    or $CRONSTREAM_TEST_REDIS_URL beside a given --dsn)."""
    mix = [sys.executable, "bench/mix.py", "--dsn", cluster.dsn, "--jobs", str(sizes.mix_jobs)]
    mix += ["--seconds", str(sizes.mix_seconds)]
    results = {"cronstream w3": run_json(mix)}
    redis_url = cluster.redis_url or os.environ.get("CRONSTREAM_TEST_REDIS_URL")
    results["cronstream w3 redis"] = (
        run_json([*mix, "--redis", "--redis-url", redis_url])
        if redis_url
        else {"error": "no Redis beside the given --dsn"}
    )
    return results


def _figure(result: dict[str, Any], key: str, unit: str = "") -> str:
    if "error" in result:
        return f"({result['error']})"
    if "unsupported" in result:
        return "(not supported)"
    value = result.get(key)
    if value is None:
        return "-"
    return f"{value:,.1f}{unit}" if isinstance(value, float) else f"{value:,}{unit}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    if not ours or not theirs:
        return "-"
    return f"{ours / theirs:.2f}x"


def table(results: dict[str, dict[str, Any]]) -> str:
    """One table: each row a system on a workload, with Cronstream's ratio."""
    rows = [("workload", "system", "figure", "cronstream / peer")]
    ours_w1 = results["cronstream w1 go"].get("per_second")
    for key in (
        "cronstream w1 go",
        "cronstream w1 python",
        "graphile-worker w1",
        "river w1",
        "procrastinate w1",
        "apscheduler w1",
    ):
        result = results.get(key, {})
        ratio = "" if key.startswith("cronstream") else _ratio(ours_w1, result.get("per_second"))
        rows.append(
            ("W1 executions/s", key.removesuffix(" w1"), _figure(result, "per_second"), ratio)
        )
        if key == "cronstream w1 go":
            rows.append(_servers_row(results.get("cronstream w1 go 2 servers", {}), result))
    ours_w2 = results["cronstream w2 go"].get("p99_ms")
    for key in ("cronstream w2 go", "apscheduler w2", "procrastinate w2", "graphile-worker w2"):
        result = results.get(key, {})
        figure = _precision(result)
        # Lower is better: the ratio says how many times tighter ours is.
        ratio = "" if key.startswith("cronstream") else _ratio(result.get("p99_ms"), ours_w2)
        rows.append(("W2 start lateness", key.removesuffix(" w2"), figure, ratio))
    keyed = results.get("cronstream w1 go keyed", {})
    rows.append(
        (
            "W1 executions/s",
            "cronstream go, 100 concurrency keys",
            _figure(keyed, "per_second"),
            f"{_ratio(keyed.get('per_second'), ours_w1)} of no keys",
        )
    )
    with_metrics = results.get("cronstream w1 go metrics", {})
    rows.append(
        (
            "W1 executions/s",
            "cronstream go, metrics on",
            _figure(with_metrics, "per_second"),
            f"{_ratio(with_metrics.get('per_second'), ours_w1)} of metrics off",
        )
    )
    with_metrics = results.get("cronstream w2 go metrics", {})
    rows.append(
        (
            "W2 start lateness",
            "cronstream go, metrics on",
            _precision(with_metrics),
            f"p99 {_ratio(with_metrics.get('p99_ms'), ours_w2)} of metrics off",
        )
    )
    beside = results.get("cronstream w2 backfill", {})
    during, before = beside.get("with_backfill", {}), beside.get("without", {})
    rows.append(
        (
            "W2 start lateness",
            "cronstream go, beside a 100,000-instant backfill",
            _precision(during or beside),
            f"p99 {_ratio(during.get('p99_ms'), before.get('p99_ms'))} of without",
        )
    )
    rows.append(_dashboard_row(results.get("cronstream w2 dashboard", {})))
    rows += _fairness_rows(results, ours_w1)
    control = results.get("cronstream control plane", {})
    create, batch = control.get("create_job", {}), control.get("batch_create", {})
    rows.append(
        (
            "CreateJob, 32 clients",
            "cronstream",
            _latency(create, "per_second", "/s"),
            "",
        )
    )
    rows.append(("BatchCreateJobs", "cronstream", f"{batch.get('per_second', '-')} jobs/s", ""))
    rows += _mix_rows(results.get("cronstream w3", {}), results.get("cronstream w3 redis", {}))
    scale = results.get("cronstream scale", {})
    rows.append(("Scale", "cronstream", _scale(scale), ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fairness_rows(
    results: dict[str, dict[str, Any]], ours_w1: float | None
) -> list[tuple[str, str, str, str]]:
    """B's p99 quiet and during A's burst, and A's pace beside W1's alone."""
    once = results.get("cronstream fairness once", {})
    cron = results.get("cronstream fairness cron", {})
    rows: list[tuple[str, str, str, str]] = []
    for result, burst, pace in (
        (once, "20,000 one-time jobs", f"A {once.get('a_per_second', '-')}/s"),
        (
            cron,
            "5,000 every-second schedules",
            f"A ran {cron.get('a_done_in_window', '-')} of {cron.get('a_expected', '-')}",
        ),
    ):
        quiet, during = result.get("b_quiet", {}), result.get("b_burst", {})
        versus_w1 = f", A {_ratio(result.get('a_per_second'), ours_w1)} of W1"
        rows.append(
            (
                "Fairness: B's p99",
                f"cronstream, A bursts {burst}",
                f"{during.get('p99_ms', '-')} ms (quiet {quiet.get('p99_ms', '-')} ms); {pace}",
                f"p99 {_ratio(during.get('p99_ms'), quiet.get('p99_ms'))} of quiet"
                + (versus_w1 if result is once else ""),
            )
        )
    return rows


def _mix_rows(
    without: dict[str, Any], with_redis: dict[str, Any]
) -> list[tuple[str, str, str, str]]:
    """W3 without and with Redis: cron lateness, then event lateness,
    control-plane latency and server CPU; with Redis as ratios to without."""
    rows = []
    for label, result in (("cronstream go", without), ("cronstream go, Redis", with_redis)):
        ratio = ""
        if result is with_redis:
            cpu = _ratio(
                result.get("server_cpu_ms_per_1000"), without.get("server_cpu_ms_per_1000")
            )
            ratio = (
                f"p99 {_ratio(result.get('p99_ms'), without.get('p99_ms'))}, CPU {cpu} of without"
            )
        rows.append(("W3 cron lateness", label, _precision(result), ratio))
        rows.append(("W3 events, calls, CPU", label, _mix_costs(result), ""))
    return rows


def _mix_costs(result: dict[str, Any]) -> str:
    """W3's event lateness, control-plane latency, and costs per 1,000 executions."""
    if "error" in result:
        return f"({result['error']})"
    events, calls = result.get("events") or {}, result.get("control_plane") or {}
    return (
        f"events p50/p99 {events.get('p50_ms', '-')}/{events.get('p99_ms', '-')} ms; "
        f"calls p50/p99 {calls.get('p50_ms', '-')}/{calls.get('p99_ms', '-')} ms; "
        f"{_figure(result, 'server_cpu_ms_per_1000')} ms CPU, "
        f"{_figure(result, 'transactions_per_1000')} transactions per 1,000"
    )


def _latency(figures: dict[str, Any], rate: str, unit: str) -> str:
    p50, p99 = figures.get("p50_ms", "-"), figures.get("p99_ms", "-")
    return f"{figures.get(rate, '-')}{unit}, p50 {p50} ms, p99 {p99} ms"


def _precision(result: dict[str, Any]) -> str:
    if "error" in result or "unsupported" in result:
        return _figure(result, "p99_ms")
    text = (
        "p50/p95/p99/max "
        + "/".join(
            f"{result.get(k, float('nan')):.1f}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")
        )
        + " ms"
    )
    if "missed" in result:
        text += f", missed {result['missed']}, doubled {result.get('doubled', '-')}"
    if result.get("mode"):
        text += f" ({result['mode']})"
    return text


def _scale(scale: dict[str, Any]) -> str:
    if "error" in scale or "load" not in scale:
        return f"({scale.get('error', 'no result')})"
    rss = [point["rss_mib"] for point in scale["rss_mib"]]
    claim = scale["ticker"]["claim_full_batch"]
    pages = scale["list_jobs"]
    return (
        f"{scale['jobs']:,} cron jobs loaded at {scale['load']['per_second']:,.0f}/s; "
        f"RSS {min(rss)}-{max(rss)} MiB; claim of {claim['rows']} due {claim['execution_ms']} ms; "
        f"ListJobs page of 100, {pages['deep_page_after_row']:,} deep, "
        f"{pages['deep_size_100']['p50_ms']} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under 5 minutes")
    parser.add_argument("--dsn", help="an existing Postgres cluster; default: a throwaway one")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    started = time.monotonic()
    install_peers()
    with postgres(args.dsn) as cluster:
        results = run_all(cluster, sizes)
    RESULTS.parent.mkdir(exist_ok=True)
    record = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "sizes": sizes.__dict__,
        "results": results,
    }
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(table(results))
    print(
        f"\n{time.monotonic() - started:.0f} s in all; every figure in {RESULTS.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
