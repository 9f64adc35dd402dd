"""Connected worker sessions as the whole cluster sees them (ListWorkers).

Each replica knows its own sessions in memory; it reports them to a shared
registry (a table) when one opens or closes, and refreshes all of them every
`REPORT_SECONDS`. A replica that dies cannot say its sessions ended: a row
not reported for `FRESH_FOR` is no longer listed, and is then deleted by
whichever replica reports next (docs/operations.md#workers).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cronstream_server.core.values import value_type

# How often a replica refreshes the rows of all its sessions. What a list
# shows of slots in use and last_seen is at most this old (plus a round trip).
REPORT_SECONDS = 5.0
# Three missed reports: a replica busy through one slow pass, or a database
# hiccup, does not make its workers blink out of the list.
FRESH_FOR = timedelta(seconds=3 * REPORT_SECONDS)


@value_type
class ConnectedWorker:
    """One worker stream as its replica last reported it."""

    session_id: str
    platform_id: str
    worker_id: str
    handler_names: tuple[str, ...]  # sorted
    slots: int
    slots_in_use: int
    connected_at: datetime
    # The last message the replica received on the stream (as of its report).
    last_seen: datetime
    replica: str


def worker_key(worker: ConnectedWorker) -> tuple[str, str]:
    """The sort key of a list of workers: by worker id, then session."""
    return (worker.worker_id, worker.session_id)
