// A real local stack with the web console, for the browser test, the first-paint
// benchmark (bench/console/) and the README's screenshot: `baton up --detach` on a
// fresh data directory (orchestrator with --auth, workers, the model simulator and
// baton-console, whose URL stack.json records), and `baton down` however things end.
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const sourceDir = process.env.BATON_SOURCE_DIR || resolve(here, "../../..");
export const binDir = process.env.BATON_BIN_DIR || join(sourceDir, "build/bin");

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor(what, fn, { timeoutMs = 60000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${last.message})` : ""}`);
    await sleep(intervalMs);
  }
}

// Runs a command to its end; resolves with stdout, rejects with its stderr.
export function run(cmd, args, { env, timeoutMs = 120000 } = {}) {
  return new Promise((ok, fail) => {
    execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`${cmd} ${args.join(" ")}: ${err.message}\n${stderr}`));
      else ok(stdout);
    });
  });
}

export class Stack {
  constructor(dataDir) {
    this.dataDir = dataDir;
    this.env = { ...process.env };
    // The workers talk to the local simulator, never to a real API.
    delete this.env.ANTHROPIC_API_KEY;
    delete this.env.BATON_API_KEY;
    this.extra = [];  // processes this helper started itself
  }

  // `baton up --detach` on a new data directory under TMPDIR; the console's URL from
  // stack.json.
  static async start({ workers = 1, concurrency = 8, prefix = "baton-console-test-" } = {}) {
    const stack = new Stack(mkdtempSync(join(tmpdir(), prefix)));
    try {
      await stack.up(workers, concurrency);
    } catch (e) {
      await stack.down();
      throw e;
    }
    return stack;
  }

  async up(workers, concurrency) {
    await run(join(binDir, "baton"),
      ["up", "--detach", "--data-dir", this.dataDir, "--port", "0", "--workers", String(workers), "--concurrency", String(concurrency)],
      { env: this.env, timeoutMs: 180000 });
    const info = JSON.parse(readFileSync(join(this.dataDir, "stack.json"), "utf8"));
    this.addr = info.addr;
    this.keyFile = info.api_key_file || join(this.dataDir, "admin.key");
    this.adminKey = readFileSync(this.keyFile, "utf8").trim();
    this.env.BATON_ADDR = this.addr;
    const simPort = join(this.dataDir, "sim.port");
    if (existsSync(simPort)) this.simUrl = `http://127.0.0.1:${readFileSync(simPort, "utf8").trim()}`;
    this.url = info.console_url || info.console || "";
    if (!this.url) await this.startConsole();
    this.url = this.url.replace(/\/$/, "");
    await waitFor("the console to answer", async () => (await fetch(`${this.url}/api/session`)).status === 401, { timeoutMs: 60000 });
  }

  // A stack whose `baton up` does not start the console: start baton-console here.
  async startConsole() {
    const portFile = join(this.dataDir, "console-test.port");
    const bin = join(binDir, "baton-console");
    if (!existsSync(bin)) throw new Error(`${bin} not found: build the baton-console target`);
    const child = spawn(bin,
      [`--orchestrator=${this.addr}`, "--listen=127.0.0.1:0", `--port-file=${portFile}`],
      { env: this.env, stdio: ["ignore", "ignore", "inherit"] });
    this.extra.push(child);
    let failed = null;
    child.on("error", (e) => (failed = e));
    child.on("exit", (code, signal) => (failed ||= new Error(`baton-console exited (${signal || code})`)));
    const port = await waitFor("baton-console's port file", () => {
      if (failed) throw failed;
      return existsSync(portFile) && readFileSync(portFile, "utf8").trim();
    }, { timeoutMs: 30000 });
    this.url = `http://127.0.0.1:${port}`;
  }

  // `baton ...` as the admin, against this stack.
  cli(...args) {
    return run(join(binDir, "baton"), [...args, "--api-key-file", this.keyFile], { env: this.env });
  }

  async putAgent(spec) {
    const file = join(this.dataDir, `${spec.name}.agent.json`);
    writeFileSync(file, JSON.stringify(spec));
    await this.cli("agents", "put", file);
  }

  // A new key with these roles; its secret.
  async createKey(principal, role) {
    const out = await this.cli("keys", "create", "--principal", principal, "--role", role);
    const key = out.split(/\s+/).find((w) => w.startsWith("bk_"));
    if (!key) throw new Error(`no key in: ${out}`);
    return key;
  }

  // A call of the orchestrator's API through the console, as a non-browser client does.
  async api(service, method, body, key = this.adminKey) {
    const r = await fetch(`${this.url}/api/v1/${service}/${method}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    });
    const json = r.status === 204 ? null : await r.json();
    if (!r.ok) throw new Error(`${service}.${method}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  }

  // Stops everything; safe to call twice and after a failed start.
  async down() {
    for (const p of this.extra) if (p.exitCode === null) p.kill("SIGTERM");
    this.extra = [];
    if (existsSync(join(this.dataDir, "stack.json"))) {
      try {
        await run(join(binDir, "baton"), ["down", "--data-dir", this.dataDir], { env: this.env, timeoutMs: 120000 });
      } catch (e) {
        console.error(`baton down: ${e.message}`);
      }
    }
    if (!process.env.KEEP_STACK) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

// Debian's headless Chromium; --no-sandbox only where the sandbox cannot work (root).
export async function launchBrowser() {
  const { default: puppeteer } = await import("puppeteer-core");
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  if (!existsSync(executablePath)) throw new Error(`${executablePath} not found: run scripts/setup (apt-get install chromium)`);
  const args = ["--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check"];
  if (process.getuid?.() === 0) args.push("--no-sandbox");
  return puppeteer.launch({ executablePath, headless: true, args, protocolTimeout: 120000 });
}

// Exits the process after ms whatever happens, or on a signal or an error nothing
// caught, running cleanup first: a run that hangs or crashes still stops its stack.
function watchdog(ms, cleanup) {
  const timer = setTimeout(async () => {
    console.error(`FAIL: no end after ${ms / 1000} s`);
    try {
      await cleanup();
    } finally {
      process.exit(1);
    }
  }, ms);
  timer.unref();
  const stop = async (why) => {
    if (why) console.error(`FAIL: ${why.stack || why}`);
    try {
      await cleanup();
    } finally {
      process.exit(1);
    }
  };
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => stop(sig));
  process.on("uncaughtException", stop);
  process.on("unhandledRejection", stop);
}

// Runs main(stack, browser) on a new stack and browser and stops both however it ends
// (an error, a signal, or the watchdog after watchdogMs). An error sets the exit code.
export async function withStackAndBrowser({ watchdogMs, ...stackOptions }, main) {
  let stack;
  let browser;
  const cleanup = async () => {
    await browser?.close().catch(() => {});
    await stack?.down();
  };
  watchdog(watchdogMs, cleanup);
  try {
    stack = await Stack.start(stackOptions);
    console.log(`stack at ${stack.addr}, console at ${stack.url}`);
    browser = await launchBrowser();
    await main(stack, browser);
  } catch (e) {
    console.error(`FAIL: ${e.stack || e.message}`);
    process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

// Signs page in with key on the console's sign-in page.
export async function signIn(page, stack, key, { timeout = 90000 } = {}) {
  await page.goto(`${stack.url}/`);
  await page.waitForSelector('[data-testid="token-input"]', { timeout });
  await page.type('[data-testid="token-input"]', key);
  await page.click('[data-testid="signin-button"]');
  await page.waitForSelector('[data-testid="principal"]', { timeout });
}
