"""The alert rules: health from open alerts, the effective policy, checks of a
policy, the MISSED openings of a tick, and the public JSON of an alert."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cronstream_server.api.scheduler_alerts import alert_message
from cronstream_server.core import executions as execution_rules
from cronstream_server.core.alerts import Alert, from_public_json, public_json
from cronstream_server.core.enums import AlertState, ExecutionTrigger, HealthState, JobStatus
from cronstream_server.core.errors import FieldViolation
from cronstream_server.core.health import (
    HealthPolicy,
    check_policy,
    effective,
    missed_alerts,
    worst,
)
from cronstream_server.core.jobs import Job, JobSpec
from cronstream_server.core.triggers import CronTrigger
from google.protobuf import json_format

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def alert(**changes: object) -> Alert:
    base = Alert(
        id="01a24a00-0000-7000-8000-000000000001",
        platform_id="01a24a00-0000-7000-8000-000000000002",
        job_id="01a24a00-0000-7000-8000-000000000003",
        job_name="nightly report",
        handler_name="send_report",
        kind=HealthState.LATE,
        state=AlertState.OPEN,
        opened_at=T0 + timedelta(seconds=31, milliseconds=250),
        reason="late",
        execution_id="01a24a00-0000-7000-8000-000000000004",
        scheduled_at=T0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        alert(),
        alert(state=AlertState.RESOLVED, resolved_at=T0 + timedelta(minutes=1, microseconds=7)),
        alert(kind=HealthState.FAILING, paused_job=True, scheduled_at=None),
        alert(execution_id=None, opened_at=T0),
    ],
)
def test_public_json_is_protobuf_s_json_of_the_alert(value: Alert) -> None:
    assert public_json(value) == json_format.MessageToDict(alert_message(value))
    assert from_public_json(public_json(value)) == value


def test_health_is_the_worst_open_alert() -> None:
    assert worst([]) is HealthState.HEALTHY
    assert worst([HealthState.LATE, HealthState.MISSED]) is HealthState.MISSED
    assert worst([HealthState.LATE, HealthState.FAILING, HealthState.OVERRUNNING]) is (
        HealthState.FAILING
    )


def test_unset_fields_take_the_platform_s_then_the_documented_default() -> None:
    platform = HealthPolicy(max_start_delay=timedelta(seconds=60), consecutive_failures=5)
    job = HealthPolicy(max_start_delay=timedelta(0), pause_on_failure=True)
    policy = effective(job, platform)
    assert policy.late_after is None  # zero: the job opted out
    assert policy.failing_after == 5 and policy.pauses_on_failure
    assert policy.missed_alerts  # neither said: on
    assert effective(HealthPolicy(), HealthPolicy()).failing_after == 3


def test_a_policy_out_of_range_names_each_bad_field() -> None:
    violations: list[FieldViolation] = []
    check_policy(
        violations,
        "job.health_policy",
        HealthPolicy(
            max_start_delay=timedelta(seconds=-1),
            max_duration=timedelta(days=8),
            consecutive_failures=0,
        ),
    )
    assert [v.field for v in violations] == [
        "job.health_policy.max_start_delay",
        "job.health_policy.max_duration",
        "job.health_policy.consecutive_failures",
    ]
    fine: list[FieldViolation] = []
    check_policy(fine, "p", HealthPolicy(timedelta(0), timedelta(days=7), 100))
    assert fine == []


def test_a_tick_that_skips_slots_opens_one_missed_alert_naming_the_latest() -> None:
    job = Job(
        id="01a24a00-0000-7000-8000-000000000003",
        platform_id="p",
        spec=JobSpec(name="tick", handler_name="tick", trigger=CronTrigger("* * * * *")),
        status=JobStatus.ACTIVE,
        created_by="k",
        created_at=T0,
        updated_at=T0,
    )
    made = [
        execution_rules.skipped(
            execution_rules.for_job(job, ExecutionTrigger.SCHEDULE, T0 + timedelta(minutes=k), T0),
            "overlap: previous run not finished",
            T0,
        )
        for k in range(3)
    ] + [execution_rules.for_job(job, ExecutionTrigger.SCHEDULE, T0 + timedelta(minutes=3), T0)]
    [opening] = missed_alerts(job, made)
    assert opening.kind is HealthState.MISSED and opening.scheduled_at == T0 + timedelta(minutes=2)
    assert opening.reason.startswith("3 slots skipped; the slot of 2026-12-06T03:02:00+00:00")
    assert missed_alerts(job, made[3:]) == []
