"""Several `cronstream serve` processes on one database: how W1 and W2
measure scale-out on one host (`--servers N`; docs/benchmarks.md).

Ports: by default each replica listens on a port of its own and worker
process i connects to replica i mod N, so the workers' streams are spread
evenly by construction. `--port-mode shared` puts every replica on one port
with CRONSTREAM_REUSE_PORT=1 and lets the kernel pick: each worker process
holds one connection, so with two workers and two replicas both land on the
same replica about half the time, and the other replica only fires. The
result's `streams_per_server` says how they were spread.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg

from bench import procfs
from bench.harness import Postgres, Server, free_port, log, server


@dataclass(frozen=True)
class Replicas:
    servers: list[Server]
    port_mode: str
    redis: bool

    @property
    def first(self) -> Server:
        return self.servers[0]

    @property
    def key(self) -> str:
        return self.first.key

    def targets(self) -> list[str]:
        """Worker process i connects to targets()[i % len]."""
        return [srv.address for srv in self.servers]

    def cpu_seconds(self) -> list[float]:
        return [srv.cpu_seconds() for srv in self.servers]

    def cpu_since(self, before: list[float]) -> list[float]:
        """Each server's CPU seconds since `before` (a cpu_seconds())."""
        return [now - then for now, then in zip(self.cpu_seconds(), before, strict=True)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--servers", type=int, default=1, help="cronstream serve processes on the one database"
    )
    parser.add_argument(
        "--port-mode",
        choices=("separate", "shared"),
        default="separate",
        help="with --servers > 1: a port each, workers spread over them; or one SO_REUSEPORT port",
    )
    parser.add_argument(
        "--redis",
        choices=("auto", "on", "off"),
        default="auto",
        help="wake-ups between replicas over Redis: auto means with --servers > 1",
    )
    parser.add_argument(
        "--redis-url", help="the Redis for --redis (default: the one beside a throwaway Postgres)"
    )


def redis_url(args: argparse.Namespace, cluster: Postgres) -> str | None:
    wanted = args.redis == "on" or (args.redis == "auto" and args.servers > 1)
    url: str | None = args.redis_url or cluster.redis_url
    if wanted and url is None:
        # Without it a replica learns of another's new work by polling (1 s).
        log("no Redis to give the servers (pass --redis-url with --dsn): running without")
    return url if wanted else None


@contextlib.contextmanager
def replicas(
    database: Postgres, args: argparse.Namespace, metrics: bool = False
) -> Iterator[Replicas]:
    """`args.servers` servers on `database`, started one after the other (the
    first migrates), all stopped afterwards."""
    redis = redis_url(args, database)
    env = {"CRONSTREAM_REDIS_URL": redis} if redis else {}
    shared = f"127.0.0.1:{free_port()}"
    if args.port_mode == "shared":
        env["CRONSTREAM_REUSE_PORT"] = "1"
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(server(database, env, metrics, address=shared))
        started = [first]
        for _ in range(args.servers - 1):
            address = shared if args.port_mode == "shared" else None
            started.append(
                stack.enter_context(server(database, env, metrics, address=address, key=first.key))
            )
        if args.servers > 1:
            log(f"{args.servers} servers ({args.port_mode} ports, redis {bool(redis)})")
        yield Replicas(started, args.port_mode, bool(redis))


async def streams_per_server(dsn: str, replicas: Replicas) -> list[int]:
    """Worker streams open on each replica, from the sessions every replica
    reports to the database (`replica` is host:pid:random)."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("select replica from worker_sessions")
    finally:
        await connection.close()
    pids = [int(row["replica"].split(":")[1]) for row in rows]
    return [pids.count(srv.pid) for srv in replicas.servers]


def spread(dsn: str, replicas: Replicas, expected: int, timeout: float = 10.0) -> list[int]:
    """streams_per_server once `expected` streams are reported, or as it is
    after `timeout` (a stream's row is written right after its hello)."""
    counts: list[int] = []
    for _ in range(int(timeout / 0.2)):
        counts = asyncio.run(streams_per_server(dsn, replicas))
        if sum(counts) >= expected:
            break
        time.sleep(0.2)
    return counts


def figures(
    replicas: Replicas, cpu: list[float], done: int, streams: list[int]
) -> dict[str, object]:
    """The scale-out part of a W1 or W2 result: what the servers used in all
    and each, per 1,000 executions."""
    per_1000 = [round(1_000_000 * seconds / max(done, 1), 1) for seconds in cpu]
    return {
        "servers": len(replicas.servers),
        "port_mode": replicas.port_mode,
        "redis": replicas.redis,
        "streams_per_server": streams,
        "server_cpu_ms_per_1000": round(sum(per_1000), 1),
        "server_cpu_ms_per_1000_each": per_1000,
    }


@dataclass(frozen=True)
class Usage:
    """CPU seconds so far of each server, of the Postgres cluster, and of the
    benchmark's live worker processes; two of them subtract to a window's."""

    servers: list[float]
    postgres: float
    workers: float

    def __sub__(self, other: Usage) -> Usage:
        servers = [a - b for a, b in zip(self.servers, other.servers, strict=True)]
        return Usage(servers, self.postgres - other.postgres, self.workers - other.workers)

    def per_1000(self, done: int) -> dict[str, object]:
        def ms(seconds: float) -> float:
            return round(1_000_000 * seconds / max(done, 1), 1)

        return {
            "server": ms(sum(self.servers)),
            "server_each": [ms(seconds) for seconds in self.servers],
            "postgres": ms(self.postgres),
            "workers": ms(self.workers),
        }


def usage(replicas: Replicas, postmaster: int) -> Usage:
    """Now: the servers', the cluster's (the postmaster's process tree; on a
    cluster shared with other work, theirs too) and the worker processes'
    (this process's children with "worker" in their command line)."""
    return Usage(
        replicas.cpu_seconds(),
        procfs.tree_cpu_seconds(postmaster),
        procfs.children_cpu_seconds(os.getpid(), "worker"),
    )
