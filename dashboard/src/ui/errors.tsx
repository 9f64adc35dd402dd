// A failed call shown in the page: its gRPC code, its message and the fields
// the server named, never a blank screen.
import { Code, ConnectError } from "@connectrpc/connect";
import { fieldViolations } from "../../../clients/typescript/src/errors";

export interface ShownError {
  code: string;
  message: string;
  violations: { field: string; description: string }[];
}

/** What to show for anything a call threw. */
export function describeError(err: unknown): ShownError {
  if (err instanceof ConnectError) {
    return { code: Code[err.code] ?? String(err.code), message: err.rawMessage, violations: fieldViolations(err) };
  }
  return { code: "Error", message: err instanceof Error ? err.message : String(err), violations: [] };
}

export function isUnauthenticated(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Unauthenticated;
}

export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  if (error === undefined || error === null) return null;
  const e = describeError(error);
  return (
    <div class="error" role="alert">
      <strong>{title ?? "The call failed"}</strong>{" "}
      <span class="code">({e.code})</span>: {e.message}
      {e.violations.length > 0 && (
        <ul>
          {e.violations.map((v) => (
            <li key={v.field}>
              <code>{v.field}</code>: {v.description}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
