// Lateness and duration of a job's recent runs, by their instant (uPlot).
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { RecentRun } from "@gen/cronstream/v1/insight_pb.js";
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { durationMs, formatDate } from "../format";

function seriesOf(runs: RecentRun[]): uPlot.AlignedData {
  const ordered = [...runs]
    .filter((r) => r.scheduledAt !== undefined)
    .sort((a, b) => timestampMs(a.scheduledAt!) - timestampMs(b.scheduledAt!));
  const seconds = (ms: number | undefined) => (ms === undefined ? null : ms / 1000);
  return [
    ordered.map((r) => timestampMs(r.scheduledAt!) / 1000),
    ordered.map((r) => seconds(durationMs(r.lateness))),
    ordered.map((r) => seconds(durationMs(r.duration))),
  ];
}

function options(width: number): uPlot.Options {
  return {
    width,
    height: 220,
    legend: { show: true },
    scales: { x: { time: true } },
    series: [
      { label: "Instant", value: (_u, v) => (v === null ? "—" : formatDate(new Date(v * 1000))) },
      { label: "Lateness (s)", stroke: "#c77c02", width: 2, points: { show: true } },
      { label: "Duration (s)", stroke: "#2563eb", width: 2, points: { show: true } },
    ],
    axes: [{}, { label: "seconds" }],
  };
}

export function RunsChart({ runs }: { runs: RecentRun[] }) {
  const box = useRef<HTMLDivElement>(null);
  const key = runs.map((r) => `${r.executionId}:${r.status}`).join(",");
  useEffect(() => {
    const el = box.current;
    if (el === null || runs.length === 0) return;
    const plot = new uPlot(options(Math.max(320, el.clientWidth || 720)), seriesOf(runs), el);
    return () => plot.destroy();
    // Redrawn only when the runs change, not at each poll.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  if (runs.length === 0) return <p class="muted">No finished runs yet.</p>;
  return <div class="chart" ref={box} role="img" aria-label="Lateness and duration of recent runs" />;
}
