// Who the browser signed in as. Kept in sessionStorage only: it lives as long
// as the tab, is never put in a URL, and is not shared with other tabs.

/** A signed-in key, and for the admin key the platform it acts as. */
export interface Session {
  key: string;
  /** True for the admin key, which must pick a platform to see jobs. */
  admin: boolean;
  /** The platform the admin key acts as (sent as x-cronstream-platform). */
  platformId?: string;
  platformName?: string;
}

const STORAGE_KEY = "cronstream.session";

export function loadSession(): Session | undefined {
  const raw = sessionStorage.getItem(STORAGE_KEY);
  if (raw === null) return undefined;
  try {
    const parsed = JSON.parse(raw) as Session;
    return typeof parsed.key === "string" && parsed.key !== "" ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
}

export function clearSession(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}
