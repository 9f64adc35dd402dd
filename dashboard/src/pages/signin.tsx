// Sign in with a platform key, or with the admin key and then a platform.
import type { Platform } from "@gen/cronstream/v1/admin_service_pb.js";
import { useState } from "preact/hooks";
import { clientsFor } from "../api";
import { saveSession, type Session } from "../session";
import { ErrorBox, isUnauthenticated } from "../ui/errors";

/**
 * Which kind of key this is: a platform key answers SchedulerService, the
 * admin key answers AdminService. Throws the scheduler's error (its
 * UNAUTHENTICATED message) when neither accepts it.
 */
async function identify(key: string): Promise<{ admin: false } | { admin: true; platforms: Platform[] }> {
  const { scheduler, admin } = clientsFor({ key, admin: false });
  try {
    await scheduler.listJobs({ pageSize: 1 });
    return { admin: false };
  } catch (err) {
    if (!isUnauthenticated(err)) throw err;
    try {
      const res = await admin.listPlatforms({ pageSize: 1000 });
      return { admin: true, platforms: res.platforms };
    } catch {
      throw err;
    }
  }
}

function PlatformPicker({ platforms, onPick }: { platforms: Platform[]; onPick: (p: Platform) => void }) {
  const [chosen, setChosen] = useState(platforms[0]?.id ?? "");
  if (platforms.length === 0) return <p role="alert">The admin key works, but there is no platform yet.</p>;
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        const p = platforms.find((x) => x.id === chosen);
        if (p) onPick(p);
      }}
    >
      <label>
        Platform
        <select value={chosen} onChange={(e) => setChosen(e.currentTarget.value)}>
          {platforms.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </select>
      </label>
      <button type="submit">Continue</button>
    </form>
  );
}

export function SignInPage({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const [platforms, setPlatforms] = useState<Platform[] | undefined>(undefined);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const who = await identify(key.trim());
      if (!who.admin) {
        const session: Session = { key: key.trim(), admin: false };
        saveSession(session);
        onSignedIn(session);
      } else {
        setPlatforms(who.platforms);
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const pick = (p: Platform) => {
    const session: Session = { key: key.trim(), admin: true, platformId: p.id, platformName: p.name };
    saveSession(session);
    onSignedIn(session);
  };

  return (
    <main class="signin">
      <h1>Sign in to Cronstream</h1>
      {platforms === undefined ? (
        <form onSubmit={submit}>
          <label>
            API key
            <input
              type="password"
              autocomplete="off"
              required
              value={key}
              onInput={(e) => setKey(e.currentTarget.value)}
            />
          </label>
          <button type="submit" disabled={busy || key.trim() === ""}>
            Sign in
          </button>
          <p class="muted">
            A platform key, or the admin key (then pick a platform). It is kept in this tab's session storage only.
          </p>
        </form>
      ) : (
        <PlatformPicker platforms={platforms} onPick={pick} />
      )}
      <ErrorBox error={error} title="Could not sign in" />
    </main>
  );
}
