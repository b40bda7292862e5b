// The web console in a real browser (issue 14's acceptance): a real stack (`baton up`:
// orchestrator with --auth, a worker, the model simulator, baton-console) and Debian's
// headless Chromium driven by puppeteer-core. Signs in with the admin key, starts a run
// from the agent's form and watches its steps appear until it succeeds, reads the
// transcript and the text the model streams, decides approvals (an edit through the
// form made from the tool's schema, then an approve) and sees the run go on, watches a
// graph run's nodes change state and answers its human node, and with a reader's key
// sees no Cancel button and is refused (403) when it calls CancelRun anyway; forks a
// run and cancels one as an operator. Ends by itself: every wait has a deadline and a
// watchdog stops the stack.
import assert from "node:assert/strict";
import { join } from "node:path";
import { signIn as signInWith, sleep, sourceDir, waitFor, withStackAndBrowser } from "./stack.mjs";

const WAIT = 90000;  // generous: a loaded 2-core machine
let stack;

const sel = (id) => `[data-testid="${id}"]`;

async function signIn(page, key, role) {
  await signInWith(page, stack, key, { timeout: WAIT });
  await page.waitForFunction(
    (r) => [...document.querySelectorAll('[data-testid="role"]')].some((e) => e.textContent === r),
    { timeout: WAIT }, role);
}

async function runState(page) {
  return page.$eval(sel("run-state"), (e) => e.dataset.state).catch(() => "");
}

async function waitState(page, state) {
  await page.waitForFunction((s) => document.querySelector('[data-testid="run-state"]')?.dataset.state === s,
    { timeout: WAIT }, state);
}

async function startFromForm(page, path, input, labels = "") {
  await page.goto(`${stack.url}${path}`);
  await page.waitForSelector(sel("start-run-input"), { timeout: WAIT });
  await page.type(sel("start-run-input"), input);
  if (labels) await page.type(sel("start-run-labels"), labels);
  await page.click(sel("start-run-submit"));
  await page.waitForFunction(() => location.pathname.startsWith("/runs/"), { timeout: WAIT });
  await page.waitForSelector(sel("run-state"), { timeout: WAIT });
  return decodeURIComponent(new URL(page.url()).pathname.slice("/runs/".length));
}

async function approvalRow(page, runId) {
  await page.goto(`${stack.url}/approvals`);
  const row = `[data-testid="approval-row"][data-run-id="${runId}"]`;
  await page.waitForSelector(row, { timeout: WAIT });
  return row;
}

function step(name) {
  console.log(`--- ${name}`);
}

