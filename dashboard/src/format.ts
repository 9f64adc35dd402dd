// Words and numbers as the pages show them. Pure functions of their inputs.
import { timestampDate, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import { toString as cronInWords } from "cronstrue";
import type { Job } from "@gen/cronstream/v1/job_pb.js";

/** The viewer's own zone, as the browser reports it. */
export const viewerZone: string = Intl.DateTimeFormat().resolvedOptions().timeZone;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (f === undefined) {
    // ISO-like and 24-hour in every locale: times line up in columns and read
    // the same to every operator.
    f = new Intl.DateTimeFormat("sv-SE", {
      timeZone: zone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
    });
    formatters.set(zone, f);
  }
  return f;
}

/** "2026-12-06 14:30:00" in the zone (the viewer's by default); "—" when unset. */
export function formatTime(ts: Timestamp | undefined, zone: string = viewerZone): string {
  if (ts === undefined) return "—";
  return formatDate(timestampDate(ts), zone);
}

export function formatDate(date: Date, zone: string = viewerZone): string {
  try {
    return formatterFor(zone).format(date);
  } catch {
    return date.toISOString();
  }
}

/** The zone a job's times read in: its cron zone, else UTC. */
export function jobZone(job: Job): string {
  return job.trigger.case === "cron" ? job.trigger.value.timezone || "UTC" : "UTC";
}

/** Milliseconds of a Duration. */
export function durationMs(d: Duration | undefined): number | undefined {
  if (d === undefined) return undefined;
  return Number(d.seconds) * 1000 + Math.round(d.nanos / 1e6);
}

/** "850 ms", "12.5 s", "3 min 20 s", "2 h 5 min"; "—" when unset. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return "—";
  if (Math.abs(ms) < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (Math.abs(s) < 60) return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
  const whole = Math.round(s);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  return rest > 0 ? `${m} min ${rest} s` : `${m} min`;
}

/** An enum value's name in words: JobStatus.PAUSED -> "Paused". */
export function enumLabel(enumObject: Record<number, string>, value: number): string {
  const name = enumObject[value];
  if (name === undefined || name === "UNSPECIFIED") return "—";
  const words = name.toLowerCase().replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * A cron expression in words with its zone, e.g. "At 02:30, Europe/Berlin":
 * cronstrue's text with 24-hour times. An expression cronstrue cannot read is
 * shown as written (the server is the judge of what is valid).
 */
export function cronWords(expression: string, zone: string): string {
  let words: string;
  try {
    words = cronInWords(expression, { use24HourTimeFormat: true, verbose: false, throwExceptionOnParseError: true });
  } catch {
    words = expression;
  }
  return `${words}, ${zone || "UTC"}`;
}

/** A job's trigger in words, for every kind of trigger. */
export function scheduleWords(job: Job): string {
  const t = job.trigger;
  switch (t.case) {
    case "cron":
      return cronWords(t.value.expression, t.value.timezone);
    case "interval":
      return `Every ${formatDuration(durationMs(t.value.every))}`;
    case "once":
      return `Once, at ${formatTime(t.value.runAt, "UTC")} UTC`;
    case "event":
      return `On event "${t.value.eventName}"`;
    default:
      return "—";
  }
}

/** Pretty JSON of a payload or result; "—" when absent. */
export function prettyJson(value: unknown): string {
  if (value === undefined || value === null) return "—";
  return JSON.stringify(value, null, 2);
}

/** An offset in seconds as "+02:00". */
export function formatOffset(seconds: number): string {
  const sign = seconds < 0 ? "-" : "+";
  const abs = Math.abs(seconds);
  const h = String(Math.floor(abs / 3600)).padStart(2, "0");
  const m = String(Math.floor((abs % 3600) / 60)).padStart(2, "0");
  return `${sign}${h}:${m}`;
}
