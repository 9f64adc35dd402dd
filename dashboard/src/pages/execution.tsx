// One execution: its timeline, attempt, worker, payload and result, logs
// (tailed while it is not final), trace link, retry and cancel.
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { ExecutionStatus, ExecutionTrigger, type Execution } from "@gen/cronstream/v1/execution_pb.js";
import { useEffect, useState } from "preact/hooks";
import { scheduler } from "../api";
import { loadConfig, traceLink, type DashboardConfig } from "../config";
import { durationMs, enumLabel, formatDuration, formatTime } from "../format";
import { href } from "../router";
import { ErrorBox } from "../ui/errors";
import { useAction, useCall } from "../ui/hooks";
import { JsonBlock } from "../ui/json";
import { outcomeClass } from "../ui/sparkline";
import { LogTail } from "./execution_logs";

const POLL_MS = 2000;
const live = [ExecutionStatus.WAITING, ExecutionStatus.PENDING, ExecutionStatus.RUNNING];

export function isFinal(e: Execution): boolean {
  return !live.includes(e.status);
}

function Timeline({ e }: { e: Execution }) {
  const steps: [string, Timestamp | undefined][] = [
    ["Created", e.createdAt],
    ["Instant", e.scheduledAt],
    ["Due", e.dueAt],
    ["Started (sent to a worker)", e.startedAt],
    [e.status === ExecutionStatus.RUNNING ? "Lease ends (extended by each heartbeat)" : "Lease ended", e.leaseExpiresAt],
    ["Next retry", e.nextRetryAt],
    ["Finished", e.completedAt],
  ];
  const shown = steps
    .filter(([, ts]) => ts !== undefined)
    .sort(([, a], [, b]) => timestampDate(a!).getTime() - timestampDate(b!).getTime());
  return (
    <ol class="timeline" aria-label="Timeline">
      {shown.map(([label, ts]) => (
        <li key={label}>
          <span class="when">{formatTime(ts)}</span> {label}
        </li>
      ))}
    </ol>
  );
}

function Facts({ e, config }: { e: Execution; config: DashboardConfig | undefined }) {
  const trace = config ? traceLink(config, e.traceId) : undefined;
  const rows: [string, preact.ComponentChildren][] = [
    ["Status", <span class={`badge ${outcomeClass(e.status)}`}>{enumLabel(ExecutionStatus, e.status)}</span>],
    ["Job", e.jobId ? <a href={href.job(e.jobId)}>{e.jobId}</a> : "— (event handler)"],
    ["Handler", e.handlerName],
    ["Trigger", enumLabel(ExecutionTrigger, e.trigger)],
    ["Attempt", `${e.attempt} (${e.retryCount} of ${e.maxRetries} retries used)`],
    ["Worker", e.workerId || "—"],
    ["Duration", formatDuration(durationMs(e.duration))],
    ["Trace", e.traceId ? (trace ? <a href={trace} target="_blank" rel="noopener noreferrer">{e.traceId}</a> : <code>{e.traceId}</code>) : "—"],
  ];
  if (e.waitingFor.length > 0) rows.push(["Waiting for", e.waitingFor.join(", ")]);
  if (e.concurrencyKey) rows.push(["Concurrency key", e.concurrencyKey]);
  if (e.rateLimitKey) rows.push(["Rate-limit key", e.rateLimitKey]);
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

function Actions({ e, onChanged }: { e: Execution; onChanged: () => void }) {
  const action = useAction();
  const retryable = [ExecutionStatus.FAILED, ExecutionStatus.TIMEOUT, ExecutionStatus.CANCELLED].includes(e.status);
  const act = async (fn: () => Promise<unknown>) => {
    if (await action.run(fn)) onChanged();
  };
  return (
    <div class="actions" role="group" aria-label="Execution actions">
      <button type="button" disabled={action.busy || !retryable} onClick={() => act(() => scheduler.retryExecution({ id: e.id }))}>
        Retry
      </button>
      <button type="button" disabled={action.busy || isFinal(e)} onClick={() => act(() => scheduler.cancelExecution({ id: e.id }))}>
        Cancel execution
      </button>
      <ErrorBox error={action.error} title="The action failed" />
    </div>
  );
}

export function ExecutionPage({ id }: { id: string }) {
  const [config, setConfig] = useState<DashboardConfig | undefined>(undefined);
  useEffect(() => void loadConfig().then(setConfig), []);
  const [final, setFinal] = useState(false);
  const exec = useCall(async () => (await scheduler.getExecution({ id })).execution!, [id], final ? undefined : POLL_MS);
  useEffect(() => {
    if (exec.data !== undefined) setFinal(isFinal(exec.data));
  }, [exec.data]);

  const e = exec.data;
  if (e === undefined) {
    return exec.error ? <ErrorBox error={exec.error} title="Could not load the execution" /> : <p>Loading…</p>;
  }
  return (
    <section>
      <p>{e.jobId ? <a href={href.job(e.jobId)}>← Job</a> : <a href={href.jobs()}>← Jobs</a>}</p>
      <h1>
        Execution <code>{e.id}</code>
      </h1>
      <ErrorBox error={exec.error} title="Could not refresh the execution" />
      <Actions e={e} onChanged={() => { setFinal(false); exec.reload(); }} />
      <div class="columns">
        <section>
          <h2>Details</h2>
          <Facts e={e} config={config} />
        </section>
        <section>
          <h2>Timeline</h2>
          <Timeline e={e} />
        </section>
      </div>
      {e.error && (
        <section>
          <h2>Error</h2>
          <pre class="json">{e.error + (e.errorStack ? `\n\n${e.errorStack}` : "")}</pre>
        </section>
      )}
      <div class="columns">
        <section>
          <h2>Payload</h2>
          <JsonBlock value={e.payload} label="Payload" />
        </section>
        <section>
          <h2>Result</h2>
          <JsonBlock value={e.result} label="Result" />
        </section>
      </div>
      <LogTail executionId={e.id} running={!isFinal(e)} />
    </section>
  );
}
