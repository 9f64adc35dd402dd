// The trigger part of a job form (cron + zone, every, once, event), and a
// live preview of the schedule it describes, from PreviewSchedule.
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { Job } from "@gen/cronstream/v1/job_pb.js";
import { useEffect, useState } from "preact/hooks";
import { scheduler } from "../api";
import { cronWords, durationMs, formatDate, formatTime, viewerZone } from "../format";
import { ErrorBox } from "./errors";

export type TriggerKind = "cron" | "every" | "once" | "event";

export interface TriggerDraft {
  kind: TriggerKind;
  expression: string;
  timezone: string;
  everySeconds: string;
  /** A datetime-local value, in the viewer's zone. */
  runAt: string;
  eventName: string;
}

export const newTrigger: TriggerDraft = {
  kind: "cron",
  expression: "0 * * * *",
  timezone: viewerZone,
  everySeconds: "60",
  runAt: "",
  eventName: "",
};

function localInput(ts: Timestamp | undefined): string {
  if (ts === undefined) return "";
  const d = timestampDate(ts);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The draft of an existing job's trigger, for its edit form. */
export function draftOf(job: Job): TriggerDraft {
  const t = job.trigger;
  switch (t.case) {
    case "cron":
      return { ...newTrigger, kind: "cron", expression: t.value.expression, timezone: t.value.timezone || "UTC" };
    case "interval":
      return { ...newTrigger, kind: "every", everySeconds: String((durationMs(t.value.every) ?? 0) / 1000) };
    case "once":
      return { ...newTrigger, kind: "once", runAt: localInput(t.value.runAt) };
    case "event":
      return { ...newTrigger, kind: "event", eventName: t.value.eventName };
    default:
      return newTrigger;
  }
}

/** The Job.trigger oneof for a draft; the server judges its values. */
export function triggerOf(d: TriggerDraft): Job["trigger"] {
  switch (d.kind) {
    case "cron":
      return { case: "cron", value: { $typeName: "cronstream.v1.CronTrigger", expression: d.expression.trim(), timezone: d.timezone.trim() } };
    case "every": {
      const ms = Math.round(Number(d.everySeconds) * 1000);
      const every = { $typeName: "google.protobuf.Duration" as const, seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
      return { case: "interval", value: { $typeName: "cronstream.v1.IntervalTrigger", every, maxRuns: 0 } };
    }
    case "once": {
      const runAt = d.runAt ? timestampFromDate(new Date(d.runAt)) : undefined;
      return { case: "once", value: { $typeName: "cronstream.v1.OnceTrigger", runAt } };
    }
    case "event":
      return { case: "event", value: { $typeName: "cronstream.v1.EventTrigger", eventName: d.eventName.trim() } };
  }
}

export function TriggerFields({ value, onChange }: { value: TriggerDraft; onChange: (d: TriggerDraft) => void }) {
  const set = (patch: Partial<TriggerDraft>) => onChange({ ...value, ...patch });
  return (
    <fieldset>
      <legend>Schedule</legend>
      <label>
        Trigger
        <select value={value.kind} onChange={(e) => set({ kind: e.currentTarget.value as TriggerKind })}>
          <option value="cron">Cron</option>
          <option value="every">Every (interval)</option>
          <option value="once">Once</option>
          <option value="event">On event</option>
        </select>
      </label>
      {value.kind === "cron" && (
        <>
          <label>
            Cron expression
            <input value={value.expression} required onInput={(e) => set({ expression: e.currentTarget.value })} />
          </label>
          <label>
            Time zone
            <input value={value.timezone} onInput={(e) => set({ timezone: e.currentTarget.value })} />
          </label>
          <p class="muted small">{cronWords(value.expression, value.timezone)}</p>
        </>
      )}
      {value.kind === "every" && (
        <label>
          Every (seconds)
          <input type="number" min="0.001" step="any" value={value.everySeconds} onInput={(e) => set({ everySeconds: e.currentTarget.value })} />
        </label>
      )}
      {value.kind === "once" && (
        <label>
          Run at ({viewerZone})
          <input type="datetime-local" value={value.runAt} onInput={(e) => set({ runAt: e.currentTarget.value })} />
        </label>
      )}
      {value.kind === "event" && (
        <label>
          Event name
          <input value={value.eventName} onInput={(e) => set({ eventName: e.currentTarget.value })} />
        </label>
      )}
    </fieldset>
  );
}

/** The next instants of a draft trigger, asked again as it is typed. */
export function LivePreview({ draft }: { draft: TriggerDraft }) {
  const [times, setTimes] = useState<Timestamp[] | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const key = JSON.stringify(draft);
  useEffect(() => {
    if (draft.kind === "event") {
      setTimes(undefined);
      setError(undefined);
      return;
    }
    let stale = false;
    // Typing would ask at each key: wait for a pause first.
    const timer = setTimeout(async () => {
      try {
        const res = await scheduler.previewSchedule({ job: { trigger: triggerOf(draft) }, count: 5 });
        if (!stale) {
          setTimes(res.times);
          setError(undefined);
        }
      } catch (err) {
        if (!stale) setError(err);
      }
    }, 300);
    return () => {
      stale = true;
      clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  if (draft.kind === "event") return <p class="muted">An event job runs when its event is triggered.</p>;
  return (
    <div class="preview" aria-live="polite">
      <h3>Next runs ({viewerZone})</h3>
      {error !== undefined ? (
        <ErrorBox error={error} title="Not a valid schedule" />
      ) : (
        <ol>
          {(times ?? []).map((t) => (
            <li key={formatTime(t, "UTC")}>{formatDate(timestampDate(t))}</li>
          ))}
        </ol>
      )}
    </div>
  );
}
