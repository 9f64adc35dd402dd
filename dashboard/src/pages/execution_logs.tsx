// An execution's log lines, tailed: asked again every 2 s for the lines after
// the last sequence seen, while the execution is not final (and once more
// after, for the lines its end flushed).
import { LogLevel, type ExecutionLog } from "@gen/cronstream/v1/execution_pb.js";
import { useEffect, useState } from "preact/hooks";
import { scheduler } from "../api";
import { enumLabel, formatTime } from "../format";
import { ErrorBox } from "../ui/errors";

const POLL_MS = 2000;
/** Lines kept in the page; older ones are dropped from the view. */
const KEEP = 5000;

async function linesAfter(executionId: string, after: bigint): Promise<ExecutionLog[]> {
  const out: ExecutionLog[] = [];
  let from = after;
  // A page may end early (message size): ask again after its last line.
  for (let i = 0; i < 10; i++) {
    const res = await scheduler.listExecutionLogs({ executionId, afterSequence: from, pageSize: 1000 });
    out.push(...res.logs);
    const last = res.logs[res.logs.length - 1];
    if (res.nextPageToken === "" || last === undefined || last.sequence <= from) break;
    from = last.sequence;
  }
  return out;
}

export function LogTail({ executionId, running }: { executionId: string; running: boolean }) {
  const [lines, setLines] = useState<ExecutionLog[]>([]);
  const [error, setError] = useState<unknown>(undefined);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last = 0n;
    let seen: ExecutionLog[] = [];
    const tick = async () => {
      try {
        const fresh = await linesAfter(executionId, last);
        if (stopped) return;
        seen = [...seen, ...fresh].slice(-KEEP);
        if (fresh.length > 0) last = fresh[fresh.length - 1]!.sequence;
        setLines(seen);
        setError(undefined);
      } catch (err) {
        if (!stopped) setError(err);
      }
      if (!stopped && running) timer = setTimeout(tick, POLL_MS);
    };
    void tick();
    return () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [executionId, running]);

  return (
    <section>
      <h2>
        Logs {running && <span class="badge live">live</span>}
      </h2>
      <ErrorBox error={error} title="Could not read the logs" />
      {lines.length === 0 ? (
        <p class="muted">No log line{running ? " yet" : ""}.</p>
      ) : (
        <table class="grid compact logs" aria-label="Logs">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Level</th>
              <th scope="col">Attempt</th>
              <th scope="col">Message</th>
            </tr>
          </thead>
          <tbody>
            {lines.map((l) => (
              <tr key={`${l.sequence}-${l.attempt}-${l.message}`} class={`level-${LogLevel[l.level]?.toLowerCase()}`}>
                <td>{formatTime(l.time)}</td>
                <td>{enumLabel(LogLevel, l.level)}</td>
                <td>{l.attempt}</td>
                <td class="message">{l.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
