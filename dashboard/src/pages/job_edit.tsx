// Edit a job's name, trigger and payload (UpdateJob with those mask paths),
// with a live preview of the new schedule.
import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import type { Job } from "@gen/cronstream/v1/job_pb.js";
import { useState } from "preact/hooks";
import { scheduler } from "../api";
import { ErrorBox } from "../ui/errors";
import { useAction } from "../ui/hooks";
import { draftOf, LivePreview, TriggerFields, triggerOf, type TriggerDraft } from "../ui/trigger";
import { parsePayload } from "./new_job";

const triggerPath = { cron: "cron", every: "interval", once: "once", event: "event" } as const;

export function EditJob({ job, onDone }: { job: Job; onDone: () => void }) {
  const [name, setName] = useState(job.name);
  const [trigger, setTrigger] = useState<TriggerDraft>(() => draftOf(job));
  const [payload, setPayload] = useState(() => JSON.stringify(job.payload ?? {}, null, 2));
  const action = useAction();
  const payloadValue = parsePayload(payload);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (typeof payloadValue === "string") return;
    const ok = await action.run(() =>
      scheduler.updateJob({
        job: { id: job.id, name, payload: payloadValue, trigger: triggerOf(trigger) },
        updateMask: create(FieldMaskSchema, { paths: ["name", "payload", triggerPath[trigger.kind]] }),
      }),
    );
    if (ok) onDone();
  };

  return (
    <section class="edit" aria-label="Edit job">
      <h2>Edit</h2>
      <form class="job-form" onSubmit={submit}>
        <label>
          Name
          <input required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <TriggerFields value={trigger} onChange={setTrigger} />
        <label>
          Payload (JSON)
          <textarea rows={5} value={payload} onInput={(e) => setPayload(e.currentTarget.value)} />
        </label>
        {typeof payloadValue === "string" && <p class="field-error" role="alert">{payloadValue}</p>}
        <ErrorBox error={action.error} title="Could not save" />
        <div class="actions">
          <button type="submit" disabled={action.busy || typeof payloadValue === "string"}>
            Save
          </button>
          <button type="button" onClick={onDone}>
            Discard
          </button>
        </div>
      </form>
      <LivePreview draft={trigger} />
    </section>
  );
}
