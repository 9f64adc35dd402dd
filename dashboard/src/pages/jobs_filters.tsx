// The jobs list's filters: every one is sent to ListJobs, none applied here.
import { HealthState, JobStatus, JobType } from "@gen/cronstream/v1/job_pb.js";
import { useState } from "preact/hooks";
import { enumLabel } from "../format";

export interface JobFilters {
  status: JobStatus;
  type: JobType;
  health: HealthState;
  tag: string;
  handler: string;
  text: string;
}

export const noFilters: JobFilters = {
  status: JobStatus.UNSPECIFIED,
  type: JobType.UNSPECIFIED,
  health: HealthState.UNSPECIFIED,
  tag: "",
  handler: "",
  text: "",
};

function EnumSelect<E extends number>(props: {
  label: string;
  enumObject: Record<number, string>;
  values: E[];
  value: E;
  onChange: (v: E) => void;
}) {
  return (
    <label>
      {props.label}
      <select value={String(props.value)} onChange={(e) => props.onChange(Number(e.currentTarget.value) as E)}>
        <option value="0">Any</option>
        {props.values.map((v) => (
          <option key={v} value={String(v)}>
            {enumLabel(props.enumObject, v)}
          </option>
        ))}
      </select>
    </label>
  );
}

const statuses = [
  JobStatus.ACTIVE,
  JobStatus.PAUSED,
  JobStatus.PENDING,
  JobStatus.COMPLETED,
  JobStatus.FAILED,
  JobStatus.CANCELLED,
];
const types = [JobType.CRON, JobType.RECURRING, JobType.ONE_TIME, JobType.EVENT];
const healths = [
  HealthState.HEALTHY,
  HealthState.LATE,
  HealthState.MISSED,
  HealthState.OVERRUNNING,
  HealthState.FAILING,
];

/** The filter form; text fields apply on submit, selects at once. */
export function FiltersForm({ value, onChange }: { value: JobFilters; onChange: (f: JobFilters) => void }) {
  const [draft, setDraft] = useState(value);
  const set = (patch: Partial<JobFilters>, apply: boolean) => {
    const next = { ...draft, ...patch };
    setDraft(next);
    if (apply) onChange(next);
  };
  return (
    <form
      class="filters"
      role="search"
      aria-label="Filter jobs"
      onSubmit={(e) => {
        e.preventDefault();
        onChange(draft);
      }}
    >
      <label>
        Search
        <input
          type="search"
          placeholder="name or id"
          value={draft.text}
          onInput={(e) => set({ text: e.currentTarget.value }, false)}
        />
      </label>
      <EnumSelect label="Status" enumObject={JobStatus} values={statuses} value={draft.status} onChange={(v) => set({ status: v }, true)} />
      <EnumSelect label="Type" enumObject={JobType} values={types} value={draft.type} onChange={(v) => set({ type: v }, true)} />
      <EnumSelect label="Health" enumObject={HealthState} values={healths} value={draft.health} onChange={(v) => set({ health: v }, true)} />
      <label>
        Tag
        <input value={draft.tag} onInput={(e) => set({ tag: e.currentTarget.value }, false)} />
      </label>
      <label>
        Handler
        <input value={draft.handler} onInput={(e) => set({ handler: e.currentTarget.value }, false)} />
      </label>
      <button type="submit">Apply filters</button>
      <button
        type="button"
        onClick={() => {
          setDraft(noFilters);
          onChange(noFilters);
        }}
      >
        Clear
      </button>
    </form>
  );
}
