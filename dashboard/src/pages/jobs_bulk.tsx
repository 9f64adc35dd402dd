// Bulk pause and resume: of the selected jobs (one call each), or of every
// job matching the tag and handler filters (PauseJobs/ResumeJobs, called
// again while jobs remain, so a large selection goes in bounded steps).
import { useState } from "preact/hooks";
import { scheduler } from "../api";
import { ErrorBox } from "../ui/errors";
import type { JobFilters } from "./jobs_filters";

type Verb = "pause" | "resume";

async function eachSelected(ids: string[], verb: Verb): Promise<number> {
  const results = await Promise.allSettled(
    ids.map((id) => (verb === "pause" ? scheduler.pauseJob({ id }) : scheduler.resumeJob({ id }))),
  );
  const failed = results.find((r) => r.status === "rejected");
  if (failed !== undefined) throw failed.reason;
  return results.length;
}

async function allMatching(filters: JobFilters, verb: Verb, progress: (done: number, left: number) => void): Promise<number> {
  const selector = { tags: filters.tag.trim() ? [filters.tag.trim()] : [], handlerName: filters.handler.trim() };
  let done = 0;
  for (;;) {
    const res = verb === "pause" ? await scheduler.pauseJobs({ selector }) : await scheduler.resumeJobs({ selector });
    done += res.changed;
    progress(done, res.remaining);
    if (res.remaining === 0 || res.changed === 0) return done;
  }
}

export function BulkBar(props: { selected: string[]; filters: JobFilters; onDone: () => void }) {
  const [message, setMessage] = useState("");
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const byFilter = props.filters.tag.trim() !== "" || props.filters.handler.trim() !== "";

  const act = async (what: () => Promise<string>) => {
    setBusy(true);
    setError(undefined);
    try {
      setMessage(await what());
      props.onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const selectedVerb = (verb: Verb) =>
    act(async () => `${verb === "pause" ? "Paused" : "Resumed"} ${await eachSelected(props.selected, verb)} selected jobs.`);
  const matchingVerb = (verb: Verb) =>
    act(async () => {
      const n = await allMatching(props.filters, verb, (done, left) => setMessage(`${done} done, ${left} left…`));
      return `${verb === "pause" ? "Paused" : "Resumed"} ${n} matching jobs.`;
    });

  return (
    <div class="bulk" role="group" aria-label="Bulk actions">
      <button type="button" disabled={busy || props.selected.length === 0} onClick={() => selectedVerb("pause")}>
        Pause selected
      </button>
      <button type="button" disabled={busy || props.selected.length === 0} onClick={() => selectedVerb("resume")}>
        Resume selected
      </button>
      <button type="button" disabled={busy || !byFilter} title="Uses the tag and handler filters" onClick={() => matchingVerb("pause")}>
        Pause all matching tag/handler
      </button>
      <button type="button" disabled={busy || !byFilter} title="Uses the tag and handler filters" onClick={() => matchingVerb("resume")}>
        Resume all matching tag/handler
      </button>
      <span role="status">{message}</span>
      <ErrorBox error={error} title="Bulk action failed" />
    </div>
  );
}
