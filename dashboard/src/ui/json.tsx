import { prettyJson } from "../format";

/** A JSON value, pretty-printed in a scrollable block. */
export function JsonBlock({ value, label }: { value: unknown; label: string }) {
  return (
    <pre class="json" aria-label={label} tabIndex={0}>
      {prettyJson(value)}
    </pre>
  );
}
