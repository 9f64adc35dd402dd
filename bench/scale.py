"""Scale: N active cron jobs held (default 1,000,000), loaded through
BatchCreateJobs; what holding them costs.

    .venv/bin/python bench/scale.py --dsn postgresql+asyncpg://... --jobs 1000000

Reports the load (seconds, jobs/s), the server's RSS after start, after every
10% loaded and after the load, the ticker's claim at that size (EXPLAIN
ANALYZE of the very statement store/queries_ticker.py runs, as a custom and as a
generic plan, and the claim timed through the server's own code), how late
the ticker fired the slots that came due during the run, ListJobs latency on
page 1 and deep in the keyset, and table and index sizes. The jobs are daily
cron jobs at random minutes (`M H * * *`): 1/1440 of them come due each
minute, so the ticker works throughout, on a small share.
Prints one JSON line on stdout; logs go to stderr. Bounded by --time-limit.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cronstream.v1 import job_pb2, scheduler_service_pb2_grpc
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server.core.paging import encode_token, sort_key
from cronstream_server.engine.ticker import TickerSettings
from cronstream_server.store.database import POSTGRES
from cronstream_server.store.queries_ticker import (
    EARLIEST_NEXT_RUN,
    claim_due_jobs,
    demand_query,
    due_jobs_query,
)
from google.protobuf import duration_pb2, timestamp_pb2
from sqlalchemy import Select
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.ext.asyncio import create_async_engine

from bench.control_plane import (
    CALL_TIMEOUT,
    Auth,
    auth_of,
    batch_request,
    open_channels,
)
from bench.harness import Postgres, Server, log, measured, percentile, profiled

CLAIM_BATCH = TickerSettings().batch_size
FIRE_AHEAD = TickerSettings().fire_ahead
# A claim this far ahead finds a full batch due at any size from ~100,000 jobs.
FULL_BATCH_AHEAD = timedelta(minutes=10)
LIST_SAMPLES = 20
PROBES = 10
PROBE_HANDLER = "probe"


def ms(seconds: float) -> float:
    return round(1000 * seconds, 2)


# --- load --------------------------------------------------------------------


class RssSeries:
    """The server's RSS at each tenth of the load, read from /proc."""

    def __init__(self, rss_mib: Callable[[], float], total: int) -> None:
        self._rss = rss_mib
        self._step = max(1, total // 10)
        self._next = self._step
        self.points: list[dict[str, float]] = []

    def sample(self, loaded: int, label: str | None = None) -> None:
        point: dict[str, Any] = {"jobs": loaded, "rss_mib": round(self._rss(), 1)}
        if label:
            point["at"] = label
        self.points.append(point)

    def progress(self, loaded: int) -> None:
        while loaded >= self._next:
            self.sample(loaded)
            log(f"scale: {loaded} jobs loaded, server RSS {self.points[-1]['rss_mib']} MiB")
            self._next += self._step


async def load(
    address: str, auth: Auth, args: argparse.Namespace, rss: RssSeries
) -> dict[str, Any]:
    """N jobs in batches of --batch, --concurrency batches in flight."""
    rng = random.Random(3)
    firsts = iter(range(0, args.jobs, args.batch))
    latencies: list[float] = []
    loaded = 0

    async def sender(channel: grpc.aio.Channel) -> None:
        nonlocal loaded
        stub = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        for first in firsts:
            request = batch_request(first, min(args.batch, args.jobs - first), "s", rng)
            started = time.perf_counter()
            await stub.BatchCreateJobs(request, metadata=auth, timeout=CALL_TIMEOUT)
            latencies.append(time.perf_counter() - started)
            loaded += len(request.requests)
            rss.progress(loaded)

    started = time.perf_counter()
    async with open_channels(address, args.concurrency) as channels:
        await asyncio.gather(*(sender(channel) for channel in channels))
    seconds = time.perf_counter() - started
    latencies.sort()
    return {
        "jobs": loaded,
        "batch": args.batch,
        "concurrent_batches": args.concurrency,
        "seconds": round(seconds, 1),
        "per_second": round(loaded / seconds, 1),
        "p50_ms_per_batch": ms(percentile(latencies, 0.5)),
        "p99_ms_per_batch": ms(percentile(latencies, 0.99)),
    }


# --- the ticker at this size -------------------------------------------------


def _compiled(query: Select[Any]) -> tuple[str, list[Any]]:
    """The statement as the server's driver receives it ($n placeholders)."""
    compiled = query.compile(dialect=asyncpg_dialect.dialect())  # type: ignore[no-untyped-call]
    return str(compiled), [compiled.params[name] for name in compiled.positiontup or ()]


def _plan_summary(explained: str) -> dict[str, Any]:
    """The plan's shape, indexes, timings and buffers from EXPLAIN's JSON."""
    [root] = json.loads(explained)
    shape: list[str] = []
    indexes: list[str] = []
    node = root["Plan"]
    while True:
        label = node["Node Type"]
        if "Index Name" in node:
            indexes.append(node["Index Name"])
            label += f" using {node['Index Name']}"
        if "Relation Name" in node and "Index Name" not in node:
            label += f" on {node['Relation Name']}"
        shape.append(label)
        children = node.get("Plans") or []
        if len(children) != 1:
            break
        node = children[0]
    top = root["Plan"]
    return {
        "plan": " -> ".join(shape),
        "indexes": indexes,
        "seq_scan": any("Seq Scan" in step for step in shape),
        "rows": top.get("Actual Rows"),
        "execution_ms": round(root.get("Execution Time", 0.0), 3),
        "planning_ms": round(root.get("Planning Time", 0.0), 3),
        "shared_hit_blocks": top.get("Shared Hit Blocks"),
        "shared_read_blocks": top.get("Shared Read Blocks"),
    }


def _literal(value: Any) -> str:
    """A SQL literal for the few parameter types these statements take."""
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


async def explain(conn: asyncpg.Connection, query: Select[Any], *, generic: bool) -> dict[str, Any]:
    """EXPLAIN ANALYZE in a transaction rolled back (the claim locks rows).

    `generic`: the plan a long-lived server connection ends up with. The
    driver prepares each statement once per connection, and after five runs
    Postgres may switch to a plan made without the parameters' values; only
    a custom plan can prove a partial index's predicate from a parameter."""
    sql, params = _compiled(query)
    options = "ANALYZE, BUFFERS, FORMAT JSON"
    transaction = conn.transaction()
    await transaction.start()
    try:
        if not generic:
            return _plan_summary(await conn.fetchval(f"EXPLAIN ({options}) {sql}", *params))
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE bench_explained AS {sql}")
        arguments = ", ".join(_literal(p) for p in params)
        execute = f"EXECUTE bench_explained({arguments})" if params else "EXECUTE bench_explained"
        return _plan_summary(await conn.fetchval(f"EXPLAIN ({options}) {execute}"))
    finally:
        await transaction.rollback()
        if generic:
            await conn.execute("DEALLOCATE bench_explained")


async def ticker_cost(dsn: str, url: str) -> dict[str, Any]:
    """What one ticker pass costs at this size: its claim (now, when the
    ticker keeps up, and ten minutes ahead, a full batch, TickerSettings.batch_size) and its look
    for the earliest next_run, each as a custom and as a generic plan; and the
    full-batch claim timed through store/queries_ticker.py's own code, rows decoded.
    JIT off, as the server's connections have it (store.database)."""
    conn = await asyncpg.connect(dsn, server_settings={"jit": "off"})
    try:
        now: datetime = await conn.fetchval("select clock_timestamp()")
        queries = {
            "claim_now": due_jobs_query(now, now + FIRE_AHEAD, CLAIM_BATCH),
            "claim_full_batch": due_jobs_query(
                now + FULL_BATCH_AHEAD, now + FULL_BATCH_AHEAD, CLAIM_BATCH
            ),
            "earliest_next_run": EARLIEST_NEXT_RUN,
            # The fair claim's first statement: each platform's due jobs, counted
            # up to a batch (core.fairness shares the batch from these).
            "claim_demand": demand_query(POSTGRES, now, now + FIRE_AHEAD, CLAIM_BATCH),
        }
        plans: dict[str, Any] = {}
        for name, query in queries.items():
            plans[name] = await explain(conn, query, generic=False)
            plans[f"{name}_generic"] = await explain(conn, query, generic=True)
    finally:
        await conn.close()
    plans["claim_full_batch_through_store_ms"] = await _timed_claim(url, now + FULL_BATCH_AHEAD)
    return plans


async def _timed_claim(url: str, at: datetime) -> list[float]:
    """Three runs of the server's claim_due_jobs, each rolled back."""
    engine = create_async_engine(url)
    timings: list[float] = []
    try:
        for _ in range(3):
            async with engine.connect() as conn:
                transaction = await conn.begin()
                started = time.perf_counter()
                claimed = await claim_due_jobs(conn, POSTGRES, at, at, CLAIM_BATCH)
                timings.append(ms(time.perf_counter() - started))
                await transaction.rollback()
        log(f"scale: claim through the store: {len(claimed.jobs)} jobs in {timings} ms")
    finally:
        await engine.dispose()
    return timings


async def add_probes(address: str, auth: Auth) -> None:
    """Interval jobs that together have a slot due every second while the
    load runs, whatever its length: how late those fire is how far the load
    holds the ticker up (the daily jobs only come due at minute boundaries)."""
    start = datetime.now(UTC) + timedelta(seconds=2)
    every = duration_pb2.Duration(seconds=PROBES)
    probes = [
        job_pb2.Job(
            name=f"probe-{i}",
            handler_name=PROBE_HANDLER,
            interval=job_pb2.IntervalTrigger(every=every, start_at=_timestamp(start, i)),
        )
        for i in range(PROBES)
    ]
    request = pb.BatchCreateJobsRequest(requests=[pb.CreateJobRequest(job=j) for j in probes])
    async with open_channels(address, 1) as [channel]:
        stub = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        await stub.BatchCreateJobs(request, metadata=auth, timeout=CALL_TIMEOUT)


def _timestamp(start: datetime, seconds: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(start + timedelta(seconds=seconds))
    return stamp


async def firing_lag(dsn: str, since: datetime, until: datetime) -> dict[str, Any]:
    """How late the ticker created the slots due between `since` and `until`
    (negative: how early, a slot fired ahead): the probes' (one a second) and
    the daily jobs' (at minute boundaries)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "select handler_name = $3 as probe, extract(epoch from created_at - scheduled_at) as s"
            " from job_executions where trigger = 'schedule'"
            " and scheduled_at between $1 and $2 order by 2",
            since,
            until,
            PROBE_HANDLER,
        )
    finally:
        await conn.close()
    return {
        "probes": _lags([float(r["s"]) for r in rows if r["probe"]]),
        "daily_jobs": _lags([float(r["s"]) for r in rows if not r["probe"]]),
    }


def _lags(lags: list[float]) -> dict[str, Any]:
    if not lags:
        return {"slots_fired": 0}
    return {
        "slots_fired": len(lags),
        "lag_p50_ms": ms(percentile(lags, 0.5)),
        "lag_p99_ms": ms(percentile(lags, 0.99)),
        "lag_max_ms": ms(lags[-1]),
    }


# --- ListJobs ----------------------------------------------------------------


async def _deep_token(dsn: str, first_page_token: str, depth: int) -> str:
    """A token for the page after the `depth`-th newest job, without walking
    `depth` rows page by page: that row's key, bound to the same query."""
    padded = first_page_token + "=" * (-len(first_page_token) % 4)
    scope = json.loads(base64.urlsafe_b64decode(padded))["s"]
    conn = await asyncpg.connect(dsn)
    try:
        # Served by the (platform_id, created_at, id) index that ListJobs uses.
        row = await conn.fetchrow(
            "select created_at, id::text as id from scheduled_jobs"
            " where platform_id = (select id from platforms limit 1)"
            " order by created_at desc, id desc offset $1 limit 1",
            depth,
        )
    finally:
        await conn.close()
    return encode_token(sort_key(row["created_at"], row["id"]), scope)


async def list_latency(address: str, auth: Auth, dsn: str, jobs: int) -> dict[str, Any]:
    async with open_channels(address, 1) as [channel]:
        stub = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        first = await stub.ListJobs(pb.ListJobsRequest(page_size=100), metadata=auth)
        depth = jobs // 2
        deep = await _deep_token(dsn, first.next_page_token, depth)
        results: dict[str, Any] = {"deep_page_after_row": depth}
        for size in (100, 1000):
            for name, token in (("page_1", ""), ("deep", deep)):
                request = pb.ListJobsRequest(page_size=size, page_token=token)
                results[f"{name}_size_{size}"] = await _timed_list(stub, request, auth)
    return results


async def _timed_list(stub: Any, request: pb.ListJobsRequest, auth: Auth) -> dict[str, Any]:
    latencies: list[float] = []
    for _ in range(LIST_SAMPLES):
        started = time.perf_counter()
        response = await stub.ListJobs(request, metadata=auth, timeout=CALL_TIMEOUT)
        latencies.append(time.perf_counter() - started)
    assert len(response.jobs) == request.page_size, "a full page was expected"
    latencies.sort()
    return {"p50_ms": ms(percentile(latencies, 0.5)), "p99_ms": ms(percentile(latencies, 0.99))}


# --- sizes -------------------------------------------------------------------


async def sizes(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        tables: dict[str, dict[str, Any]] = {}
        for table in ("scheduled_jobs", "job_executions"):
            row = await conn.fetchrow(
                "select pg_total_relation_size($1) as total, pg_relation_size($1) as heap,"
                " pg_indexes_size($1) as indexes",
                table,
            )
            tables[table] = {key: _mib(value) for key, value in row.items()}
        indexes = await conn.fetch(
            "select indexrelname as name, pg_relation_size(indexrelid) as size"
            " from pg_stat_user_indexes where relname = 'scheduled_jobs' order by 2 desc"
        )
        tables["scheduled_jobs"]["each_index"] = {r["name"]: _mib(r["size"]) for r in indexes}
        tables["scheduled_jobs"]["rows"] = await conn.fetchval(
            "select count(*) from scheduled_jobs"
        )
    finally:
        await conn.close()
    return tables


async def scans(dsn: str) -> dict[str, Any]:
    """How the server read scheduled_jobs so far (ticker, load): sequential
    scans and the rows they read, and the scans of each index. Read before
    this script's own queries, which would count too."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("select pg_stat_force_next_flush()")
        table = await conn.fetchrow(
            "select seq_scan, seq_tup_read, idx_scan from pg_stat_user_tables"
            " where relname = 'scheduled_jobs'"
        )
        indexes = await conn.fetch(
            "select indexrelname as name, idx_scan, idx_tup_read from pg_stat_user_indexes"
            " where relname = 'scheduled_jobs' and idx_scan > 0 order by 2 desc"
        )
    finally:
        await conn.close()
    by_index = {r["name"]: {"scans": r["idx_scan"], "rows": r["idx_tup_read"]} for r in indexes}
    return {**dict(table), "by_index": by_index}


def _mib(value: int) -> float:
    return round(value / 2**20, 1)


# --- the run -----------------------------------------------------------------


async def measure(
    args: argparse.Namespace, srv: Any, dsn: str, url: str, result: dict[str, Any]
) -> None:
    auth = auth_of(srv.key)
    rss = RssSeries(srv.rss_mib, args.jobs)
    result["rss_mib"] = rss.points
    async with asyncio.timeout(args.time_limit):
        rss.sample(0, "after start")
        await add_probes(srv.address, auth)
        load_started = datetime.now(UTC)
        with profiled(srv.pid, args.profile):
            result["load"] = await load(srv.address, auth, args, rss)
        load_ended = datetime.now(UTC)
        log(f"scale: load {result['load']}")
        rss.sample(args.jobs, "after load")
        await asyncio.sleep(1.0)  # the server's statistics reach the collector
        result["jobs_table_reads_during_load"] = await scans(dsn)
        result["list_jobs"] = await list_latency(srv.address, auth, dsn, args.jobs)
        log(f"scale: list_jobs {result['list_jobs']}")
        result["tables"] = await sizes(dsn)
        result["ticker"] = await ticker_cost(dsn, url)
        result["ticker"]["firing_lag_during_load"] = await firing_lag(dsn, load_started, load_ended)
        log(f"scale: ticker {result['ticker']}")
        await asyncio.sleep(args.settle)
        rss.sample(args.jobs, f"after measuring and {args.settle:g}s idle")
    points = rss.points
    result["rss_growth_mib"] = round(points[-1]["rss_mib"] - points[0]["rss_mib"], 1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"workload": "scale", "jobs": args.jobs}

    def body(database: Postgres, srv: Server) -> None:
        asyncio.run(measure(args, srv, database.dsn, database.url, result))

    return measured(result, args.dsn, "scale", body, keep=args.keep_database)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--dsn", help="a running Postgres (postgresql+asyncpg://...); default: throwaway"
    )
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000, help="jobs per BatchCreateJobs")
    parser.add_argument("--concurrency", type=int, default=4, help="batches in flight")
    parser.add_argument("--settle", type=float, default=5.0, help="idle seconds before last RSS")
    parser.add_argument("--time-limit", type=float, default=1500.0, help="seconds")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--profile", type=Path, help="a py-spy profile of the server's load")
    result = run(parser.parse_args())
    print(json.dumps(result), flush=True)
    sys.exit(1 if "error" in result else 0)


if __name__ == "__main__":
    main()
