// Hash routes (#/jobs/<id>): the server serves files only, so every page
// lives behind one index.html.
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { page: "jobs" }
  | { page: "new-job" }
  | { page: "job"; id: string }
  | { page: "execution"; id: string }
  | { page: "workers" }
  | { page: "alerts" };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter((p) => p !== "").map(decodeURIComponent);
  switch (parts[0]) {
    case "jobs":
      if (parts[1] === "new") return { page: "new-job" };
      return parts[1] !== undefined ? { page: "job", id: parts[1] } : { page: "jobs" };
    case "executions":
      return parts[1] !== undefined ? { page: "execution", id: parts[1] } : { page: "jobs" };
    case "workers":
      return { page: "workers" };
    case "alerts":
      return { page: "alerts" };
    default:
      return { page: "jobs" };
  }
}

export const href = {
  jobs: () => "#/jobs",
  newJob: () => "#/jobs/new",
  job: (id: string) => `#/jobs/${encodeURIComponent(id)}`,
  execution: (id: string) => `#/executions/${encodeURIComponent(id)}`,
  workers: () => "#/workers",
  alerts: () => "#/alerts",
};

export function navigate(to: string): void {
  location.hash = to;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
