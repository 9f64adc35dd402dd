// What the server tells the page at /config.json (the HTTP port's own file).

export interface DashboardConfig {
  /** A trace viewer URL with {trace_id} in it, or null when none is set. */
  traceUrl: string | null;
}

let pending: Promise<DashboardConfig> | undefined;

/** The config, fetched once; a server without it means no trace links. */
export function loadConfig(): Promise<DashboardConfig> {
  pending ??= fetch("/config.json", { credentials: "omit" })
    .then(async (r) => (r.ok ? ((await r.json()) as Partial<DashboardConfig>) : {}))
    .then((c) => ({ traceUrl: typeof c.traceUrl === "string" ? c.traceUrl : null }))
    .catch(() => ({ traceUrl: null }));
  return pending;
}

/** The trace viewer's link for a trace id, or undefined without one. */
export function traceLink(config: DashboardConfig, traceId: string): string | undefined {
  if (config.traceUrl === null || traceId === "") return undefined;
  return config.traceUrl.split("{trace_id}").join(encodeURIComponent(traceId));
}
