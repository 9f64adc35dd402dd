// The dashboard in Firefox: Debian's stock firefox-esr, headless, driven by
// Puppeteer over WebDriver BiDi (Playwright's Firefox needs Playwright's own
// patched build). tests/e2e/test_dashboard_firefox.py runs it against a real
// server and worker; it lives here, beside the dashboard's node_modules, so
// `import "puppeteer-core"` resolves without any path tricks.
//
//   CRONSTREAM_API_KEY=<key> node e2e/firefox.mjs --scenario wrong-key \
//     --url http://127.0.0.1:8080 --profile /tmp/p --expect-alert "Could not sign in"
//   CRONSTREAM_API_KEY=<key> node e2e/firefox.mjs --scenario job-lifecycle \
//     --url http://127.0.0.1:8080 --profile /tmp/p --job '{"name": ...}' \
//     --expect-spec "Every 2 seconds, Europe/Berlin" --expect-log "hello" --expect-result '"greeted"'
//
// Prints one JSON line of what it saw; on any failure prints which step failed
// and why on stderr, and exits 1 (2 when the whole run outlives --deadline-ms).
// The selectors are test_dashboard.py's: roles and accessible names, labels.

import { parseArgs } from "node:util";
import puppeteer from "puppeteer-core";

const OPTIONS = {
  scenario: { type: "string" },
  url: { type: "string" },
  profile: { type: "string" },
  firefox: { type: "string", default: "/usr/bin/firefox-esr" },
  "wait-ms": { type: "string", default: "15000" },
  "deadline-ms": { type: "string", default: "50000" },
  "expect-alert": { type: "string", multiple: true, default: [] },
  job: { type: "string" },
  "expect-spec": { type: "string" },
  "expect-log": { type: "string" },
  "expect-result": { type: "string" },
};
const SCENARIOS = { "wrong-key": wrongKey, "job-lifecycle": jobLifecycle };

const args = parseArgs({ options: OPTIONS, strict: true }).values;
const key = process.env.CRONSTREAM_API_KEY ?? "";
// Each wait's bound, as test_dashboard.py's: a poll is every 2 s.
const waitMs = Number(args["wait-ms"]);
let step = "starting";

function fail(message, code = 1) {
  process.stderr.write(`firefox.mjs: ${args.scenario ?? "?"}: at "${step}": ${message}\n`);
  process.exit(code);
}

