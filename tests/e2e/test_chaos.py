"""Chaos: a cluster of the suite's own (Postgres, Redis, two `cronstream serve`
replicas, two worker processes) put through faults one after another, while
60 jobs fire every second and a prober calls both replicas.

Each test is one phase, counted from the end of the one before (so the run is
covered end to end): a calm baseline, a Postgres fast restart, Postgres down
for 5 s, Redis killed then restarted, a replica killed then restarted. After
a phase the suite waits for its slots to settle, then counts, per slot: one
execution, SUCCESS, run to completion once by a worker. It prints a summary
table (docs/testing.md explains the figures).
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cronstream.v1 import admin_service_pb2 as admin_pb
from cronstream.v1 import admin_service_pb2_grpc, job_pb2, scheduler_service_pb2_grpc
from cronstream.v1 import scheduler_service_pb2 as pb
from cronstream_server import migrate
from google.protobuf import duration_pb2, timestamp_pb2

from tests.e2e.chaos import Postgres, Redis, Replica, WorkerProcess
from tests.e2e.chaos_figures import (
    BAD_CODES,
    Figures,
    HealthSample,
    Phase,
    Prober,
    Slot,
    SlotFigures,
    check,
    count_slots,
    log_digest,
    read_executions,
    read_runs,
    succeeded,
    table,
)

pytestmark = pytest.mark.timeout(180)

ADMIN_KEY = "cs_admin_chaos"
JOBS = 60
EVERY = 1  # second: each job fires every second
# The lease outlasts the outage and Postgres's start: an outage shorter than
# the lease must cost no duplicate. Heartbeats and the reaper are quick so that
# what a fault does cost shows within the phase.
LEASE = 10.0
SERVER_ENV = {
    "CRONSTREAM_ADMIN_KEY": ADMIN_KEY,
    "CRONSTREAM_LEASE_SECONDS": str(LEASE),
    "CRONSTREAM_HEARTBEAT_SECONDS": "1",
    "CRONSTREAM_REAPER_INTERVAL_SECONDS": "0.5",
    "CRONSTREAM_SHUTDOWN_GRACE_SECONDS": "3",
}
LEAD = 2.0  # calm seconds in a phase before its fault
OUTAGE = 5.0  # how long Postgres, Redis or a replica stays down
RECOVERY = 6.0  # calm seconds after the fault, within the phase
# Longest wait for a phase's slots to succeed: a slot whose lease ran out is
# retried at once, one lease after its last heartbeat.
SETTLE = LEASE + 15.0


class Chaos:
    """The cluster, the jobs, and the phases run so far."""

    def __init__(
        self, logs: Path, postgres: Postgres, redis: Redis, results: list[Figures]
    ) -> None:
        self.logs = logs
        self.postgres = postgres
        self.redis = redis
        self.replicas: list[Replica] = []
        self.workers: list[WorkerProcess] = []
        self.prober: Prober | None = None
        self.api_key = ""
        self.job_ids: list[str] = []
        self.first_slot = datetime.now(UTC)
        self.mark = time.time()  # where the next phase begins
        self.results = results

    # --- set-up ---------------------------------------------------------------

    def start_replicas(self, count: int) -> None:
        env = {**SERVER_ENV, "CRONSTREAM_DATABASE_URL": self.postgres.url}
        for index in range(count):
            env["CRONSTREAM_REDIS_URL"] = self.redis.url
            replica = Replica(f"r{index}", env, self.logs / f"r{index}.log")
            self.replicas.append(replica)
            replica.start()

    def make_api_key(self) -> None:
        with grpc.insecure_channel(self.replicas[0].address) as channel:
            admin = admin_service_pb2_grpc.AdminServiceStub(channel)
            auth = (("authorization", f"Bearer {ADMIN_KEY}"),)
            platform = admin.CreatePlatform(
                admin_pb.CreatePlatformRequest(platform=admin_pb.Platform(name="chaos")),
                metadata=auth,
            ).platform
            self.api_key = admin.CreateApiKey(
                admin_pb.CreateApiKeyRequest(platform_id=platform.id, name="chaos"),
                metadata=auth,
            ).secret

    def create_jobs(self) -> None:
        """JOBS jobs every EVERY s from a whole second 3 s ahead; missed slots
        all run late (RUN_ALL), so that a slot not run is lost, not skipped."""
        self.first_slot = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
        requests = [pb.CreateJobRequest(job=self._job(i)) for i in range(JOBS)]
        with grpc.insecure_channel(self.replicas[0].address) as channel:
            scheduler = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
            response = scheduler.BatchCreateJobs(
                pb.BatchCreateJobsRequest(requests=requests), metadata=self.auth
            )
        self.job_ids = [job.id for job in response.jobs]
        self.mark = self.first_slot.timestamp()

    def _job(self, index: int) -> job_pb2.Job:
        start, end = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
        start.FromDatetime(self.first_slot)
        end.FromDatetime(self.first_slot + timedelta(minutes=15))  # should teardown fail
        return job_pb2.Job(
            name=f"chaos-{index}",
            handler_name="chaos",
            interval=job_pb2.IntervalTrigger(
                every=duration_pb2.Duration(seconds=EVERY), start_at=start, end_at=end
            ),
            misfire_policy=job_pb2.MISFIRE_POLICY_RUN_ALL,
            max_retries=5,
            retry_delay=duration_pb2.Duration(seconds=1),
            timeout=duration_pb2.Duration(seconds=30),
        )

    def start_workers(self) -> None:
        """Two workers, each preferring another replica and moving to the other
        should its own die."""
        first, second = (r.address for r in self.replicas)
        targets = [f"ipv4:{first},{second}", f"ipv4:{second},{first}"]
        for index, target in enumerate(targets):
            worker = WorkerProcess(
                f"chaos-w{index}",
                target,
                self.api_key,
                self.logs / f"w{index}.record",
                self.logs / f"w{index}.log",
            )
            self.workers.append(worker)
            worker.start()

    @property
    def auth(self) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {self.api_key}"),)

    # --- phases ---------------------------------------------------------------

    def begin(self, name: str) -> Phase:
        logs = [r.log for r in self.replicas] + [w.log for w in self.workers]
        return Phase(name, self.mark, log_offsets={p: p.stat().st_size for p in logs})

    @contextmanager
    def fault(self, phase: Phase) -> Iterator[None]:
        time.sleep(LEAD)
        phase.fault_at = time.time()
        yield
        phase.healed_at = time.time()
        time.sleep(RECOVERY)

    def finish(self, phase: Phase) -> Figures:
        """Ends the phase, waits for its slots to settle, counts."""
        phase.ended = self.mark = time.time()
        expected = self.expected_slots(phase)
        since, until = (datetime.fromtimestamp(t, UTC) for t in (phase.began, phase.ended))
        waited = time.monotonic()
        while True:
            executions = read_executions(self.postgres.dsn, since, until)
            if succeeded(expected, executions) == expected or time.monotonic() - waited > SETTLE:
                break
            time.sleep(0.5)
        settled_in = time.monotonic() - waited
        time.sleep(0.5)  # an attempt superseded by a retry may still be finishing
        runs = read_runs(w.record for w in self.workers)
        figures = self._figures(phase, count_slots(expected, executions, runs), settled_in)
        self.results.append(figures)
        print("\n" + table([figures]))
        return figures

    def sleep_until_slot(self, less: float) -> None:
        """Sleeps until `less` seconds before the next slot."""
        since_slot = (time.time() - self.first_slot.timestamp()) % EVERY
        time.sleep((EVERY - less - since_slot) % EVERY)

    def expected_slots(self, phase: Phase) -> set[Slot]:
        origin = self.first_slot.timestamp()
        first = max(0, math.ceil((phase.began - origin) / EVERY))
        last = math.ceil((phase.ended - origin) / EVERY)  # exclusive
        instants = [self.first_slot + timedelta(seconds=k * EVERY) for k in range(first, last)]
        return {(job_id, at) for job_id in self.job_ids for at in instants}

    def _figures(self, phase: Phase, slots: SlotFigures, settled_in: float) -> Figures:
        assert self.prober is not None
        answers = self.prober.answers_between(phase.began, phase.ended)
        during: list[list[str]] = [[] for _ in self.replicas]
        if phase.fault_at is not None and phase.healed_at is not None:
            for sample in self.prober.health_between(phase.fault_at, phase.healed_at):
                if sample.status not in during[sample.replica]:
                    during[sample.replica].append(sample.status)
        recent = phase.healed_at or phase.began
        return Figures(
            phase=phase,
            slots=slots,
            answers=Counter(a.code for a in answers),
            bad_answers=[a for a in answers if a.code in BAD_CODES],
            health_during=during,
            health_after=self._last(self.prober.health_between(recent, phase.ended)),
            signals_after=self._last(self.prober.signals_between(recent, phase.ended)),
            logs=self._log_digest(phase),
            settled_in=settled_in,
            exited=self._exited(),
        )

    def _exited(self) -> list[str]:
        processes = [(r.name, r.process) for r in self.replicas]
        processes += [(w.worker_id, w.process) for w in self.workers]
        return [
            f"{name} ({'never restarted' if p is None else f'exit code {p.returncode}'})"
            for name, p in processes
            if p is None or p.poll() is not None
        ]

    def _last(self, samples: list[HealthSample]) -> list[str]:
        last = ["(none)" for _ in self.replicas]
        for sample in samples:
            last[sample.replica] = sample.status
        return last

    def _log_digest(self, phase: Phase) -> Counter[str]:
        found: Counter[str] = Counter()
        for path, offset in phase.log_offsets.items():
            with path.open("rb") as log:
                log.seek(offset)
                text = log.read().decode(errors="replace")
            for line, count in log_digest(text).items():
                found[f"{path.stem}: {line}"] += count
        return found


# --- the suite ------------------------------------------------------------------


def _services() -> tuple[Path, str]:
    pg_bin = os.environ.get("CRONSTREAM_TEST_PG_BIN")
    redis = os.environ.get("CRONSTREAM_TEST_REDIS_SERVER")
    if not (pg_bin and redis):
        if os.environ.get("CRONSTREAM_REQUIRE_SERVICES") == "1":
            raise RuntimeError("CRONSTREAM_TEST_PG_BIN / CRONSTREAM_TEST_REDIS_SERVER not set")
        pytest.skip("Postgres and Redis binaries not configured (run `make test`)")
    return Path(pg_bin), redis


@pytest.fixture(scope="module")
def chaos(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Chaos]:
    """Set up in this order, torn down in the reverse whatever happens."""
    pg_bin, redis_binary = _services()
    logs = tmp_path_factory.mktemp("chaos")
    results: list[Figures] = []
    with ExitStack() as stack:
        stack.callback(_report, request, logs, results)
        postgres = Postgres.create(pg_bin)
        stack.callback(postgres.destroy, logs / "pg.log")
        migrate.upgrade(postgres.url)
        redis = Redis(redis_binary, logs)
        stack.callback(redis.kill)
        redis.start()
        cluster = Chaos(logs, postgres, redis, results)
        stack.callback(_stop_all, cluster.replicas)
        cluster.start_replicas(2)
        cluster.make_api_key()
        cluster.create_jobs()
        stack.callback(_stop_all, cluster.workers)
        cluster.start_workers()
        prober = Prober([r.address for r in cluster.replicas], cluster.api_key, cluster.job_ids)
        cluster.prober = prober
        stack.callback(prober.stop)
        prober.start()
        yield cluster


def _stop_all(processes: list[Replica] | list[WorkerProcess]) -> None:
    for process in processes:
        process.stop()


def _report(request: pytest.FixtureRequest, logs: Path, results: list[Figures]) -> None:
    """The summary table, on the terminal whether or not output is captured."""
    if not results:
        return
    legend = "\n".join(line.strip() for line in (table.__doc__ or "").splitlines())
    text = f"\n\nchaos suite (logs: {logs})\n{table(results)}\n{legend}"
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else nullcontext():
        print(text, flush=True)


def test_baseline(chaos: Chaos) -> None:
    phase = chaos.begin("baseline (no fault)")
    time.sleep(max(0.0, phase.began + LEAD + RECOVERY - time.time()))
    check(chaos.finish(phase))


def test_postgres_fast_restart(chaos: Chaos) -> None:
    phase = chaos.begin("postgres fast restart")
    with chaos.fault(phase):
        chaos.postgres.restart()
    check(chaos.finish(phase))


def test_postgres_down_5s(chaos: Chaos) -> None:
    phase = chaos.begin(f"postgres down {OUTAGE:g} s")
    with chaos.fault(phase):
        chaos.postgres.stop("fast")
        time.sleep(OUTAGE)
        chaos.postgres.start()
    check(chaos.finish(phase), not_serving_during=True)


def test_redis_killed(chaos: Chaos) -> None:
    phase = chaos.begin("redis killed")
    with chaos.fault(phase):
        chaos.redis.kill()
        time.sleep(OUTAGE)
        chaos.redis.start()
    check(chaos.finish(phase))


def test_replica_killed(chaos: Chaos) -> None:
    phase = chaos.begin("replica r1 killed")
    with chaos.fault(phase):
        # 100 ms before a slot, when the replica has claimed the slot's
        # executions for its worker and holds them for the instant.
        chaos.sleep_until_slot(less=0.1)
        chaos.replicas[1].kill()
        time.sleep(OUTAGE)
        chaos.replicas[1].start()
    check(chaos.finish(phase))
