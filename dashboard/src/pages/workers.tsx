// Connected workers of the whole cluster, grouped by the handlers they run.
import type { ConnectedWorker } from "@gen/cronstream/v1/insight_pb.js";
import { useState } from "preact/hooks";
import { scheduler } from "../api";
import { formatTime } from "../format";
import { ErrorBox } from "../ui/errors";
import { useCall } from "../ui/hooks";

/** Pages read at most: a cluster's sessions, not a table that grows forever. */
const MAX_PAGES = 5;

async function connected(handler: string): Promise<{ workers: ConnectedWorker[]; more: boolean }> {
  const workers: ConnectedWorker[] = [];
  let token = "";
  for (let i = 0; i < MAX_PAGES; i++) {
    const res = await scheduler.listWorkers({ handlerName: handler, pageSize: 1000, pageToken: token });
    workers.push(...res.workers);
    token = res.nextPageToken;
    if (token === "") return { workers, more: false };
  }
  return { workers, more: true };
}

export function byHandler(workers: ConnectedWorker[]): [string, ConnectedWorker[]][] {
  const groups = new Map<string, ConnectedWorker[]>();
  for (const w of workers) {
    for (const h of w.handlerNames) {
      const list = groups.get(h) ?? [];
      list.push(w);
      groups.set(h, list);
    }
  }
  return [...groups.entries()].sort(([a], [b]) => a.localeCompare(b));
}

function HandlerGroup({ handler, workers }: { handler: string; workers: ConnectedWorker[] }) {
  const slots = workers.reduce((n, w) => n + w.slots, 0);
  const used = workers.reduce((n, w) => n + w.slotsInUse, 0);
  return (
    <section>
      <h2>
        {handler} <span class="muted small">{`${workers.length} session${workers.length === 1 ? "" : "s"}, ${used} of ${slots} slots in use`}</span>
      </h2>
      <table class="grid" aria-label={`Workers of ${handler}`}>
        <thead>
          <tr>
            <th scope="col">Worker</th>
            <th scope="col">Session</th>
            <th scope="col">Slots in use</th>
            <th scope="col">Last seen</th>
            <th scope="col">Connected</th>
            <th scope="col">Replica</th>
          </tr>
        </thead>
        <tbody>
          {workers.map((w) => (
            <tr key={w.sessionId}>
              <td>{w.workerId}</td>
              <td>
                <code>{w.sessionId}</code>
              </td>
              <td>
                {w.slotsInUse} / {w.slots}
              </td>
              <td>{formatTime(w.lastSeen)}</td>
              <td>{formatTime(w.connectedAt)}</td>
              <td>{w.replica}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function WorkersPage() {
  const [handler, setHandler] = useState("");
  const [draft, setDraft] = useState("");
  const list = useCall(() => connected(handler), [handler], 5000);
  const groups = byHandler(list.data?.workers ?? []);
  return (
    <section>
      <h1>Workers</h1>
      <form
        class="filters"
        role="search"
        aria-label="Filter workers"
        onSubmit={(e) => {
          e.preventDefault();
          setHandler(draft.trim());
        }}
      >
        <label>
          Handler
          <input value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorBox error={list.error} title="Could not list workers" />
      {list.data?.more && <p class="note">Showing the first {MAX_PAGES * 1000} sessions: filter by handler to see others.</p>}
      {!list.loading && groups.length === 0 && list.error === undefined && <p class="muted">No worker is connected.</p>}
      {groups.map(([h, ws]) => (
        <HandlerGroup key={h} handler={h} workers={ws} />
      ))}
    </section>
  );
}