function required(name) {
  if (!args[name]) fail(`--${name} is required`);
  return args[name];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Playwright's get_by_role(role, name=...) and get_by_label(...), for Puppeteer.
const byRole = (role, name) => `::-p-aria([name=${JSON.stringify(name)}][role=${JSON.stringify(role)}])`;
// BiDi's accessibility locator matches whole names only, where Playwright's
// get_by_role matches a part: for "Execution <id>", the heading's start.
const headingStarting = (text) =>
  `::-p-xpath(//*[self::h1 or self::h2][starts-with(normalize-space(.), ${JSON.stringify(text)})])`;
// A control inside its <label>, found by the label's own text (the dashboard's
// form shape), or an element with that aria-label: what get_by_label finds.
const byLabel = (text) => {
  const t = JSON.stringify(text);
  const control = "*[self::input or self::textarea or self::select]";
  return `::-p-xpath(//label[normalize-space(text()[1])=${t}]/${control} | //*[@aria-label=${t}])`;
};

/** Waits until the element `selector` finds holds every text in `wanted`; returns its text. */
async function textOf(page, selector, wanted) {
  const deadline = Date.now() + waitMs;
  let seen = "(no such element)";
  for (;;) {
    const element = await page.$(selector);
    if (element) {
      // The element may be re-rendered under us: read it again on the next turn.
      seen = await element.evaluate((e) => e.textContent ?? "").catch(() => seen);
      await element.dispose();
      if (wanted.every((w) => seen.includes(w))) return seen;
    }
    if (Date.now() > deadline) {
      throw new Error(`${selector} should hold ${JSON.stringify(wanted)}, shows ${JSON.stringify(seen.slice(0, 400))}`);
    }
    await sleep(100);
  }
}

async function signIn(page, url) {
  step = "sign in";
  await page.goto(url);
  await page.locator(byLabel("API key")).fill(key);
  await page.locator(byRole("button", "Sign in")).click();
}

async function wrongKey(page) {
  await signIn(page, required("url"));
  step = "the alert shows the server's message";
  const alert = await textOf(page, '[role="alert"]', args["expect-alert"]);
  return {
    alert: alert.trim(),
    sessionStorageLength: await page.evaluate(() => sessionStorage.length),
    url: page.url(),
  };
}

async function fillJobForm(page, job) {
  step = "fill the new job form";
  await page.locator(byRole("link", "New job")).click();
  await page.locator(byLabel("Name")).fill(job.name);
  await page.locator(byLabel("Handler")).fill(job.handler);
  await page.locator(byLabel("Cron expression")).fill(job.cron);
  await page.locator(byLabel("Time zone")).fill(job.timezone);
  await page.locator(byLabel("Payload (JSON)")).fill(JSON.stringify(job.payload));
  await page.locator(byRole("button", "Create job")).click();
}

async function jobLifecycle(page) {
  const job = JSON.parse(required("job"));
  await signIn(page, required("url"));
  step = "the jobs page";
  await page.locator(byRole("heading", "Jobs")).wait();
  const urlAfterSignIn = page.url();
  await fillJobForm(page, job);

  step = "the job page";
  await page.locator(byRole("heading", job.name)).wait();
  const spec = await textOf(page, "dl.spec", [required("expect-spec")]);
  const jobId = page.url().split("/").pop();

  step = "its first execution appears without a reload";
  // A mark that a reload would wipe: the execution must come by polling.
  await page.evaluate(() => { window.__notReloaded = true; });
  const executions = byRole("table", "Executions");
  await textOf(page, executions, ["Success"]);
  const notReloaded = await page.evaluate(() => window.__notReloaded === true);

  step = "open the execution";
  const links = await (await page.$(executions)).$$("a[href]");
  await links.at(-1).click();
  await page.locator(headingStarting("Execution ")).wait();
  step = "its logs and result";
  const logs = await textOf(page, byRole("table", "Logs"), [required("expect-log")]);
  const result = await textOf(page, byLabel("Result"), [required("expect-result")]);

  step = "pause the job";
  await page.locator(byRole("link", "← Job")).click();
  await page.locator(byRole("button", "Pause")).click();
  const pausedSpec = await textOf(page, "dl.spec", ["Paused"]);
  return { urlAfterSignIn, jobId, spec, notReloaded, logs, result, pausedSpec };
}

async function launch() {
  return puppeteer.launch({
    browser: "firefox",
    executablePath: args.firefox,
    headless: true,
    userDataDir: required("profile"),
    defaultViewport: { width: 1280, height: 800 },
    // A viewer zone unlike the jobs' own, as test_dashboard.py's.
    env: { ...process.env, TZ: "America/New_York" },
    // Loopback only: no proxy, whatever the environment says.
    extraPrefsFirefox: { "network.proxy.type": 0 },
  });
}

async function main() {
  const scenario = SCENARIOS[required("scenario")];
  if (!scenario) fail(`--scenario must be one of ${Object.keys(SCENARIOS).join(", ")}`);
  if (!key) fail("CRONSTREAM_API_KEY is not set");
  let browser;
  let current;
  const deadline = setTimeout(async () => {
    await Promise.race([browser?.close(), sleep(5_000)]);
    fail(`gave up after ${args["deadline-ms"]} ms`, 2);
  }, Number(args["deadline-ms"]));
  try {
    step = "launch firefox";
    browser = await launch();
    const page = await browser.newPage();
    page.setDefaultTimeout(waitMs);
    current = page;
    const seen = await scenario(page);
    process.stdout.write(`${JSON.stringify({ scenario: args.scenario, browser: await browser.version(), ...seen })}\n`);
  } catch (err) {
    const where = current ? ` (page ${current.url()})` : "";
    await Promise.race([browser?.close(), sleep(5_000)]);
    fail(`${err instanceof Error ? err.message : String(err)}${where}`);
  }
  clearTimeout(deadline);
  await browser.close();
}

await main();
