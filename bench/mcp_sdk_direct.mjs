// The baseline of bench/mcp_bridge.sh: the official TypeScript SDK client calling a
// tool of an MCP server over stdio directly, as an agent framework without Baton would.
//   node bench/mcp_sdk_direct.mjs --calls=2000 --concurrency=1 [--tool=echo] -- node server.js stdio
// Prints one JSON line: {"client":"sdk-direct","calls":N,"concurrency":C,"seconds":S,
//   "calls_per_s":R,"p50_ms":..,"p90_ms":..,"p99_ms":..}
const sdk = (path) =>
  import(new URL(`../tests/npm/node_modules/@modelcontextprotocol/sdk/dist/esm/${path}`, import.meta.url));
const { Client } = await sdk("client/index.js");
const { StdioClientTransport } = await sdk("client/stdio.js");

const dash = process.argv.indexOf("--");
const opts = Object.fromEntries(
  process.argv.slice(2, dash < 0 ? undefined : dash).map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=");
    return [k, v];
  }),
);
const server = dash < 0 ? [] : process.argv.slice(dash + 1);
const calls = Number(opts.calls ?? 2000);
const concurrency = Number(opts.concurrency ?? 1);
const warmup = Number(opts.warmup ?? 200);
const tool = opts.tool ?? "echo";

const client = new Client({ name: "baton-bench", version: "1.0.0" });
await client.connect(new StdioClientTransport({ command: server[0], args: server.slice(1), stderr: "ignore" }));

const call = (i) => client.callTool({ name: tool, arguments: { message: `bench ${i}` } });
for (let i = 0; i < warmup; i++) await call(i);

const latencies = [];
let next = 0;
const start = process.hrtime.bigint();
async function lane() {
  while (next < calls) {
    const i = next++;
    const t0 = process.hrtime.bigint();
    const r = await call(i);
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.isError) throw new Error(JSON.stringify(r));
  }
}
await Promise.all(Array.from({ length: concurrency }, lane));
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
latencies.sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
console.log(JSON.stringify({
  client: "sdk-direct", calls, concurrency, seconds: +seconds.toFixed(3),
  calls_per_s: +(calls / seconds).toFixed(1),
  p50_ms: +q(0.5).toFixed(3), p90_ms: +q(0.9).toFixed(3), p99_ms: +q(0.99).toFixed(3),
}));
await client.close();
