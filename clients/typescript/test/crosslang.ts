// One side of the cross-language test (tests/e2e/test_cross_language.py):
//
//     node dist/test/crosslang.js ADDRESS API_KEY
//
// Creates one one-time job for each worker language (handler
// "crosslang.<language>", payload {origin: "typescript", target: <language>}),
// prints a line per job, then works "crosslang.typescript" until it has run
// four executions, one created by each language, and stops gracefully. The
// Python, Go and Java clients carry the same program.
import { createClient, NonRetryableError, Worker } from "../src/index.js";

const language = "typescript";
const languages = ["python", "go", "typescript", "java"];
const deadlineMs = 120_000; // the test waits longer, so a hang fails here first

interface Greeting {
  origin: string;
  target: string;
}

function greeting(payload: unknown): Greeting {
  const { origin, target } = (payload ?? {}) as Record<string, unknown>;
  if (typeof origin !== "string" || typeof target !== "string") {
    throw new TypeError(`not a greeting: ${JSON.stringify(payload)}`);
  }
  return { origin, target };
}

const [address, apiKey] = process.argv.slice(2);
if (!address || !apiKey) throw new Error("usage: crosslang ADDRESS API_KEY");
const client = createClient({ address, apiKey, tls: false });

for (const target of languages) {
  const job = await client.createJob({
    name: `crosslang ${language} to ${target}`,
    handlerName: `crosslang.${target}`,
    at: new Date(Date.now() + 1000),
    payload: { origin: language, target },
  });
  console.log(`created ${job.id} ${job.status} ${job.nextRun?.toISOString()}`);
}

const stop = new AbortController();
const outOfTime = setTimeout(() => {
  console.error(`out of time after ${origins.join(",")}`);
  process.exit(1);
}, deadlineMs);
const origins: string[] = [];
const worker = new Worker(client, { workerId: `crosslang-${language}` });
worker.handler<Greeting, { origin: string; worker: string }>(
  `crosslang.${language}`,
  async (run, input) => {
    if (input.target !== language) throw new NonRetryableError(`meant for ${input.target}`);
    origins.push(input.origin);
    console.log(`worked ${run.executionId} from ${input.origin}`);
    if (origins.length === languages.length) stop.abort(); // run() resolves once this result is acknowledged
    return { origin: input.origin, worker: language };
  },
  { validate: greeting },
);
await worker.run(stop.signal);
clearTimeout(outOfTime);
client.close();
console.log(`done: ${[...origins].sort().join(",")}`);
