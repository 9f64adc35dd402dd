"""Job dependencies on SQL: a job's depends_on is its rows in
job_dependencies (edges), read into the jobs the store hands out and written
with the job, after core.dependencies checked them against the platform's
graph, in the caller's transaction.

Changes to a platform's graph are serialized: on Postgres by a transaction
advisory lock of the platform, which `lock_graph` takes before any job row
is locked (an edge's foreign key takes a KEY SHARE lock on the job it names,
so taking the graph lock after a job's row lock could deadlock with a
transaction that holds the graph and inserts an edge to that job); SQLite
has one writer at a time. So two updates cannot each pass the check and
together close a cycle that neither closes alone.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import replace

from sqlalchemy import delete, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from cronstream_server.core.dependencies import DependencyGraph, GraphCheck
from cronstream_server.core.ids import is_valid_id
from cronstream_server.core.jobs import Job
from cronstream_server.store.database import Dialect
from cronstream_server.store.tables import job_dependencies, scheduled_jobs
from cronstream_server.store.types import one_of

edges = job_dependencies
jobs = scheduled_jobs

# The two-key form of advisory locks: a key space of its own, apart from the
# one-bigint keys of alerts, retention, migrations and metrics.
_LOCK_GRAPH = text("SELECT pg_advisory_xact_lock(:space, :key)")
_SPACE = int.from_bytes(b"deps", "big", signed=True)


async def lock_graph(conn: AsyncConnection, dialect: Dialect, platform_id: str) -> None:
    """Holds the platform's graph until the transaction ends (Postgres)."""
    if dialect.advisory_locks:
        key = int.from_bytes(uuid.UUID(platform_id).bytes[:4], "big", signed=True)
        await conn.execute(_LOCK_GRAPH, {"space": _SPACE, "key": key})


async def with_dependencies(conn: AsyncConnection, dialect: Dialect, found: list[Job]) -> list[Job]:
    """`found`, each job with its depends_on from its edges, in their order."""
    if not found:
        return found
    query = (
        select(edges.c.job_id, edges.c.depends_on_id)
        .where(one_of(edges.c.job_id, [job.id for job in found], dialect.uuid_arrays))
        .order_by(edges.c.job_id, edges.c.position)
    )
    named: defaultdict[str, list[str]] = defaultdict(list)
    for job_id, depends_on_id in (await conn.execute(query)).all():
        named[str(job_id)].append(str(depends_on_id))
    return [
        replace(job, spec=replace(job.spec, depends_on=tuple(named[job.id])))
        if job.id in named
        else job
        for job in found
    ]


async def load_graph(
    conn: AsyncConnection, platform_id: str, named: Collection[str]
) -> DependencyGraph:
    """The platform's edges, and the names of its jobs that have edges or are
    among `named` (the ids a request names; malformed ones name nothing).
    Every job on a cycle has an edge of its own, so these are all the names
    a cycle can take."""
    query = (
        select(edges.c.job_id, edges.c.depends_on_id)
        .where(edges.c.platform_id == platform_id)
        .order_by(edges.c.job_id, edges.c.position)
    )
    by_job: defaultdict[str, list[str]] = defaultdict(list)
    for job_id, depends_on_id in (await conn.execute(query)).all():
        by_job[str(job_id)].append(str(depends_on_id))
    wanted = sorted(job_id for job_id in set(named) if is_valid_id(job_id))
    with_edges = select(edges.c.job_id).where(edges.c.platform_id == platform_id)
    names = select(jobs.c.id, jobs.c.name).where(
        jobs.c.platform_id == platform_id, or_(jobs.c.id.in_(wanted), jobs.c.id.in_(with_edges))
    )
    found = {str(job_id): name for job_id, name in (await conn.execute(names)).all()}
    return DependencyGraph(found, {job_id: tuple(ids) for job_id, ids in by_job.items()})


async def store_dependencies(
    conn: AsyncConnection, changed: Sequence[tuple[int, Job]], check: GraphCheck, *, fresh: bool
) -> None:
    """Checks the depends_on of `changed` (jobs of one platform, each with its
    index in the request) over the platform's graph, then writes them as
    their edges; `fresh`: the jobs are new and have none yet. The caller
    holds the graph (`lock_graph`) and, unless fresh, the jobs' rows."""
    if not changed:
        return
    platform_id = changed[0][1].platform_id
    named = {target for _, job in changed for target in job.spec.depends_on}
    if named:
        check(await load_graph(conn, platform_id, named), changed)
    if not fresh:
        await conn.execute(delete(edges).where(edges.c.job_id.in_([j.id for _, j in changed])))
    rows = [
        {"job_id": job.id, "depends_on_id": target, "platform_id": platform_id, "position": index}
        for _, job in changed
        for index, target in enumerate(job.spec.depends_on)
    ]
    if rows:
        await conn.execute(edges.insert(), rows)
