// A job's executions, newest first; the first page is polled so a new one
// shows up without a reload, older pages are read on demand.
import { ExecutionStatus, ExecutionTrigger } from "@gen/cronstream/v1/execution_pb.js";
import { useState } from "preact/hooks";
import { scheduler } from "../api";
import { durationMs, enumLabel, formatDuration, formatTime } from "../format";
import { href } from "../router";
import { ErrorBox } from "../ui/errors";
import { useCall } from "../ui/hooks";
import { outcomeClass } from "../ui/sparkline";

const PAGE_SIZE = 20;

export function JobHistory({ jobId, pollMs }: { jobId: string; pollMs: number }) {
  const [tokens, setTokens] = useState<string[]>([]);
  const token = tokens[tokens.length - 1] ?? "";
  // Only the newest page moves; an older one is read once.
  const page = useCall(
    () => scheduler.listExecutions({ jobId, pageSize: PAGE_SIZE, pageToken: token }),
    [jobId, token],
    token === "" ? pollMs : undefined,
  );
  const executions = page.data?.executions ?? [];
  return (
    <section>
      <h2>Executions</h2>
      <ErrorBox error={page.error} title="Could not list executions" />
      <table class="grid" aria-label="Executions">
        <thead>
          <tr>
            <th scope="col">Instant</th>
            <th scope="col">Status</th>
            <th scope="col">Attempt</th>
            <th scope="col">Trigger</th>
            <th scope="col">Started</th>
            <th scope="col">Duration</th>
            <th scope="col">Worker</th>
          </tr>
        </thead>
        <tbody>
          {executions.map((e) => (
            <tr key={e.id}>
              <td>
                <a href={href.execution(e.id)}>{formatTime(e.scheduledAt ?? e.createdAt)}</a>
              </td>
              <td>
                <span class={`badge ${outcomeClass(e.status)}`}>{enumLabel(ExecutionStatus, e.status)}</span>
              </td>
              <td>{e.attempt}</td>
              <td>{enumLabel(ExecutionTrigger, e.trigger)}</td>
              <td>{formatTime(e.startedAt)}</td>
              <td>{formatDuration(durationMs(e.duration))}</td>
              <td>{e.workerId || "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!page.loading && executions.length === 0 && <p class="muted">No execution yet.</p>}
      <div class="pager">
        <button type="button" disabled={tokens.length === 0} onClick={() => setTokens([])}>
          Newest
        </button>
        <button type="button" disabled={!page.data?.nextPageToken} onClick={() => setTokens([...tokens, page.data!.nextPageToken])}>
          Older
        </button>
      </div>
    </section>
  );
}
