// What can be done to a job. Each button is one call; its error shows here.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { JobStatus, type Job } from "@gen/cronstream/v1/job_pb.js";
import { useState } from "preact/hooks";
import { scheduler } from "../api";
import { viewerZone } from "../format";
import { href, navigate } from "../router";
import { ErrorBox } from "../ui/errors";
import { useAction } from "../ui/hooks";

const finished = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED];

function Confirm(props: { question: string; yes: string; onYes: () => void; onNo: () => void }) {
  return (
    <div class="confirm" role="alertdialog" aria-label={props.question}>
      <span>{props.question}</span>
      <button type="button" class="danger" onClick={props.onYes}>
        {props.yes}
      </button>
      <button type="button" onClick={props.onNo}>
        Keep it
      </button>
    </div>
  );
}

function Backfill({ job, onDone }: { job: Job; onDone: (msg: string) => void }) {
  const [start, setStart] = useState("");
  const [end, setEnd] = useState("");
  const action = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    await action.run(async () => {
      const res = await scheduler.backfillJob({
        id: job.id,
        startTime: timestampFromDate(new Date(start)),
        endTime: timestampFromDate(new Date(end)),
      });
      onDone(`Backfill: ${res.instants} instants, ${res.created} executions created, ${res.existing} already there.`);
    });
  };
  return (
    <form class="inline" onSubmit={submit} aria-label="Backfill">
      <label>
        Backfill from ({viewerZone})
        <input type="datetime-local" required value={start} onInput={(e) => setStart(e.currentTarget.value)} />
      </label>
      <label>
        to
        <input type="datetime-local" required value={end} onInput={(e) => setEnd(e.currentTarget.value)} />
      </label>
      <button type="submit" disabled={action.busy}>
        Backfill
      </button>
      <ErrorBox error={action.error} title="Backfill failed" />
    </form>
  );
}

export function JobActions({ job, onChanged, onEdit }: { job: Job; onChanged: () => void; onEdit: () => void }) {
  const action = useAction();
  const [until, setUntil] = useState("");
  const [confirming, setConfirming] = useState<"cancel" | "delete" | undefined>(undefined);
  const [message, setMessage] = useState("");
  const done = finished.includes(job.status);
  const act = async (fn: () => Promise<unknown>, said: string) => {
    if (await action.run(fn)) {
      setMessage(said);
      onChanged();
    }
  };

  return (
    <div class="job-actions">
      <div class="actions" role="group" aria-label="Job actions">
        <button type="button" disabled={action.busy || job.status !== JobStatus.ACTIVE} onClick={() => act(() => scheduler.pauseJob({ id: job.id }), "Paused.")}>
          Pause
        </button>
        <button type="button" disabled={action.busy || job.status !== JobStatus.PAUSED} onClick={() => act(() => scheduler.resumeJob({ id: job.id }), "Resumed.")}>
          Resume
        </button>
        <button type="button" disabled={action.busy || job.status === JobStatus.CANCELLED} onClick={() => act(() => scheduler.runJob({ id: job.id }), "Run queued.")}>
          Run now
        </button>
        <button type="button" disabled={job.status === JobStatus.CANCELLED} onClick={onEdit}>
          Edit
        </button>
        <button type="button" disabled={action.busy || done} onClick={() => setConfirming("cancel")}>
          Cancel job
        </button>
        <button type="button" class="danger" disabled={action.busy} onClick={() => setConfirming("delete")}>
          Delete
        </button>
      </div>
      <details class="more">
        <summary>Pause until a time, or backfill</summary>
      <form
        class="inline"
        aria-label="Pause until"
        onSubmit={(e) => {
          e.preventDefault();
          void act(() => scheduler.pauseJob({ id: job.id, until: timestampFromDate(new Date(until)) }), "Paused until then.");
        }}
      >
        <label>
          Pause until ({viewerZone})
          <input type="datetime-local" required value={until} onInput={(e) => setUntil(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={action.busy || done}>
          Pause until
        </button>
      </form>
      {job.trigger.case !== "event" && <Backfill job={job} onDone={(m) => { setMessage(m); onChanged(); }} />}
      </details>
      {confirming === "cancel" && (
        <Confirm
          question="Cancel this job for good? It never fires again."
          yes="Yes, cancel the job"
          onNo={() => setConfirming(undefined)}
          onYes={() => {
            setConfirming(undefined);
            void act(() => scheduler.cancelJob({ id: job.id }), "Cancelled.");
          }}
        />
      )}
      {confirming === "delete" && (
        <Confirm
          question="Delete this job with all its executions and logs?"
          yes="Yes, delete the job"
          onNo={() => setConfirming(undefined)}
          onYes={async () => {
            setConfirming(undefined);
            if (await action.run(() => scheduler.deleteJob({ id: job.id }))) navigate(href.jobs());
          }}
        />
      )}
      <p role="status" class="muted">
        {message}
      </p>
      <ErrorBox error={action.error} title="The action failed" />
    </div>
  );
}
