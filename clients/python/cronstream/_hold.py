"""When a held assignment starts (WorkerHello.holds_until_start).

The server sends an execution it claimed ahead of its instant at once, with
the instant (`Assignment.start_at`) and the moment it wrote the message
(`Assignments.sent_at`), both on its clock. The worker starts the handler
that difference after the message arrived: two times on one clock, so the
worker's own clock may be off by any amount, and the time the message spent
on the way only makes the start later, never earlier than the instant.
"""

from __future__ import annotations

from cronstream.v1 import worker_service_pb2 as wpb

#: The longest hold taken: the server sends a fraction of a second ahead; a
#: larger difference is a bad clock reading, not a reason to wait.
MAX_HOLD_SECONDS = 5.0


def hold_seconds(assignment: wpb.Assignment, batch: wpb.Assignments) -> float:
    """Seconds from the batch's arrival to the assignment's start; 0 to start
    at once (no instant given, or it has come)."""
    if not (assignment.HasField("start_at") and batch.HasField("sent_at")):
        return 0.0
    start, sent = assignment.start_at, batch.sent_at
    nanos = (start.seconds - sent.seconds) * 1_000_000_000 + (start.nanos - sent.nanos)
    return min(max(nanos / 1e9, 0.0), MAX_HOLD_SECONDS)
