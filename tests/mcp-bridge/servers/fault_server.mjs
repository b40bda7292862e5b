// A small MCP server (stdio) on the official SDK that misbehaves on request, for the
// bridge's fault tests. Options:
//   --page-size=N    tools/list answers N tools per page (nextCursor)
//   --garbage        writes lines that are not JSON-RPC to stdout, at start and per call
//   --extra-tools=N  adds tools pad_0..pad_{N-1}
// Environment: START_LOG (a line per start), CANCEL_LOG (a line per cancelled call),
// META_LOG (the _meta of every call, one JSON line each).
import { appendFileSync } from "node:fs";

// The SDK comes from tests/npm (scripts/setup runs npm ci there); ES modules do not
// follow NODE_PATH, so it is imported by path.
const sdk = (path) => import(new URL(`../../npm/node_modules/@modelcontextprotocol/sdk/dist/esm/${path}`, import.meta.url));
const { Server } = await sdk("server/index.js");
const { StdioServerTransport } = await sdk("server/stdio.js");
const { CallToolRequestSchema, ListToolsRequestSchema, ListRootsResultSchema, EmptyResultSchema, ElicitResultSchema } =
  await sdk("types.js");

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=");
    return [k, v ?? "true"];
  }),
);
const pageSize = Number(args["page-size"] ?? 0);
const garbage = args.garbage === "true";
const log = (env, line) => {
  if (process.env[env]) appendFileSync(process.env[env], line + "\n");
};

log("START_LOG", String(process.pid));

const obj = (properties, required = []) => ({ type: "object", properties, required });
let tools = [
  { name: "echo", description: "Echoes text", inputSchema: obj({ text: { type: "string" } }, ["text"]),
    annotations: { readOnlyHint: true, idempotentHint: true } },
  { name: "crash", description: "Exits the process in the middle of the call", inputSchema: obj({}) },
  { name: "hang", description: "Never answers", inputSchema: obj({}) },
  { name: "delayed", description: "Answers after ms milliseconds",
    inputSchema: obj({ ms: { type: "integer" }, tag: { type: "string" } }, ["ms", "tag"]) },
  { name: "slow_progress", description: "Sends progress every interval_ms, steps times, then answers",
    inputSchema: obj({ steps: { type: "integer" }, interval_ms: { type: "integer" } }, ["steps", "interval_ms"]) },
  { name: "big", description: "Returns bytes characters of text", inputSchema: obj({ bytes: { type: "integer" } }, ["bytes"]) },
  { name: "fail", description: "Returns an isError result", inputSchema: obj({}) },
  { name: "ping_client", description: "Pings the client and reports", inputSchema: obj({}) },
  { name: "ask_roots", description: "Asks the client for roots and reports the error", inputSchema: obj({}) },
  { name: "add_tool", description: "Adds a tool and sends list_changed", inputSchema: obj({ name: { type: "string" } }, ["name"]) },
  { name: "noisy", description: "Writes garbage to stdout, then answers", inputSchema: obj({}) },
  { name: "rpc_error", description: "Answers with a JSON-RPC error", inputSchema: obj({}) },
  { name: "ask", description: "Asks the client which size (elicitation) and returns its answer as JSON",
    inputSchema: obj({}) },
];
for (let i = 0; i < Number(args["extra-tools"] ?? 0); i++) {
  tools.push({ name: `pad_${i}`, description: `padding tool ${i}`, inputSchema: obj({}) });
}

function writeGarbage() {
  process.stdout.write("this is not json\n");
  process.stdout.write("{\"unterminated\": \n");
  process.stdout.write("{\"hello\":\"world\"}\n");
  process.stdout.write("{\"jsonrpc\":\"2.0\",\"id\":987654,\"result\":{}}\n");
  process.stdout.write("[1,2,3]\n");
}

const server = new Server({ name: "baton-fault-server", version: "1.0.0" },
                          { capabilities: { tools: { listChanged: true } } });

server.setRequestHandler(ListToolsRequestSchema, async (request) => {
  if (!pageSize) return { tools };
  const start = Number(request.params?.cursor ?? 0);
  const page = tools.slice(start, start + pageSize);
  const next = start + pageSize < tools.length ? String(start + pageSize) : undefined;
  return next ? { tools: page, nextCursor: next } : { tools: page };
});

const text = (t) => ({ content: [{ type: "text", text: t }] });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
  const a = request.params.arguments ?? {};
  log("META_LOG", JSON.stringify(request.params._meta ?? {}));
  if (garbage) writeGarbage();
  switch (request.params.name) {
    case "echo":
      return text(`echo: ${a.text}`);
    case "crash":
      process.stderr.write("fault_server: crashing on purpose\n");
      setTimeout(() => process.exit(3), 50);
      return new Promise(() => {});
    case "hang":
      return new Promise((resolve) => {
        extra.signal.addEventListener("abort", () => {
          log("CANCEL_LOG", `cancelled ${extra.requestId} ${extra.signal.reason ?? ""}`);
          resolve(text("cancelled"));
        });
      });
    case "delayed":
      await sleep(a.ms);
      return text(`delayed ${a.tag}`);
    case "slow_progress": {
      const token = request.params._meta?.progressToken;
      for (let i = 1; i <= a.steps; i++) {
        await sleep(a.interval_ms);
        if (token !== undefined) {
          await extra.sendNotification({ method: "notifications/progress",
                                         params: { progressToken: token, progress: i, total: a.steps } });
        }
      }
      return text(`done after ${a.steps} steps`);
    }
    case "big":
      return text("x".repeat(a.bytes));
    case "fail":
      return { content: [{ type: "text", text: "it went wrong" }], isError: true };
    case "ping_client":
      await extra.sendRequest({ method: "ping" }, EmptyResultSchema);
      return text("pong ok");
    case "ask_roots":
      try {
        await extra.sendRequest({ method: "roots/list" }, ListRootsResultSchema);
        return text("roots answered");
      } catch (e) {
        return text(`roots refused: ${e.code}`);
      }
    case "ask": {
      const answer = await extra.sendRequest({
        method: "elicitation/create",
        params: {
          message: "Which size?",
          requestedSchema: obj({ size: { type: "string", enum: ["S", "M", "L"], default: "M" } }, ["size"]),
        },
      }, ElicitResultSchema, { timeout: 10 * 60 * 1000 });
      return text(JSON.stringify(answer));
    }
    case "add_tool":
      tools.push({ name: a.name, description: "added at run time", inputSchema: obj({}) });
      await server.sendToolListChanged();
      return text(`added ${a.name}`);
    case "noisy":
      writeGarbage();
      return text("noisy ok");
    case "rpc_error": {
      const e = new Error("refused on purpose");
      e.code = -32000;
      throw e;
    }
    default:
      if (tools.some((t) => t.name === request.params.name)) return text(`ran ${request.params.name}`);
      return { content: [{ type: "text", text: `unknown tool ${request.params.name}` }], isError: true };
  }
});

if (garbage) writeGarbage();
await server.connect(new StdioServerTransport());
