// A new job: name, handler, trigger, payload; created with a request id so a
// double submit makes one job.
import type { JsonObject } from "@bufbuild/protobuf";
import { useState } from "preact/hooks";
import { scheduler } from "../api";
import { navigate, href } from "../router";
import { ErrorBox } from "../ui/errors";
import { LivePreview, newTrigger, TriggerFields, triggerOf, type TriggerDraft } from "../ui/trigger";

/**
 * A random request id. crypto.randomUUID exists only in secure contexts, and
 * the HTTP port may be served over plain HTTP on a private address.
 */
function requestIdOf(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The payload text as a JSON object, or a message saying why it is not one. */
export function parsePayload(text: string): JsonObject | string {
  if (text.trim() === "") return {};
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== "object" || value === null || Array.isArray(value)) return "The payload must be a JSON object.";
    return value as JsonObject;
  } catch (err) {
    return `The payload is not JSON: ${(err as Error).message}`;
  }
}

export function NewJobPage() {
  const [name, setName] = useState("");
  const [handler, setHandler] = useState("");
  const [trigger, setTrigger] = useState<TriggerDraft>(newTrigger);
  const [payload, setPayload] = useState("{}");
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const [requestId] = useState(requestIdOf);
  const payloadValue = parsePayload(payload);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (typeof payloadValue === "string") return;
    setBusy(true);
    setError(undefined);
    try {
      const res = await scheduler.createJob({
        requestId,
        job: { name, handlerName: handler, payload: payloadValue, trigger: triggerOf(trigger) },
      });
      navigate(href.job(res.job!.id));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>New job</h1>
      <form class="job-form" onSubmit={submit}>
        <label>
          Name
          <input required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Handler
          <input required value={handler} onInput={(e) => setHandler(e.currentTarget.value)} />
        </label>
        <TriggerFields value={trigger} onChange={setTrigger} />
        <label>
          Payload (JSON)
          <textarea rows={5} value={payload} onInput={(e) => setPayload(e.currentTarget.value)} />
        </label>
        {typeof payloadValue === "string" && <p class="field-error" role="alert">{payloadValue}</p>}
        <ErrorBox error={error} title="Could not create the job" />
        <div class="actions">
          <button type="submit" disabled={busy || typeof payloadValue === "string"}>
            Create job
          </button>
          <a href={href.jobs()}>Cancel</a>
        </div>
      </form>
      <LivePreview draft={trigger} />
    </section>
  );
}
