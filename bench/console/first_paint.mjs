// The web console's runs page with 10,000 runs (issue 14: first paint <= 1 s on this
// machine with the stack idle). Not a test: `make bench-console` runs it and
// docs/PERFORMANCE.md ("Web console: the runs page at 10,000 runs") has the method and
// the figures.
//
//   node bench/console/first_paint.mjs [--runs=10000] [--loads=20] [--out=FILE]
//
// Starts a stack (`baton up`, as tests/console/browser does), creates the runs through
// the console's HTTP API (CreateRun with an Authorization header, 32 at a time) for an
// agent with no tools whose every run is one model call, waits until all have
// succeeded (the stack is idle then), signs in once in headless Chromium, and loads the
// runs page --loads times with the browser cache off (each load fetches index.html,
// app.js and app.css again). Per load: first-contentful-paint (the Paint Timing API),
// the time until the first row of the runs table is in the page (a MutationObserver
// installed before the page's scripts run), and the ListRuns and CountRuns calls'
// durations (Resource Timing). Prints the medians and p90s, and writes them as JSON.
import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { signIn, waitFor, withStackAndBrowser } from "../../tests/console/browser/stack.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=")));
const RUNS = Number(args.runs || 10000);
const LOADS = Number(args.loads || 20);
const OUT = args.out || resolve(here, "../results/console_first_paint.json");
const PARALLEL = 32;

let stack;

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}
const ms = (v) => `${v.toFixed(0)} ms`;

async function countSucceeded() {
  const { counts = [] } = await stack.api("RunService", "CountRuns", {});
  return Number(counts.find((c) => c.state === "SUCCEEDED")?.count || 0);
}

await withStackAndBrowser({ watchdogMs: 3600000, workers: 2, concurrency: 32, prefix: "baton-console-bench-" }, async (started, browser) => {
  stack = started;
  await stack.putAgent({ name: "bench-noop", model: "claude-haiku-4-5", maxSteps: 1, maxTokens: 64 });

  const t0 = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < RUNS) {
      const i = next++;
      await stack.api("RunService", "CreateRun", {
        agentName: "bench-noop", input: `run ${i} [sim steps=1]`, labels: { bench: "console", batch: String(i % 10) },
      });
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  const created = (Date.now() - t0) / 1000;
  console.log(`created ${RUNS} runs in ${created.toFixed(1)} s (${(RUNS / created).toFixed(0)}/s)`);
  await waitFor(`${RUNS} runs to succeed`, async () => (await countSucceeded()) >= RUNS, { timeoutMs: 1800000, intervalMs: 2000 });
  console.log(`all succeeded after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  await signIn(page, stack, stack.adminKey);
  await page.waitForSelector('[data-testid="run-row"]', { timeout: 60000 });
  await page.setCacheEnabled(false);
  await page.evaluateOnNewDocument(() => {
    const seen = () => {
      if (!window.__firstRowMs && document.querySelector('[data-testid="run-row"]')) window.__firstRowMs = performance.now();
    };
    new MutationObserver(seen).observe(document, { childList: true, subtree: true });
  });

  const loads = [];
  for (let i = 0; i < LOADS + 2; i++) {
    await page.goto(`${stack.url}/`, { waitUntil: "load" });
    await page.waitForFunction(() => window.__firstRowMs && performance.getEntriesByName("first-contentful-paint").length &&
      Number(document.querySelector('[data-testid="runs-count-SUCCEEDED"]')?.dataset.count) > 0, { timeout: 60000 });
    const m = await page.evaluate(() => {
      const api = (name) => performance.getEntriesByType("resource").find((r) => r.name.endsWith(`/RunService/${name}`))?.duration || 0;
      return {
        fcp: performance.getEntriesByName("first-contentful-paint")[0].startTime,
        firstRow: window.__firstRowMs,
        rows: document.querySelectorAll('[data-testid="run-row"]').length,
        listRuns: api("ListRuns"),
        countRuns: api("CountRuns"),
        total: Number(document.querySelector('[data-testid="runs-count-ALL"] .count-n')?.textContent.replace(/,/g, "")),
      };
    });
    if (i >= 2) loads.push(m);  // the first two warm the processes up
  }
  const pick = (k) => loads.map((l) => l[k]);
  const result = {
    runs: RUNS,
    loads: LOADS,
    rows_per_page: loads[0].rows,
    total_shown: loads[0].total,
    median_ms: Object.fromEntries(["fcp", "firstRow", "listRuns", "countRuns"].map((k) => [k, Math.round(quantile(pick(k), 0.5))])),
    p90_ms: Object.fromEntries(["fcp", "firstRow", "listRuns", "countRuns"].map((k) => [k, Math.round(quantile(pick(k), 0.9))])),
    create_runs_per_second: Math.round(RUNS / created),
  };
  console.log(`runs page over ${LOADS} loads (${result.rows_per_page} rows shown, counts say ${result.total_shown} runs):`);
  console.log(`  first contentful paint  median ${ms(result.median_ms.fcp)}, p90 ${ms(result.p90_ms.fcp)}`);
  console.log(`  first table row         median ${ms(result.median_ms.firstRow)}, p90 ${ms(result.p90_ms.firstRow)}`);
  console.log(`  ListRuns (page of 50)   median ${ms(result.median_ms.listRuns)}, p90 ${ms(result.p90_ms.listRuns)}`);
  console.log(`  CountRuns               median ${ms(result.median_ms.countRuns)}, p90 ${ms(result.p90_ms.countRuns)}`);
  console.log(`  target: first row <= 1000 ms: ${result.median_ms.firstRow <= 1000 ? "met" : "MISSED"}`);
  writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${OUT}`);
});
