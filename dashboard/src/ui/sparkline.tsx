// Recent runs as small bars, oldest left: height by duration, colour by
// outcome. Plain SVG: a page draws up to a hundred of them, which a canvas
// chart each would make slow.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ExecutionStatus } from "@gen/cronstream/v1/execution_pb.js";
import type { RecentRun } from "@gen/cronstream/v1/insight_pb.js";
import { durationMs, enumLabel, formatDuration } from "../format";

const BAR = 5;
const GAP = 1;
const HEIGHT = 20;

export function outcomeClass(status: ExecutionStatus): string {
  switch (status) {
    case ExecutionStatus.SUCCESS:
      return "ok";
    case ExecutionStatus.FAILED:
    case ExecutionStatus.TIMEOUT:
      return "bad";
    case ExecutionStatus.RUNNING:
    case ExecutionStatus.PENDING:
    case ExecutionStatus.WAITING:
      return "live";
    default:
      return "muted";
  }
}

export function Sparkline({ runs }: { runs: RecentRun[] }) {
  if (runs.length === 0) return <span class="muted">no runs</span>;
  const ordered = [...runs].sort((a, b) => timestampMs(a.scheduledAt!) - timestampMs(b.scheduledAt!));
  const longest = Math.max(1, ...ordered.map((r) => durationMs(r.duration) ?? 0));
  const ok = ordered.filter((r) => r.status === ExecutionStatus.SUCCESS).length;
  const label = `${ordered.length} recent runs, ${ok} succeeded`;
  return (
    <svg class="sparkline" width={ordered.length * (BAR + GAP)} height={HEIGHT} role="img" aria-label={label}>
      {ordered.map((r, i) => {
        const ms = durationMs(r.duration);
        const h = ms === undefined ? 3 : Math.max(3, Math.round((ms / longest) * HEIGHT));
        return (
          <rect key={r.executionId} class={outcomeClass(r.status)} x={i * (BAR + GAP)} y={HEIGHT - h} width={BAR} height={h}>
            <title>{`${enumLabel(ExecutionStatus, r.status)}, ${formatDuration(ms)}`}</title>
          </rect>
        );
      })}
    </svg>
  );
}
