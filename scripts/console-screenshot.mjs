// docs/console.png: the web console's page of a finished run (facts, timeline,
// transcript), taken in headless Chromium from a fresh demo stack. `make screenshot`.
//   BATON_BIN_DIR=build/bin node scripts/console-screenshot.mjs [OUT.png]
import { join, resolve } from "node:path";
import { signIn, sourceDir, withStackAndBrowser } from "../tests/console/browser/stack.mjs";

const out = resolve(process.argv[2] || join(sourceDir, "docs/console.png"));
await withStackAndBrowser({ watchdogMs: 300000, prefix: "baton-console-shot-" }, async (stack, browser) => {
  await stack.cli("agents", "put", join(sourceDir, "examples/agents/assistant.json"));
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 1080 });
  await signIn(page, stack, stack.adminKey);
  await page.goto(`${stack.url}/agents/assistant`);
  await page.waitForSelector('[data-testid="start-run-input"]');
  // The simulator's canned agent: each tool once, each answer after 400 ms, so the
  // timeline has something to show.
  await page.type('[data-testid="start-run-input"]', "What is 17 + 25? Also tell me the time. [sim sleep_ms=400]");
  await page.type('[data-testid="start-run-labels"]', "team=support, channel=console");
  await page.click('[data-testid="start-run-submit"]');
  await page.waitForSelector('[data-testid="run-state"][data-state="SUCCEEDED"]', { timeout: 120000 });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="tool-result"]').length >= 3, { timeout: 60000 });
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
});
