// One job: its spec, actions, next instants, a chart of recent runs, and its
// execution history, polled every 2 s so new executions appear by themselves.
import { HealthState, HandlerType, Job, JobStatus, MisfirePolicy, OverlapPolicy, Priority } from "@gen/cronstream/v1/job_pb.js";
import { useState } from "preact/hooks";
import { scheduler } from "../api";
import { durationMs, enumLabel, formatDuration, formatTime, jobZone, scheduleWords, viewerZone } from "../format";
import { href } from "../router";
import { RunsChart } from "../ui/chart";
import { ErrorBox } from "../ui/errors";
import { useCall } from "../ui/hooks";
import { JsonBlock } from "../ui/json";
import { JobActions } from "./job_actions";
import { EditJob } from "./job_edit";
import { JobHistory } from "./job_history";
import { NextInstants } from "./job_schedule";

const POLL_MS = 2000;

function Both({ ts, zone }: { ts: Job["nextRun"]; zone: string }) {
  if (ts === undefined) return <>—</>;
  return (
    <>
      {formatTime(ts)} <span class="muted">({viewerZone})</span>
      {zone !== viewerZone && (
        <>
          {" · "}
          {formatTime(ts, zone)} <span class="muted">({zone})</span>
        </>
      )}
    </>
  );
}

function Spec({ job }: { job: Job }) {
  const zone = jobZone(job);
  const rows: [string, preact.ComponentChildren][] = [
    ["Id", <code>{job.id}</code>],
    ["Status", enumLabel(JobStatus, job.status) + (job.pausedUntil ? ` until ${formatTime(job.pausedUntil)}` : "")],
    ["Health", `${enumLabel(HealthState, job.health?.state ?? 0)}${job.health?.reason ? `: ${job.health.reason}` : ""}`],
    ["Schedule", scheduleWords(job)],
    ["Next run", <Both ts={job.nextRun} zone={zone} />],
    ["Last run", <Both ts={job.lastRun} zone={zone} />],
    ["Handler", `${job.handlerName} (${enumLabel(HandlerType, job.handlerType)})`],
    ["Retries", `${job.maxRetries ?? 3}, first after ${formatDuration(durationMs(job.retryDelay) ?? 60000)}`],
    ["Timeout", formatDuration(durationMs(job.timeout) ?? 300000)],
    ["Priority", enumLabel(Priority, job.priority)],
    ["Overlap / misfire", `${enumLabel(OverlapPolicy, job.overlapPolicy)} / ${enumLabel(MisfirePolicy, job.misfirePolicy)}`],
    ["Tags", job.tags.length ? job.tags.join(", ") : "—"],
    ["Runs", `${job.executionsCount} (${job.successCount} succeeded, ${job.failureCount} failed), mean ${formatDuration(durationMs(job.avgDuration))}`],
    ["Created", `${formatTime(job.createdAt)} by ${job.createdBy || "—"}`],
  ];
  return (
    <dl class="spec">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

function RecentChart({ id }: { id: string }) {
  const recent = useCall(() => scheduler.getRecentRuns({ jobIds: [id], limit: 50 }), [id], 10000);
  return (
    <section>
      <h2>Lateness and duration</h2>
      <ErrorBox error={recent.error} title="Could not load recent runs" />
      <RunsChart runs={recent.data?.jobs[0]?.runs ?? []} />
    </section>
  );
}

export function JobPage({ id }: { id: string }) {
  const job = useCall(async () => (await scheduler.getJob({ id })).job!, [id], POLL_MS);
  const [editing, setEditing] = useState(false);
  if (job.data === undefined) {
    return (
      <section>
        <p>
          <a href={href.jobs()}>← Jobs</a>
        </p>
        {job.error ? <ErrorBox error={job.error} title="Could not load the job" /> : <p>Loading…</p>}
      </section>
    );
  }
  const j = job.data;
  return (
    <section>
      <p>
        <a href={href.jobs()}>← Jobs</a>
      </p>
      <h1>{j.name}</h1>
      <ErrorBox error={job.error} title="Could not refresh the job" />
      <JobActions job={j} onChanged={job.reload} onEdit={() => setEditing(true)} />
      {editing && (
        <EditJob
          job={j}
          onDone={() => {
            setEditing(false);
            job.reload();
          }}
        />
      )}
      <div class="columns">
        <section>
          <h2>Spec</h2>
          <Spec job={j} />
          <h3>Payload</h3>
          <JsonBlock value={j.payload} label="Payload" />
        </section>
        <NextInstants job={j} />
      </div>
      <RecentChart id={j.id} />
      <JobHistory jobId={j.id} pollMs={POLL_MS} />
    </section>
  );
}
