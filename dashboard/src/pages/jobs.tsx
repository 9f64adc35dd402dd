// Jobs: one page of ListJobs at a time (server-side filters and tokens only,
// so it reads the same at a million jobs), with their recent runs from ONE
// GetRecentRuns call per page, and bulk pause/resume.
import type { Job } from "@gen/cronstream/v1/job_pb.js";
import { HealthState, JobStatus } from "@gen/cronstream/v1/job_pb.js";
import type { JobRecentRuns } from "@gen/cronstream/v1/insight_pb.js";
import { ExecutionStatus } from "@gen/cronstream/v1/execution_pb.js";
import { useState } from "preact/hooks";
import { scheduler } from "../api";
import { enumLabel, formatTime, jobZone, scheduleWords, viewerZone } from "../format";
import { href } from "../router";
import { ErrorBox } from "../ui/errors";
import { useCall } from "../ui/hooks";
import { outcomeClass, Sparkline } from "../ui/sparkline";
import { BulkBar } from "./jobs_bulk";
import { FiltersForm, noFilters, type JobFilters } from "./jobs_filters";

const PAGE_SIZE = 50;

interface JobsPageData {
  jobs: Job[];
  nextToken: string;
  runs: Map<string, JobRecentRuns>;
  /** Why the recent runs are missing; the jobs still show. */
  runsError: unknown;
}

async function loadPage(filters: JobFilters, token: string): Promise<JobsPageData> {
  const res = await scheduler.listJobs({
    pageSize: PAGE_SIZE,
    pageToken: token,
    statuses: filters.status ? [filters.status] : [],
    types: filters.type ? [filters.type] : [],
    healths: filters.health ? [filters.health] : [],
    tags: filters.tag.trim() ? [filters.tag.trim()] : [],
    handlerName: filters.handler.trim(),
    text: filters.text.trim(),
  });
  const runs = new Map<string, JobRecentRuns>();
  let runsError: unknown = undefined;
  if (res.jobs.length > 0) {
    try {
      const recent = await scheduler.getRecentRuns({ jobIds: res.jobs.map((j) => j.id), limit: 20 });
      for (const r of recent.jobs) runs.set(r.jobId, r);
    } catch (err) {
      runsError = err;
    }
  }
  return { jobs: res.jobs, nextToken: res.nextPageToken, runs, runsError };
}

function LastOutcome({ runs }: { runs: JobRecentRuns | undefined }) {
  const last = runs?.runs[0];
  if (last === undefined) return <span class="muted">—</span>;
  return (
    <a class={`badge ${outcomeClass(last.status)}`} href={href.execution(last.executionId)}>
      {enumLabel(ExecutionStatus, last.status)}
    </a>
  );
}

function NextRun({ job }: { job: Job }) {
  if (job.nextRun === undefined) return <span class="muted">—</span>;
  const zone = jobZone(job);
  return (
    <>
      <span>{formatTime(job.nextRun)}</span>
      {zone !== viewerZone && (
        <span class="muted small">
          <br />
          {formatTime(job.nextRun, zone)} {zone}
        </span>
      )}
    </>
  );
}

function JobRow(props: { job: Job; runs: JobRecentRuns | undefined; selected: boolean; onSelect: (on: boolean) => void }) {
  const { job } = props;
  const health = job.health?.state ?? HealthState.UNSPECIFIED;
  return (
    <tr>
      <td>
        <input
          type="checkbox"
          aria-label={`Select ${job.name}`}
          checked={props.selected}
          onChange={(e) => props.onSelect(e.currentTarget.checked)}
        />
      </td>
      <td>
        <a href={href.job(job.id)}>{job.name}</a>
        <div class="muted small">{job.handlerName}</div>
      </td>
      <td>
        <span class={`badge status-${JobStatus[job.status]?.toLowerCase()}`}>{enumLabel(JobStatus, job.status)}</span>
        {health > HealthState.HEALTHY && <span class="badge bad">{enumLabel(HealthState, health)}</span>}
      </td>
      <td>{scheduleWords(job)}</td>
      <td>
        <NextRun job={job} />
      </td>
      <td>
        <LastOutcome runs={props.runs} />
      </td>
      <td>
        <Sparkline runs={props.runs?.runs ?? []} />
      </td>
    </tr>
  );
}

export function JobsPage() {
  const [filters, setFilters] = useState<JobFilters>(noFilters);
  // Tokens of the pages before the current one, to go back.
  const [tokens, setTokens] = useState<string[]>([]);
  const [token, setToken] = useState("");
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const page = useCall(() => loadPage(filters, token), [filters, token]);

  const applyFilters = (f: JobFilters) => {
    setFilters(f);
    setTokens([]);
    setToken("");
    setSelected(new Set());
  };
  const toggle = (id: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(id);
    else next.delete(id);
    setSelected(next);
  };
  const jobs = page.data?.jobs ?? [];

  return (
    <section>
      <div class="title-row">
        <h1>Jobs</h1>
        <a class="button" href={href.newJob()}>
          New job
        </a>
      </div>
      <FiltersForm value={filters} onChange={applyFilters} />
      <BulkBar selected={[...selected]} filters={filters} onDone={() => { setSelected(new Set()); page.reload(); }} />
      <ErrorBox error={page.error} title="Could not list jobs" />
      <ErrorBox error={page.data?.runsError} title="Could not load recent runs" />
      <table class="grid" aria-label="Jobs" aria-busy={page.loading}>
        <thead>
          <tr>
            <th scope="col">
              <span class="visually-hidden">Select</span>
            </th>
            <th scope="col">Name</th>
            <th scope="col">Status</th>
            <th scope="col">Schedule</th>
            <th scope="col">Next run ({viewerZone})</th>
            <th scope="col">Last outcome</th>
            <th scope="col">Recent runs</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => (
            <JobRow key={job.id} job={job} runs={page.data?.runs.get(job.id)} selected={selected.has(job.id)} onSelect={(on) => toggle(job.id, on)} />
          ))}
        </tbody>
      </table>
      {!page.loading && jobs.length === 0 && page.error === undefined && <p class="muted">No job matches.</p>}
      <div class="pager">
        <button type="button" disabled={tokens.length === 0} onClick={() => { setToken(tokens[tokens.length - 1] ?? ""); setTokens(tokens.slice(0, -1)); }}>
          Previous page
        </button>
        <button type="button" disabled={!page.data?.nextToken} onClick={() => { setTokens([...tokens, token]); setToken(page.data!.nextToken); }}>
          Next page
        </button>
      </div>
    </section>
  );
}
