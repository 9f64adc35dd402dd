"""Prometheus metrics: what the engine counts, and the names it exposes.

One `Metrics` per server, on a registry of its own (tests run several servers
in one process). The engine's hot paths hand over whole batches (a claim's
starts, a batch of settlements, a tick's slots), so a lock is taken once per
batch, never once per execution: counters are added to per label set, and the
lateness histogram counts a batch into its buckets itself (prometheus_client's
`Histogram.observe` locks per observation).

A disabled `Metrics` (no CRONSTREAM_METRICS_LISTEN) records nothing, so the
engine's cost with metrics off is a method call per batch.

Labels are bounded: `platform` is the platform's id and `handler` a handler
name (both few); job and execution ids are never labels.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from cronstream_server.core.dispatch import EndCause, Ending, Settlement

# Fine at the low end: the engine's firing tail is tens of milliseconds.
LATENESS_BUCKETS = (
    0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)  # fmt: skip
PASS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROWS_BUCKETS = (0, 1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000)
RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class Fired:
    """An attempt handed to a worker: how late after its due instant."""

    platform_id: str
    handler_name: str
    lateness_seconds: float


class Metrics:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.lateness = BatchHistogram(
            "cronstream_firing_lateness_seconds",
            "From the instant an execution was due (its slot, plus the job's jitter) to its"
            " hand-over to a worker; first attempts only",
            ("platform", "handler"),
            LATENESS_BUCKETS,
        )
        r.register(self.lateness)
        self.finished = Counter(
            "cronstream_executions_finished_total",
            "Executions that reached a final state, by outcome: success, failure, timeout,"
            " cancelled, lost_lease",
            ("platform", "handler", "outcome"),
            registry=r,
        )
        self.retries = Counter(
            "cronstream_retries_scheduled_total",
            "Attempts that ended and will be retried, by what ended them: failure, timeout,"
            " lost_lease",
            ("platform", "handler", "cause"),
            registry=r,
        )
        self.skipped = Counter(
            "cronstream_slots_skipped_total",
            "Slots not run, by reason: misfire, overlap, paused",
            ("platform", "handler", "reason"),
            registry=r,
        )
        self.pending = Gauge(
            "cronstream_executions_pending",
            "Executions due and not started (cluster-wide; reported by one replica)",
            ("platform", "handler"),
            registry=r,
        )
        self.running = Gauge(
            "cronstream_executions_running",
            "Executions running on a worker (cluster-wide; reported by one replica)",
            ("platform", "handler"),
            registry=r,
        )
        self.waiting = Gauge(
            "cronstream_executions_waiting",
            "Slots waiting for the jobs they depend on; not in the pending queue until"
            " released (cluster-wide; reported by one replica)",
            ("platform", "handler"),
            registry=r,
        )
        self.reporter = Gauge(
            "cronstream_cluster_reporter",
            "1 on the replica that reports the cluster-wide gauges, 0 on the others",
            registry=r,
        )
        self.workers = Gauge(
            "cronstream_workers_connected",
            "Worker streams open on this replica that serve the handler (sum over replicas"
            " for the cluster)",
            ("platform", "handler"),
            registry=r,
        )
        self.free_slots = Gauge(
            "cronstream_worker_slots_free",
            "Free slots of the worker streams open on this replica that serve the handler"
            " (sum over replicas for the cluster)",
            ("platform", "handler"),
            registry=r,
        )
        self.alerts_opened = Counter(
            "cronstream_alerts_opened_total",
            "Alerts opened, by kind: late, missed, overrunning, failing (cluster-wide; counted"
            " by the reporting replica)",
            ("platform", "handler", "kind"),
            registry=r,
        )
        self.tick_seconds = Histogram(
            "cronstream_ticker_pass_seconds",
            "Duration of a ticker pass (one transaction)",
            buckets=PASS_BUCKETS,
            registry=r,
        )
        self.tick_rows = Histogram(
            "cronstream_ticker_pass_jobs",
            "Jobs fired by a ticker pass that found work",
            buckets=ROWS_BUCKETS,
            registry=r,
        )
        self.claim_seconds = Histogram(
            "cronstream_dispatch_claim_seconds",
            "Duration of a dispatcher claim (one transaction)",
            buckets=PASS_BUCKETS,
            registry=r,
        )
        self.claim_rows = Histogram(
            "cronstream_dispatch_claim_executions",
            "Executions started by a dispatcher claim",
            buckets=ROWS_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "cronstream_grpc_requests_total",
            "gRPC calls finished, by service, method and status code",
            ("service", "method", "code"),
            registry=r,
        )
        self.request_seconds = Histogram(
            "cronstream_grpc_request_duration_seconds",
            "gRPC call duration (a stream's whole life for streams)",
            ("service", "method"),
            buckets=RPC_BUCKETS,
            registry=r,
        )
        self.pool_in_use = Gauge(
            "cronstream_db_pool_connections_in_use",
            "Database connections checked out of this replica's pool",
            registry=r,
        )
        self.pool_idle = Gauge(
            "cronstream_db_pool_connections_idle",
            "Database connections idle in this replica's pool",
            registry=r,
        )
        self.pool_waiting = Gauge(
            "cronstream_db_pool_waiting",
            "Tasks of this replica waiting for a database connection",
            registry=r,
        )
        self.redis_connected = Gauge(
            "cronstream_redis_connected",
            "1 while this replica's Redis connection is up, 0 while down; absent without Redis",
            registry=r,
        )

    def fired(self, fired: Iterable[Fired]) -> None:
        if self.enabled:
            self.lateness.observe_many(
                ((f.platform_id, f.handler_name), f.lateness_seconds) for f in fired
            )

    def settled(self, settlements: Sequence[Settlement], cause: EndCause) -> None:
        """Attempts a store transaction ended, and why."""
        if not self.enabled or not settlements:
            return
        finished: Tally[tuple[str, str, str]] = Tally()
        retried: Tally[tuple[str, str, str]] = Tally()
        for s in settlements:
            held = s.held
            what = _what_ended(s.ending, cause)
            if s.ending is Ending.RETRYING:
                retried[(held.platform_id, held.handler_name, what)] += 1
            else:
                finished[(held.platform_id, held.handler_name, what)] += 1
        for labels, n in finished.items():
            self.finished.labels(*labels).inc(n)
        for labels, n in retried.items():
            self.retries.labels(*labels).inc(n)

    def cancelled(self, platform_id: str, handler_name: str, count: int = 1) -> None:
        if self.enabled and count:
            self.finished.labels(platform_id, handler_name, "cancelled").inc(count)

    def slots_skipped(self, skipped: Iterable[tuple[str, str, str]]) -> None:
        """(platform, handler, reason) per slot not run."""
        if not self.enabled:
            return
        for labels, n in Tally(skipped).items():
            self.skipped.labels(*labels).inc(n)

    def paused_slots(self, platform_id: str, handler_name: str, count: int) -> None:
        """Slots a job passed while paused, counted when it resumes."""
        if self.enabled and count:
            self.skipped.labels(platform_id, handler_name, "paused").inc(count)

    def ticker_pass(self, seconds: float, jobs: int) -> None:
        if self.enabled:
            self.tick_seconds.observe(seconds)
            if jobs:
                self.tick_rows.observe(jobs)

    def claim(self, seconds: float, started: int) -> None:
        if self.enabled:
            self.claim_seconds.observe(seconds)
            self.claim_rows.observe(started)


def _what_ended(ending: Ending, cause: EndCause) -> str:
    if cause is EndCause.LOST:
        return "lost_lease"
    if ending is Ending.SUCCEEDED:
        return "success"
    if ending is Ending.TIMED_OUT or cause is EndCause.TIMEOUT:
        return "timeout"
    return "failure"


class BatchHistogram(Collector):
    """A labelled histogram that takes a batch of observations under one lock."""

    def __init__(
        self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> None:
        self._name, self._documentation = name, documentation
        self._labels = tuple(labels)
        self._bounds = tuple(buckets)
        self._lock = threading.Lock()  # the scrape runs on the HTTP server's thread
        # label values -> (count per bucket, the last one +Inf; sum)
        self._series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def observe_many(self, observations: Iterable[tuple[tuple[str, ...], float]]) -> None:
        counted: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}
        for labels, value in observations:
            series = counted.get(labels)
            if series is None:
                series = counted[labels] = ([0] * (len(self._bounds) + 1), [0.0])
            series[0][bisect.bisect_left(self._bounds, value)] += 1
            series[1][0] += value
        if not counted:
            return
        with self._lock:
            for labels, (counts, total) in counted.items():
                series = self._series.get(labels)
                if series is None:
                    self._series[labels] = (counts, total)
                    continue
                kept = series[0]
                for i, n in enumerate(counts):
                    kept[i] += n
                series[1][0] += total[0]

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self._name, self._documentation, labels=self._labels)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labels)
        with self._lock:
            snapshot = [(k, list(c), s[0]) for k, (c, s) in self._series.items()]
        for labels, counts, total in snapshot:
            cumulative, buckets = 0, []
            for bound, n in zip((*self._bounds, float("inf")), counts, strict=True):
                cumulative += n
                buckets.append((_bound(bound), float(cumulative)))
            family.add_metric(list(labels), buckets, total)
        yield family


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(float(value))
