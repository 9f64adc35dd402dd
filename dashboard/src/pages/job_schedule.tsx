// The next 20 instants of a job from PreviewSchedule, with the marks of the
// zone's clock changes (a shifted wall time, a repeated hour).
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Job } from "@gen/cronstream/v1/job_pb.js";
import type { ScheduledInstant } from "@gen/cronstream/v1/preview_pb.js";
import { scheduler } from "../api";
import { formatOffset, formatTime, jobZone, viewerZone } from "../format";
import { ErrorBox } from "../ui/errors";
import { useCall } from "../ui/hooks";

function Mark({ instant }: { instant: ScheduledInstant }) {
  if (instant.shifted) {
    return <span class="badge warn">clock jumped: {instant.scheduledWallTime} moved here</span>;
  }
  if (instant.repeatedHour) return <span class="badge warn">repeated hour</span>;
  return null;
}

export function NextInstants({ job }: { job: Job }) {
  const hasSchedule = job.trigger.case !== "event" && job.nextRun !== undefined;
  // Asked again when the trigger or the next run changes (an edit, a resume).
  const key = `${JSON.stringify(job.trigger.value, (_k, v) => (typeof v === "bigint" ? String(v) : v))}|${job.nextRun ? timestampMs(job.nextRun) : ""}`;
  const preview = useCall(
    async () => (hasSchedule ? await scheduler.previewSchedule({ jobId: job.id, count: 20 }) : undefined),
    [job.id, key],
  );
  const zone = jobZone(job);
  return (
    <section>
      <h2>Next 20 runs</h2>
      {!hasSchedule && <p class="muted">No upcoming run.</p>}
      <ErrorBox error={preview.error} title="Could not preview the schedule" />
      {preview.data && (
        <>
          <table class="grid compact" aria-label="Next runs">
            <thead>
              <tr>
                <th scope="col">{viewerZone}</th>
                <th scope="col">{zone}</th>
                <th scope="col">Clock</th>
              </tr>
            </thead>
            <tbody>
              {preview.data.instants.map((i) => (
                <tr key={i.localTime}>
                  <td>{formatTime(i.time)}</td>
                  <td>
                    {i.localTime.replace("T", " ").slice(0, 19)} <span class="muted">{formatOffset(i.utcOffsetSeconds)}</span>
                  </td>
                  <td>
                    <Mark instant={i} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {preview.data.summary?.clockChanges.map((c) => (
            <p key={formatTime(c.at, "UTC")} class="note">
              Clock change at {formatTime(c.at)}: {formatOffset(c.offsetBeforeSeconds)} → {formatOffset(c.offsetAfterSeconds)}
              {c.skippedWallTimes.length > 0 && `; not fired: ${c.skippedWallTimes.join(", ")}`}
            </p>
          ))}
        </>
      )}
    </section>
  );
}