await withStackAndBrowser({ watchdogMs: 540000 }, async (started, browser) => {
  stack = started;
  await stack.putAgent({
    name: "console-stepper", model: "claude-sonnet-4-5", allowedTools: ["echo", "sum"], maxSteps: 10,
  });
  await stack.putAgent({
    name: "console-gated", model: "claude-sonnet-4-5", allowedTools: ["echo"], maxSteps: 6,
    approvals: [{ tools: ["echo"], timeoutSeconds: 3600 }],
  });
  await stack.cli("graphs", "put", join(sourceDir, "examples/graphs/triage.json"));
  const readerKey = await stack.createKey("rita", "reader");

  const admin = await browser.newPage();
  await admin.setViewport({ width: 1280, height: 900 });
  admin.on("pageerror", (e) => console.error(`page error: ${e.message}`));

  step("sign in with the admin key");
  await signIn(admin, stack.adminKey, "admin");
  // The key went only into the sign-in request: not in the URL, the page or its storage
  // (the session cookie is HttpOnly, so the page cannot read it either).
  const visible = await admin.evaluate(() =>
    location.href + JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie +
    document.documentElement.outerHTML);
  assert.ok(!visible.includes(stack.adminKey), "the key is visible to the page after sign-in");

  step("start a run from the agent's form and watch its steps appear");
  const runId = await startFromForm(admin, "/agents/console-stepper", "Add and echo [sim steps=4 sleep_ms=1000]", "suite=browser, case=steps");
  const samples = [];
  await waitFor("the run to succeed on its page", async () => {
    const s = await admin.evaluate(() => ({
      state: document.querySelector('[data-testid="run-state"]')?.dataset.state,
      rows: document.querySelectorAll('[data-testid="timeline-row"]').length,
    }));
    samples.push(s);
    return s.state === "SUCCEEDED";
  }, { timeoutMs: WAIT, intervalMs: 50 });
  const finalRows = await admin.$$eval(sel("timeline-row"), (rows) => rows.map((r) => r.dataset.kind));
  assert.equal(finalRows.filter((k) => k === "model").length, 4, `model calls in the timeline: ${finalRows}`);
  assert.equal(finalRows.filter((k) => k === "tool").length, 3, `tool calls in the timeline: ${finalRows}`);
  // Steps showed while the run went on, before it ended: the page is live.
  const before = samples.filter((s) => s.state !== "SUCCEEDED" && s.rows > 0);
  assert.ok(before.length > 0, `no step was shown before the run ended: ${JSON.stringify(samples.slice(-20))}`);
  assert.ok(Math.min(...before.map((s) => s.rows)) < finalRows.length, "the steps did not appear one by one");

  step("read its transcript");
  await admin.waitForFunction(() => document.querySelectorAll('[data-testid="tool-result"]').length === 3, { timeout: WAIT });
  const transcript = await admin.$eval(sel("transcript"), (e) => e.innerText);
  assert.match(transcript, /Add and echo/);
  assert.match(transcript, /tool call\s+echo/i);
  assert.match(transcript, /Done\. echo returned hello/);
  assert.equal(await admin.$$eval(sel("tool-use"), (e) => e.length), 3);
  assert.match(await admin.$eval(sel("run-output"), (e) => e.textContent), /^Done\./);

  step("fork it from the start: a new run that succeeds too");
  await admin.click(sel("fork-button"));
  await admin.click(sel("fork-submit"));
  await admin.waitForFunction((id) => location.pathname.startsWith("/runs/") && !location.pathname.endsWith(id.split("/").pop()),
    { timeout: WAIT }, runId);
  await waitState(admin, "SUCCEEDED");
  await admin.waitForSelector(sel("run-output"), { timeout: WAIT });
  assert.match(await admin.$eval(sel("run-output"), (e) => e.textContent), /^Done\./);

  step("the text the model streams shows as it comes");
  // A scripted answer whose stream events come 150 ms apart (docs/model-sim.md).
  const words = Array.from({ length: 30 }, (_, i) => `word${i}`).join(" ");
  const scripted = await fetch(`${stack.simUrl}/_sim/script`, {
    method: "POST", body: JSON.stringify({ replies: [{ match: "stream-me", content: words, event_delay_ms: 150 }] }),
  });
  assert.equal(scripted.status, 200);
  const streamed = await startFromForm(admin, "/agents/console-stepper", "Say something long [stream-me]");
  const partial = await admin.waitForFunction(() => {
    const live = document.querySelector('[data-testid="live-text"] .msg-text')?.textContent || "";
    return live.length > 0 && live;
  }, { timeout: WAIT, polling: 50 }).then((h) => h.jsonValue());
  assert.ok(words.startsWith(partial) && partial.length < words.length, `live text: ${partial}`);
  await waitState(admin, "SUCCEEDED");
  await admin.waitForFunction((w) => document.querySelector('[data-testid="transcript"]').innerText.includes(w) &&
    !document.querySelector('[data-testid="live-text"]'), { timeout: WAIT }, words);

  step("the runs page lists it, with counts by state");
  await admin.goto(`${stack.url}/`);
  await admin.waitForSelector(`[data-testid="run-row"][data-run-id="${runId}"][data-state="SUCCEEDED"]`, { timeout: WAIT });
  await admin.waitForFunction(() => Number(document.querySelector('[data-testid="runs-count-SUCCEEDED"]')?.dataset.count) >= 3, { timeout: WAIT });
  // Filtered by a label it carries: the run is listed and counted, the streamed run
  // (no labels) is not.
  await admin.type(sel("filter-label"), "case=steps");
  await admin.click(`form.filters button[type="submit"]`);
  await admin.waitForFunction((id, other) => {
    const rows = [...document.querySelectorAll('[data-testid="run-row"]')].map((r) => r.dataset.runId);
    return location.search.includes("label=") && rows.includes(id) && !rows.includes(other);
  }, { timeout: WAIT }, runId, streamed);
  await admin.waitForFunction(() => {
    const n = (s) => Number(document.querySelector(`[data-testid="runs-count-${s}"]`)?.dataset.count);
    return n("SUCCEEDED") >= 1 && n("SUCCEEDED") <= 2;  // the run, and its fork if forks keep labels
  }, { timeout: WAIT });

  step("edit a gated call's input through the schema form, approve the next, see the run go on");
  const gated = (await stack.cli("run", "--agent", "console-gated", "Echo twice [sim steps=3 tool=echo]")).trim().split("\n")[0];
  await admin.goto(`${stack.url}/runs/${gated}`);
  await waitState(admin, "WAITING");
  let row = await approvalRow(admin, gated);
  await admin.click(`${row} ${sel("edit-button")}`);
  await admin.waitForSelector(`${row} ${sel("field-text")}`, { timeout: WAIT });
  await admin.$eval(`${row} ${sel("field-text")}`, (e) => e.select());
  await admin.type(`${row} ${sel("field-text")}`, "edited in the console");
  await admin.click(`${row} ${sel("schema-submit")}`);
  // The run takes the edit, calls echo again, and waits for the second decision.
  await waitFor("the second approval", async () => {
    await admin.goto(`${stack.url}/approvals`);
    await admin.waitForSelector(sel("approvals-loaded"), { timeout: WAIT });
    const ids = await admin.$$eval(`[data-testid="approval-row"][data-run-id="${gated}"]`, (r) => r.map((e) => e.dataset.approvalId));
    return ids.length === 1 && ids[0].split(":")[1] !== "0" && ids;
  }, { timeoutMs: WAIT, intervalMs: 500 });
  row = `[data-testid="approval-row"][data-run-id="${gated}"]`;
  await admin.click(`${row} ${sel("approve-button")}`);
  await admin.waitForFunction((r) => !document.querySelector(`[data-testid="approval-row"][data-run-id="${r}"]`), { timeout: WAIT }, gated);
  await admin.waitForFunction(() => document.querySelectorAll('[data-testid="decided-by"]').length >= 2, { timeout: WAIT });
  await admin.goto(`${stack.url}/runs/${gated}`);
  await waitState(admin, "SUCCEEDED");
  await admin.waitForFunction(() => document.querySelectorAll('[data-testid="approval-decision"]').length === 2, { timeout: WAIT });
  const gatedText = await admin.$eval(sel("transcript"), (e) => e.innerText);
  assert.match(gatedText, /EDIT by /);
  assert.match(gatedText, /APPROVE by /);
  assert.match(gatedText, /edited in the console/);

  step("a graph run: nodes change state live; its human node is answered");
  const graphRun = await startFromForm(admin, "/graphs/triage", "My invoice is wrong, please refund me [sim sleep_ms=3000]");
  const routerStates = [];
  await waitFor("the router node to succeed", async () => {
    const s = await admin.$eval(sel("graph-node-router"), (e) => e.dataset.state).catch(() => "");
    if (s && routerStates[routerStates.length - 1] !== s) routerStates.push(s);
    return s === "SUCCEEDED";
  }, { timeoutMs: WAIT, intervalMs: 50 });
  assert.ok(routerStates.length >= 2 && routerStates.includes("RUNNING"), `router's states as seen: ${routerStates}`);
  await admin.waitForSelector('[data-testid="graph-node-approve_refund"][data-state="RUNNING"]', { timeout: WAIT });
  await admin.waitForSelector('[data-testid="graph-edge-router-approve_refund"][data-taken="true"]', { timeout: WAIT });
  await admin.waitForSelector('[data-testid="graph-node-technical"][data-state="SKIPPED"]', { timeout: WAIT });
  assert.equal(await admin.$eval(sel("graph-node-billing"), (e) => e.dataset.state), "PENDING");
  // The human node's question, answered from the approvals page; the graph goes on.
  row = await approvalRow(admin, graphRun);
  await admin.click(`${row} ${sel("approve-button")}`);
  await admin.waitForFunction((r) => !document.querySelector(`[data-testid="approval-row"][data-run-id="${r}"]`), { timeout: WAIT }, graphRun);
  await admin.goto(`${stack.url}/runs/${graphRun}`);
  const billingStates = [];
  await waitFor("the graph run to succeed", async () => {
    const s = await admin.$eval(sel("graph-node-billing"), (e) => e.dataset.state).catch(() => "");
    if (s && billingStates[billingStates.length - 1] !== s) billingStates.push(s);
    return (await runState(admin)) === "SUCCEEDED";
  }, { timeoutMs: WAIT, intervalMs: 50 });
  await admin.waitForSelector('[data-testid="graph-node-billing"][data-state="SUCCEEDED"]', { timeout: WAIT });
  await admin.waitForSelector('[data-testid="graph-edge-approve_refund-billing"][data-taken="true"]', { timeout: WAIT });
  console.log(`router: ${routerStates.join(" -> ")}; billing: ${billingStates.join(" -> ")}`);

  step("a reader: no Cancel button, and CancelRun through the gateway is refused");
  const waiting = (await stack.cli("run", "--agent", "console-gated", "Echo once [sim steps=2 tool=echo]")).trim().split("\n")[0];
  await admin.goto(`${stack.url}/runs/${waiting}`);
  await waitState(admin, "WAITING");
  await admin.waitForSelector(sel("cancel-button"), { timeout: WAIT });  // an operator sees it
  const context = await browser.createBrowserContext();
  const reader = await context.newPage();
  await signIn(reader, readerKey, "reader");
  await reader.goto(`${stack.url}/runs/${waiting}`);
  await waitState(reader, "WAITING");
  await reader.waitForSelector(sel("transcript"), { timeout: WAIT });
  assert.equal(await reader.$(sel("cancel-button")), null, "a reader sees the Cancel button");
  assert.equal(await reader.$(sel("fork-button")), null, "a reader sees the Fork button");
  await approvalRow(reader, waiting);
  assert.equal(await reader.$(sel("approve-button")), null, "a reader sees the Approve button");
  const forced = await reader.evaluate(async (id) => {
    const r = await fetch("/api/v1/RunService/CancelRun", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ runId: id }),
    });
    return { status: r.status, body: await r.json() };
  }, waiting);
  assert.equal(forced.status, 403, JSON.stringify(forced));
  assert.equal(forced.body.error.status, "PERMISSION_DENIED");
  await sleep(500);
  const after = await stack.api("RunService", "GetRun", { runId: waiting });
  assert.equal(after.state, "WAITING");
  assert.ok(!after.cancelRequested, "the reader's CancelRun was applied");

  step("an operator's Cancel ends the run");
  await admin.goto(`${stack.url}/runs/${waiting}`);
  await admin.waitForSelector(sel("cancel-button"), { timeout: WAIT });
  await admin.click(sel("cancel-button"));
  await admin.waitForSelector(sel("cancel-confirm"), { timeout: WAIT });
  await admin.click(sel("cancel-confirm"));
  await waitState(admin, "CANCELLED");

  step("sign out");
  await reader.click(sel("signout-button"));
  await reader.waitForSelector(sel("token-input"), { timeout: WAIT });
  await reader.reload();
  await reader.waitForSelector(sel("token-input"), { timeout: WAIT });
  await context.close();

  console.log("PASS");
});
