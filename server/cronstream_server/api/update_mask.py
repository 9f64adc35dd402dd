"""UpdateJob's field mask: which fields of the request replace the job's."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import datetime

from cronstream.v1 import job_pb2

from cronstream_server.api.convert import Reader, job_spec, trigger_for_job
from cronstream_server.core import jobs as job_rules
from cronstream_server.core.errors import FieldViolation
from cronstream_server.core.jobs import Job, JobSpec
from cronstream_server.core.validation import raise_if_any

TRIGGER_PATHS = frozenset({"cron", "once", "interval", "event"})
SPEC_PATHS = frozenset(f.name for f in fields(JobSpec)) - {"trigger"}
ALL_FIELDS = "*"


def apply_job_mask(
    job: Job, message: job_pb2.Job, paths: list[str], now: datetime, max_payload_bytes: int
) -> tuple[JobSpec, bool]:
    """The job's spec with the masked fields taken from `message`, validated,
    and whether the trigger changed. `*` replaces every user-settable field."""
    reader = Reader()
    masked = _masked(reader, message, paths)
    trigger = job.spec.trigger
    trigger_changed = bool(masked & TRIGGER_PATHS)
    if trigger_changed:
        trigger = trigger_for_job(reader, message, "job", now)
    incoming = job_spec(reader, message, "job", trigger, max_payload_bytes)
    spec = replace(
        job.spec, trigger=trigger, **{name: getattr(incoming, name) for name in masked & SPEC_PATHS}
    )
    relevant = [v for v in reader.violations if _within(v, masked)]
    job_rules.validate_spec(spec, "job", relevant)
    return spec, trigger_changed


def _masked(reader: Reader, message: job_pb2.Job, paths: list[str]) -> set[str]:
    if ALL_FIELDS in paths:
        if len(paths) > 1:
            reader.bad("update_mask.paths", "'*' must be the only path")
        return set(SPEC_PATHS) | {message.WhichOneof("trigger") or "cron"}
    masked: set[str] = set()
    for index, path in enumerate(paths):
        if path in SPEC_PATHS:
            masked.add(path)
        elif path in TRIGGER_PATHS:
            if message.WhichOneof("trigger") != path:
                reader.bad(f"job.{path}", "is named in update_mask but not set")
            masked.add(path)
        else:
            reader.bad(
                f"update_mask.paths[{index}]", f"{path!r} is not a field that can be updated"
            )
    if len([p for p in masked if p in TRIGGER_PATHS]) > 1:
        reader.bad("update_mask.paths", "name at most one trigger (cron, once, interval or event)")
    raise_if_any(reader.violations)
    return masked


def _within(violation: FieldViolation, masked: set[str]) -> bool:
    return any(
        violation.field == f"job.{path}"
        or violation.field.startswith((f"job.{path}.", f"job.{path}["))
        for path in masked | {"trigger"}
    )
