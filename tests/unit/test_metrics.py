"""What the engine's metrics count, read back as Prometheus would read them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from cronstream_server.config import Settings
from cronstream_server.core.dispatch import (
    EndCause,
    Held,
    Report,
    settle_lost,
    settle_reports,
    settle_timeout,
)
from cronstream_server.core.enums import ExecutionStatus, ExecutionTrigger
from cronstream_server.core.firing import skip_reason
from cronstream_server.telemetry.metrics import Fired, Metrics
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the registry's exposition, by name and labels."""
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def held(execution_id: str, *, retries_left: bool, handler: str = "report") -> Held:
    return Held(
        id=execution_id,
        platform_id="p1",
        job_id="j1",
        trigger=ExecutionTrigger.SCHEDULE,
        status=ExecutionStatus.RUNNING,
        attempt=1,
        retry_count=0,
        max_retries=3 if retries_left else 0,
        retry_delay=timedelta(seconds=1),
        timeout=timedelta(seconds=30),
        started_at=NOW - timedelta(seconds=1),
        handler_name=handler,
    )


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


def test_lateness_is_counted_into_cumulative_buckets_by_platform_and_handler() -> None:
    metrics = Metrics()
    metrics.fired(
        [
            Fired("p1", "report", 0.0004),
            Fired("p1", "report", 0.012),
            Fired("p1", "report", 0.012),
            Fired("p1", "report", 7.0),
            Fired("p2", "other", 0.001),  # on a bound: counted in that bucket (le)
        ]
    )
    metrics.fired([Fired("p1", "report", 0.02)])  # a second batch adds to the first
    seen = samples(metrics)
    name = "cronstream_firing_lateness_seconds"
    p1 = {"platform": "p1", "handler": "report"}
    assert seen[(f"{name}_bucket", labels(**p1, le="0.001"))] == 1
    assert seen[(f"{name}_bucket", labels(**p1, le="0.01"))] == 1
    assert seen[(f"{name}_bucket", labels(**p1, le="0.015"))] == 3
    assert seen[(f"{name}_bucket", labels(**p1, le="0.02"))] == 4
    assert seen[(f"{name}_bucket", labels(**p1, le="5.0"))] == 4
    assert seen[(f"{name}_bucket", labels(**p1, le="10.0"))] == 5
    assert seen[(f"{name}_bucket", labels(**p1, le="+Inf"))] == 5
    assert seen[(f"{name}_count", labels(**p1))] == 5
    assert seen[(f"{name}_sum", labels(**p1))] == pytest.approx(7.0444)
    p2 = {"platform": "p2", "handler": "other"}
    assert seen[(f"{name}_bucket", labels(**p2, le="0.001"))] == 1


def test_settlements_count_final_outcomes_and_retries_apart() -> None:
    metrics = Metrics()
    rng = random.Random(1)
    reports = [
        Report("p1", "e1", 1, succeeded=True),
        Report("p1", "e2", 1, succeeded=False, error="boom"),  # retried
        Report("p1", "e3", 1, succeeded=False, error="boom"),  # no retries left
    ]
    held_by_id = {
        "e1": held("e1", retries_left=True),
        "e2": held("e2", retries_left=True),
        "e3": held("e3", retries_left=False),
    }
    _, settled = settle_reports(held_by_id, reports, NOW, rng, timedelta(hours=1))
    metrics.settled(settled, EndCause.REPORTED)
    metrics.settled(
        [settle_lost(held("e4", retries_left=False), NOW, "lease expired")], EndCause.LOST
    )
    metrics.settled(
        [settle_lost(held("e5", retries_left=True), NOW, "lease expired")], EndCause.LOST
    )
    metrics.settled([settle_timeout(held("e6", retries_left=False), NOW, rng)], EndCause.TIMEOUT)
    metrics.cancelled("p1", "report", 2)

    seen = samples(metrics)
    finished = "cronstream_executions_finished_total"
    base = {"platform": "p1", "handler": "report"}
    assert seen[(finished, labels(**base, outcome="success"))] == 1
    assert seen[(finished, labels(**base, outcome="failure"))] == 1
    assert seen[(finished, labels(**base, outcome="lost_lease"))] == 1
    assert seen[(finished, labels(**base, outcome="timeout"))] == 1
    assert seen[(finished, labels(**base, outcome="cancelled"))] == 2
    retries = "cronstream_retries_scheduled_total"
    assert seen[(retries, labels(**base, cause="failure"))] == 1
    assert seen[(retries, labels(**base, cause="lost_lease"))] == 1


def test_a_disabled_registry_records_nothing() -> None:
    metrics = Metrics(enabled=False)
    metrics.fired([Fired("p1", "report", 0.01)])
    metrics.settled([settle_lost(held("e1", retries_left=False), NOW, "gone")], EndCause.LOST)
    metrics.ticker_pass(0.01, 5)
    metrics.slots_skipped([("p1", "report", "overlap")])
    seen = samples(metrics)
    assert not [key for key, value in seen.items() if value and not key[0].endswith("_created")]


def test_skipped_slots_are_told_apart_by_their_note() -> None:
    assert skip_reason("overlap: previous run not finished") == "overlap"
    assert skip_reason("missed while no replica was running") == "misfire"
    assert skip_reason("missed: older than the catch-up window (and 3 earlier slots)") == "misfire"
    metrics = Metrics()
    metrics.slots_skipped(
        [("p1", "report", "overlap"), ("p1", "report", "overlap"), ("p1", "report", "misfire")]
    )
    seen = samples(metrics)
    skipped = "cronstream_slots_skipped_total"
    assert seen[(skipped, labels(platform="p1", handler="report", reason="overlap"))] == 2
    assert seen[(skipped, labels(platform="p1", handler="report", reason="misfire"))] == 1


def test_metrics_listen_and_the_older_port_variable() -> None:
    assert Settings.from_env({}).metrics_listen is None
    listen = {"CRONSTREAM_METRICS_LISTEN": "127.0.0.1:9464"}
    assert Settings.from_env(listen).metrics_listen == "127.0.0.1:9464"
    assert Settings.from_env({"CRONSTREAM_METRICS_PORT": "9100"}).metrics_listen == ":9100"
    both = {**listen, "CRONSTREAM_METRICS_PORT": "9100"}
    assert Settings.from_env(both).metrics_listen == "127.0.0.1:9464"
    with pytest.raises(ValueError, match="CRONSTREAM_METRICS_PORT"):
        Settings.from_env({"CRONSTREAM_METRICS_PORT": "metrics"})
