"""Reads that take more than one port call's worth of shaping: the recent
runs of the jobs a list shows."""

from __future__ import annotations

from collections.abc import Sequence

from cronstream_server.core.ids import is_valid_id
from cronstream_server.core.insight import RecentRun
from cronstream_server.core.ports import InsightStore


class InsightUseCases:
    def __init__(self, insight: InsightStore) -> None:
        self._insight = insight

    async def recent_runs(
        self, platform_id: str, job_ids: Sequence[str], limit: int
    ) -> list[tuple[str, Sequence[RecentRun]]]:
        """Each asked id, in the order asked (repeats included), with its job's
        latest runs. An id that names no job of the platform (another's,
        unknown, or not an id at all) gets none, exactly as a job without
        runs: the answer tells nothing of what other platforms hold."""
        wanted = {job_id.lower() for job_id in job_ids if is_valid_id(job_id)}
        found = await self._insight.recent_runs(platform_id, wanted, limit)
        return [(job_id, found.get(job_id.lower(), ())) for job_id in job_ids]
