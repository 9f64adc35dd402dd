// The shell: sign-in when there is no session, else the navigation and the
// page the hash names.
import { useState } from "preact/hooks";
import { href, useRoute, type Route } from "./router";
import { clearSession, loadSession, type Session } from "./session";
import { AlertsPage } from "./pages/alerts";
import { ExecutionPage } from "./pages/execution";
import { JobPage } from "./pages/job";
import { JobsPage } from "./pages/jobs";
import { NewJobPage } from "./pages/new_job";
import { SignInPage } from "./pages/signin";
import { WorkersPage } from "./pages/workers";

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "jobs":
      return <JobsPage />;
    case "new-job":
      return <NewJobPage />;
    case "job":
      return <JobPage key={route.id} id={route.id} />;
    case "execution":
      return <ExecutionPage key={route.id} id={route.id} />;
    case "workers":
      return <WorkersPage />;
    case "alerts":
      return <AlertsPage />;
  }
}

function Nav({ route, session, onSignOut }: { route: Route; session: Session; onSignOut: () => void }) {
  const current = (pages: Route["page"][]) => (pages.includes(route.page) ? "page" : undefined);
  return (
    <header class="top">
      <span class="brand">Cronstream</span>
      <nav aria-label="Main">
        <a href={href.jobs()} aria-current={current(["jobs", "new-job", "job", "execution"])}>
          Jobs
        </a>
        <a href={href.workers()} aria-current={current(["workers"])}>
          Workers
        </a>
        <a href={href.alerts()} aria-current={current(["alerts"])}>
          Alerts
        </a>
      </nav>
      <span class="who">
        {session.admin ? `Admin key, as ${session.platformName ?? session.platformId ?? "?"}` : "Platform key"}
      </span>
      <button type="button" onClick={onSignOut}>
        Sign out
      </button>
    </header>
  );
}

export function App() {
  const [session, setSession] = useState<Session | undefined>(() => loadSession());
  const route = useRoute();
  if (session === undefined || (session.admin && !session.platformId)) {
    return <SignInPage onSignedIn={setSession} />;
  }
  const signOut = () => {
    clearSession();
    setSession(undefined);
  };
  return (
    <>
      <Nav route={route} session={session} onSignOut={signOut} />
      <main>
        <Page route={route} />
      </main>
    </>
  );
}
